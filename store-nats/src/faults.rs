//! Poison events on NATS: JetStream keeps no attempt history, so the
//! attempts of a delivery that ended with a fault (a trap, a limit hit) in
//! a row are kept under its faults key, written only when one fails so.
//! A redelivery reads them back (`earlier_attempts`), and the engine sets
//! the delivery aside once `poison_after` of them are in a row, as on fjall.

use super::names::DeliveryId;
use super::{Nats, NatsError};
use weir_core::schedule::is_fault;
use weir_core::store::Attempt;

/// What a failed step was doing.
const FAULTS: &str = "keep a delivery's faults";

impl Nats {
    /// The attempts of delivery `id` that ended with a fault, in a row up to
    /// its last one, oldest first (none if its last attempt did not).
    pub async fn faults(&self, id: &DeliveryId<'_>) -> Result<Vec<Attempt>, NatsError> {
        let stored = self.records.get(id.faults_key()).await;
        match stored.map_err(|e| NatsError::request(FAULTS, e))? {
            Some(value) => {
                serde_json::from_slice(&value).map_err(|e| NatsError::request(FAULTS, e))
            }
            None => Ok(Vec::new()),
        }
    }

    /// Keeps `attempt`, the latest of delivery `id`, after `earlier` (its
    /// row of faults so far); the row it makes: a fault extends it,
    /// anything else ends it (and forgets it).
    pub async fn attempt_ended(
        &self,
        id: &DeliveryId<'_>,
        earlier: &[Attempt],
        attempt: &Attempt,
    ) -> Result<Vec<Attempt>, NatsError> {
        if !is_fault(&attempt.outcome) {
            if !earlier.is_empty() {
                self.forget_faults(id).await?;
            }
            return Ok(Vec::new());
        }
        let row: Vec<Attempt> = earlier.iter().chain([attempt]).cloned().collect();
        let value = serde_json::to_vec(&row).map_err(|e| NatsError::request(FAULTS, e))?;
        self.records
            .put(id.faults_key(), value.into())
            .await
            .map_err(|e| NatsError::request(FAULTS, e))?;
        Ok(row)
    }

    /// Forgets delivery `id`'s faults: it is done, dead (a revived letter
    /// starts afresh), or its row of faults ended.
    pub async fn forget_faults(&self, id: &DeliveryId<'_>) -> Result<(), NatsError> {
        self.records
            .purge(id.faults_key())
            .await
            .map_err(|e| NatsError::request(FAULTS, e))
    }
}
