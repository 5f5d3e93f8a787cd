//! Why a request holds no valid events.

/// A request body or its headers that do not make valid events. The message
/// names the problem (and, in a batch, the event).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON.
    #[error("{0}")]
    InvalidJson(String),
    /// The JSON or the headers are not a valid event (or batch of events).
    #[error("{0}")]
    InvalidEvent(String),
    /// The batch holds more events than one request may.
    #[error("{0}")]
    TooManyEvents(String),
}
