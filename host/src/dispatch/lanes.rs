//! A lane per plugin: a cursor into the plugin's `ready` range and a wake-up.
//!
//! The cursor only moves forward as deliveries are leased, so dequeue never
//! rescans the tombstones leases leave behind. A writer that adds a ready
//! delivery behind the cursor (a retry coming due, a batch that committed late)
//! rewinds it, which is why advancing and rewinding share one lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Notify;

use crate::queue::{Leased, QueueError, Seq};

/// One plugin's lane.
#[derive(Default)]
pub struct Lane {
    cursor: Mutex<Seq>,
    wake: Notify,
}

impl Lane {
    /// Leases with `lease(cursor)` and moves the cursor past what it returned.
    pub fn lease_with(
        &self,
        lease: impl FnOnce(Seq) -> Result<Option<Leased>, QueueError>,
    ) -> Result<Option<Leased>, QueueError> {
        let mut cursor = self
            .cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let leased = lease(*cursor)?;
        if let Some(leased) = &leased {
            *cursor = leased.seq + 1;
        }
        Ok(leased)
    }

    /// Where the next lease starts looking: no ready delivery is before it.
    pub fn cursor(&self) -> Seq {
        *self
            .cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until something may be ready.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    fn rewind(&self, seq: Seq) {
        let mut cursor = self
            .cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *cursor = (*cursor).min(seq);
        drop(cursor);
        // notify_one stores a permit, so a worker that is about to wait still wakes.
        self.wake.notify_one();
    }
}

/// Every plugin's lane, created on first use.
#[derive(Default)]
pub struct Lanes {
    lanes: RwLock<HashMap<String, Arc<Lane>>>,
}

impl Lanes {
    /// The lane of `plugin`.
    pub fn lane(&self, plugin: &str) -> Arc<Lane> {
        if let Some(lane) = self
            .lanes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(plugin)
        {
            return lane.clone();
        }
        let mut lanes = self.lanes.write().unwrap_or_else(|p| p.into_inner());
        lanes.entry(plugin.to_owned()).or_default().clone()
    }

    /// Tells `plugin`'s lane that delivery `seq` is ready.
    pub fn wake(&self, plugin: &str, seq: Seq) {
        self.lane(plugin).rewind(seq);
    }
}
