//! Replay from the log: running a plugin again over events it already handled.

use super::{DeliveryRecord, DeliveryState, QueueError, Seq, Staging};
use weir_event::Event;

/// What [`Staging::rerun`] did with one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerun {
    /// The delivery is ready again, in a new idempotency generation.
    Queued,
    /// The delivery is still pending; it runs anyway, so it is left alone.
    Pending,
}

impl Staging<'_> {
    /// Makes (`seq`, `plugin`) ready again in a new generation, so its effects
    /// apply once more; its history is kept. A delivery that never existed is
    /// created. Ordering keys are not waited on: a replay re-runs the past.
    pub fn rerun(&mut self, seq: Seq, event: &Event, plugin: &str) -> Result<Rerun, QueueError> {
        let existing = self.queue().delivery(seq, plugin)?;
        let record = match existing {
            Some(record)
                if matches!(
                    record.state,
                    DeliveryState::Ready
                        | DeliveryState::Leased
                        | DeliveryState::Scheduled
                        | DeliveryState::Waiting
                        | DeliveryState::Held
                ) =>
            {
                return Ok(Rerun::Pending);
            }
            Some(record) => {
                if record.state == DeliveryState::Dead {
                    self.remove_dead(seq, plugin);
                }
                DeliveryRecord {
                    generation: record.generation + 1,
                    attempts: 0,
                    result: None,
                    error: None,
                    ..record
                }
            }
            None => DeliveryRecord::ready(plugin),
        };
        self.make_pending(seq, record, event);
        Ok(Rerun::Queued)
    }
}
