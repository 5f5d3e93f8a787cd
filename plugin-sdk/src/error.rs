//! The error a handler returns to give up on an event.

use std::fmt;

/// Why a handler gave up on an event; it becomes [`Outcome::Fail`](crate::Outcome::Fail).
///
/// Any `std::error::Error` converts into it, so `?` works on serde, parse and
/// I/O errors alike. Like `anyhow::Error`, it does not implement
/// `std::error::Error` itself (that would make the blanket conversion overlap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The reason stored with the dead letter: say which field or value was wrong.
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message, as it will appear in the dead letter.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        Self::new(error.to_string())
    }
}

impl From<Error> for String {
    fn from(error: Error) -> Self {
        error.message
    }
}
