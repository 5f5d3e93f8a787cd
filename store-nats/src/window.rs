//! A node's window of one plugin's pulled deliveries: the pull loops fill
//! it, by lane, and the lease loop (`weir_core::deliver::serve_plugin`)
//! takes from it by the lanes' turns, so priorities, tenants' turns and
//! their `max_in_flight` apply to what this node has pulled. It holds at
//! most [`PER_SLOT`] deliveries per instance slot (a pull loop may pull a
//! few past that: each asks for what is free when it asks); while they
//! wait, their ack wait is extended (`worker.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use weir_core::store::Lane;

/// Deliveries a node keeps pulled per instance slot of the plugin: enough
/// that a free slot finds one waiting, and that the lanes have a choice.
pub const PER_SLOT: usize = 2;

/// The waiting deliveries of one plugin on this node.
pub struct Window<T> {
    lanes: Mutex<HashMap<Lane, VecDeque<T>>>,
    capacity: usize,
    /// Woken when a delivery leaves the window.
    taken: Notify,
}

impl<T> Window<T> {
    /// An empty window for a plugin with `instances` slots.
    pub fn new(instances: u32) -> Window<T> {
        Window {
            lanes: Mutex::default(),
            capacity: instances as usize * PER_SLOT,
            taken: Notify::new(),
        }
    }

    fn lanes(&self) -> MutexGuard<'_, HashMap<Lane, VecDeque<T>>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `delivery` behind the others of `lane`.
    pub fn push(&self, lane: Lane, delivery: T) {
        self.lanes().entry(lane).or_default().push_back(delivery);
    }

    /// The first delivery waiting in `lane`, taken out.
    pub fn take(&self, lane: &Lane) -> Option<T> {
        let mut lanes = self.lanes();
        let waiting = lanes.get_mut(lane)?;
        let taken = waiting.pop_front();
        if waiting.is_empty() {
            lanes.remove(lane);
        }
        drop(lanes);
        self.taken.notify_waiters();
        taken
    }

    /// How many more deliveries the window has room for, waiting until it
    /// has room for one; `None` once `stop` is cancelled.
    pub async fn room(&self, stop: &CancellationToken) -> Option<usize> {
        loop {
            let taken = self.taken.notified();
            tokio::pin!(taken);
            // Registered before the count is read: a take in between still wakes it.
            taken.as_mut().enable();
            let waiting: usize = self.lanes().values().map(VecDeque::len).sum();
            if waiting < self.capacity {
                return Some(self.capacity - waiting);
            }
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = taken => {}
            }
        }
    }

    /// What `look` makes of each waiting delivery.
    pub fn each<R>(&self, look: impl Fn(&T) -> R) -> Vec<R> {
        self.lanes().values().flatten().map(look).collect()
    }

    /// Every waiting delivery, taken out.
    pub fn drain(&self) -> Vec<T> {
        let drained = self
            .lanes()
            .drain()
            .flat_map(|(_, waiting)| waiting)
            .collect();
        self.taken.notify_waiters();
        drained
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use weir_event::Priority;

    fn lane(tenant: &str) -> Lane {
        Lane {
            priority: Priority::Normal,
            tenant: tenant.to_owned(),
        }
    }

    #[test]
    fn a_lane_hands_out_its_deliveries_in_the_order_pulled_and_others_wait() {
        let window = Window::new(4);
        for (tenant, delivery) in [("a", 1), ("b", 2), ("a", 3)] {
            window.push(lane(tenant), delivery);
        }
        assert_eq!(window.take(&lane("a")), Some(1));
        assert_eq!(window.take(&lane("a")), Some(3));
        assert_eq!(window.take(&lane("a")), None);
        assert_eq!(window.each(|delivery| *delivery), vec![2]);
        assert_eq!(window.drain(), vec![2]);
        assert_eq!(window.take(&lane("b")), None);
    }

    #[tokio::test]
    async fn room_is_two_per_slot_and_a_full_window_waits_for_a_take() {
        let window = std::sync::Arc::new(Window::new(1));
        let stop = CancellationToken::new();
        assert_eq!(window.room(&stop).await, Some(PER_SLOT));
        window.push(lane("a"), 1);
        window.push(lane("a"), 2);
        let full = tokio::time::timeout(Duration::from_millis(50), window.room(&stop));
        assert!(full.await.is_err(), "a full window has no room");
        let waiting = tokio::spawn({
            let (window, stop) = (window.clone(), stop.clone());
            async move { window.room(&stop).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(window.take(&lane("a")), Some(1));
        let room = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(room.ok().and_then(Result::ok), Some(Some(1)));
        stop.cancel();
        window.push(lane("a"), 3);
        assert_eq!(window.room(&stop).await, None, "stopped while full");
    }
}
