//! What JetStream does not keep of a delivery, kept under its key in the
//! records bucket, written only when something goes wrong:
//!
//! - the attempts that ended with a fault (a trap, a limit hit), in a row up
//!   to the last, so that the engine sets a poison event aside after
//!   `poison_after` of them, as on fjall;
//! - how often a circuit breaker deferred it: JetStream counts that
//!   hand-out as a delivery, and weir does not count it as an attempt.
//!
//! A redelivery reads them back; they are purged once the delivery is done
//! or dead (a revived letter starts afresh), and expire with the event.

use async_nats::HeaderMap;
use serde::{Deserialize, Serialize};

use super::names::DeliveryId;
use super::{Nats, NatsError};
use weir_core::schedule::is_fault;
use weir_core::store::Attempt;

/// What a failed step was doing.
const KEEP: &str = "keep a delivery's faults and deferrals";

/// What is kept of one delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    /// The attempts that ended with a fault, in a row up to its last,
    /// oldest first.
    pub faults: Vec<Attempt>,
    /// Hand-outs a circuit breaker deferred: not attempts.
    pub deferred: u32,
}

impl Kept {
    /// Whether nothing went wrong: there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty() && self.deferred == 0
    }

    /// What is kept once `attempt` ended: a fault extends the row of
    /// faults, anything else ends it.
    pub fn after(&self, attempt: &Attempt) -> Kept {
        let faults = if is_fault(&attempt.outcome) {
            self.faults.iter().chain([attempt]).cloned().collect()
        } else {
            Vec::new()
        };
        Kept {
            faults,
            deferred: self.deferred,
        }
    }

    /// What is kept once a breaker deferred the delivery once more.
    pub fn deferred_once_more(&self) -> Kept {
        Kept {
            faults: self.faults.clone(),
            deferred: self.deferred + 1,
        }
    }
}

impl Nats {
    /// What is kept of delivery `id` (nothing if nothing went wrong).
    pub async fn kept(&self, id: &DeliveryId<'_>) -> Result<Kept, NatsError> {
        let stored = self.records.get(id.faults_key()).await;
        match stored.map_err(|e| NatsError::request(KEEP, e))? {
            Some(value) => serde_json::from_slice(&value).map_err(|e| NatsError::request(KEEP, e)),
            None => Ok(Kept::default()),
        }
    }

    /// Keeps `kept` for delivery `id`, which had `before`: nothing is
    /// written while both are empty.
    pub async fn keep(
        &self,
        id: &DeliveryId<'_>,
        before: &Kept,
        kept: &Kept,
    ) -> Result<(), NatsError> {
        if kept.is_empty() {
            return if before.is_empty() {
                Ok(())
            } else {
                self.forget_kept(id).await
            };
        }
        let value = serde_json::to_vec(kept).map_err(|e| NatsError::request(KEEP, e))?;
        // Expires with its event, as a commit record does, so the bucket
        // does not grow with deliveries that never finish; one still pending
        // then counts its faults afresh.
        let mut headers = HeaderMap::new();
        headers.insert("Nats-TTL", self.record_ttl_header().as_str());
        let subject = self.record_subject(&id.faults_key());
        self.jetstream
            .publish_with_headers(subject, headers, value.into())
            .await
            .map_err(|e| NatsError::request(KEEP, e))?
            .await
            .map_err(|e| NatsError::request(KEEP, e))?;
        Ok(())
    }

    /// Forgets what is kept of delivery `id`: it is done or dead.
    pub async fn forget_kept(&self, id: &DeliveryId<'_>) -> Result<(), NatsError> {
        self.records
            .purge(id.faults_key())
            .await
            .map_err(|e| NatsError::request(KEEP, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(outcome: &str) -> Attempt {
        Attempt {
            outcome: outcome.to_owned(),
            ..Attempt::default()
        }
    }

    #[test]
    fn faults_in_a_row_are_kept_and_anything_else_ends_the_row_but_not_the_deferrals() {
        let kept = Kept::default()
            .after(&attempt("trap"))
            .deferred_once_more()
            .after(&attempt("out_of_fuel"));
        assert_eq!(kept.faults.len(), 2);
        assert_eq!(kept.deferred, 1);
        let ended = kept.after(&attempt("retry_later"));
        assert_eq!(
            ended,
            Kept {
                faults: Vec::new(),
                deferred: 1
            }
        );
        let unavailable = kept.after(&attempt("state_unavailable"));
        assert!(
            unavailable.faults.is_empty(),
            "the store's failure is not the plugin's"
        );
    }
}
