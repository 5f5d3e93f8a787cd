//! The event log's own check. fjall recovers from a torn tail by itself, but
//! damage in the middle of its files would only show as events that are
//! silently not there. weir numbers events without gaps, so at start-up every
//! number from the retention horizon to the last event must be present.

use fjall::Keyspace;

use super::event_log::{self, Group};
use super::{Queue, QueueError, Seq, keys};

/// `meta` key of the horizon: the lowest sequence number retention has not removed.
pub(super) const HORIZON: &[u8] = b"horizon";

impl Queue {
    /// The lowest sequence number still kept (1 until retention removes events).
    pub fn horizon(&self) -> Result<Seq, QueueError> {
        read_horizon(&self.meta)
    }

    /// Checks that events run without a gap from the horizon to the last one;
    /// returns how many there are. A gap is [`QueueError::Damaged`].
    pub fn check_sequence(&self) -> Result<u64, QueueError> {
        let horizon = self.horizon()?;
        let mut expected = horizon;
        for guard in self.events.range(*event_log::span(horizon).start()..) {
            let (key, value) = guard.into_inner()?;
            for member in Group::read(&key, value)?.members() {
                let (found, _) = member?;
                // Below the horizon: an event kept for its pending deliveries.
                if found < horizon {
                    continue;
                }
                if found != expected {
                    return Err(QueueError::Damaged { expected, found });
                }
                expected += 1;
            }
        }
        Ok(expected - horizon)
    }
}

/// The horizon stored in `meta` (1 until retention removes events).
pub(super) fn read_horizon(meta: &Keyspace) -> Result<Seq, QueueError> {
    Ok(meta
        .get(HORIZON)?
        .as_deref()
        .and_then(keys::read_seq)
        .unwrap_or(1))
}
