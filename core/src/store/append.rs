//! One ingest request as ingest hands it to a store in a round
//! ([`Backend::append`](super::Backend::append)), and what the store answers it.

use super::{Admission, RequestKey, StoreError};
use crate::event::Event;

/// One ingest request: the events ingest admitted, and its idempotency key.
#[derive(Debug)]
pub struct Append {
    /// Its events, in the order sent; the store sets their
    /// `ingested_at_ms` as it stores them.
    pub events: Vec<Event>,
    /// Its idempotency key, if it sent one: the store records its answer.
    pub request_key: Option<RequestKey>,
}

/// What a store answers one request of a round: each event's admission, in
/// the order sent, or why nothing of the request was stored.
pub type Appended = Result<Vec<Admission>, StoreError>;
