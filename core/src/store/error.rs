//! What a store says when it cannot do what it was asked: one enum of what
//! went wrong, whichever store it is, so the layers above decide by meaning
//! (refuse the request, retry later, stop) and never by a store's own error
//! type.

use crate::event::Event;
use crate::runtime::StateReadError;

/// Why a store could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// An event has the identity of one stored before, with other content;
    /// nothing of its request was stored.
    #[error("{0}")]
    IdReused(String),
    /// The disk is full: nothing was written.
    #[error("the disk is full; nothing was written")]
    DiskFull,
    /// The store cannot take the request now (shutting down, a cluster out of
    /// reach or slow to answer); nothing was written, and the same request
    /// may succeed later.
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    /// A write failed: nothing of it was stored, and the store may be unfit
    /// for more (a failed fsync poisons it).
    #[error("the write failed; nothing was stored: {0}")]
    WriteFailed(String),
    /// The storage engine failed (I/O, or a database poisoned by a failed
    /// fsync).
    #[error("storage error: {0}")]
    Io(String),
    /// A stored record cannot be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A listing's cursor that this store did not hand out.
    #[error("cursor is not one this API handed out")]
    BadCursor,
    /// Nothing stored is what the request names.
    #[error("{0}")]
    NotFound(String),
    /// Several stored events have the identity the request gave; it must
    /// name one.
    #[error("{0}")]
    Ambiguous(String),
}

/// What [`StoreError::IdReused`] says when event `index` of a request has
/// the identity of an event stored before with other content.
pub fn id_reused(index: usize, event: &Event) -> String {
    format!(
        "event {index}: id {:?} from source {:?} was sent before with other content; \
         a source's event id names one event, so give a new event a new id",
        event.id, event.source
    )
}

impl From<StoreError> for StateReadError {
    /// A record that cannot be read back stays corrupt; anything else is
    /// the store not answering now.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Corrupt(message) => StateReadError::Corrupt(message),
            error => StateReadError::Unavailable(error.to_string()),
        }
    }
}
