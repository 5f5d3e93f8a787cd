//! A node's window of one plugin's pulled deliveries: the pull loops fill
//! it, by lane, and the lease loop (`weir_core::deliver::serve_plugin`)
//! takes from it by the lanes' turns, so priorities and tenants' turns
//! apply to what this node has pulled. Each unkeyed feed (a priority's
//! shard of tenants) has room for [`PER_SLOT`] deliveries per instance slot
//! of its own, so a backlog of one priority or shard never keeps another's
//! deliveries from being pulled; the key partitions share one more such
//! room, so a busy node does not hold every partition while an idle one
//! could run them. While deliveries wait, their ack wait is extended
//! (`worker.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::names::Feed;
use weir_core::store::Lane;

/// Deliveries a node keeps pulled per instance slot of the plugin, for each
/// room: enough that a free slot finds one waiting, and that the lanes have
/// a choice.
pub const PER_SLOT: usize = 2;

/// A delivery in the window, and the room it takes: its unkeyed feed's, or
/// the key partitions' (`None`).
struct Waiting<T> {
    delivery: T,
    room_of: Option<Feed>,
    /// Since when it has been ready (ms since the Unix epoch).
    ready_since_ms: u64,
}

/// The waiting deliveries of one plugin on this node.
pub struct Window<T> {
    lanes: Mutex<HashMap<Lane, VecDeque<Waiting<T>>>>,
    /// The size of each room: every unkeyed feed, and the key partitions
    /// together.
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

    fn lanes(&self) -> MutexGuard<'_, HashMap<Lane, VecDeque<Waiting<T>>>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `delivery`, ready since `ready_since_ms`, behind the others of
    /// `lane`; it takes the room `room_of` names, that of the feed it came
    /// from ([`Feed::room`]).
    pub fn push(&self, lane: Lane, room_of: Option<Feed>, ready_since_ms: u64, delivery: T) {
        let waiting = Waiting {
            delivery,
            room_of,
            ready_since_ms,
        };
        self.lanes().entry(lane).or_default().push_back(waiting);
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
        taken.map(|waiting| waiting.delivery)
    }

    /// How many more deliveries the room `of` has room for (an unkeyed
    /// feed's, or the key partitions' for `None`), waiting until it has
    /// room for one; `None` once `stop` is cancelled.
    pub async fn room(&self, of: Option<Feed>, stop: &CancellationToken) -> Option<usize> {
        loop {
            let taken = self.taken.notified();
            tokio::pin!(taken);
            // Registered before the count is read: a take in between still wakes it.
            taken.as_mut().enable();
            let waiting = (self.lanes().values().flatten())
                .filter(|waiting| waiting.room_of == of)
                .count();
            if waiting < self.capacity {
                return Some(self.capacity - waiting);
            }
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = taken => {}
            }
        }
    }

    /// Since when the delivery that has waited longest has been ready.
    pub fn oldest_ready_since(&self) -> Option<u64> {
        (self.lanes().values().flatten())
            .map(|waiting| waiting.ready_since_ms)
            .min()
    }

    /// What `look` makes of each waiting delivery.
    pub fn each<R>(&self, look: impl Fn(&T) -> R) -> Vec<R> {
        (self.lanes().values().flatten())
            .map(|waiting| look(&waiting.delivery))
            .collect()
    }

    /// Every waiting delivery, taken out.
    pub fn drain(&self) -> Vec<T> {
        let drained = self
            .lanes()
            .drain()
            .flat_map(|(_, waiting)| waiting)
            .map(|waiting| waiting.delivery)
            .collect();
        self.taken.notify_waiters();
        drained
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use weir_event::Priority;

    use super::*;

    fn lane(tenant: &str) -> Lane {
        at(Priority::Normal, tenant)
    }

    fn at(priority: Priority, tenant: &str) -> Lane {
        Lane {
            priority,
            tenant: tenant.to_owned(),
        }
    }

    #[test]
    fn a_lane_hands_out_its_deliveries_in_the_order_pulled_and_others_wait() {
        let window = Window::new(4);
        for (tenant, delivery) in [("a", 1), ("b", 2), ("a", 3)] {
            let normal = Some(Feed::Unkeyed(Priority::Normal, 0));
            window.push(lane(tenant), normal, 100 + delivery, delivery);
        }
        assert_eq!(window.oldest_ready_since(), Some(101));
        assert_eq!(window.take(&lane("a")), Some(1));
        assert_eq!(window.oldest_ready_since(), Some(102), "b's, now");
        assert_eq!(window.take(&lane("a")), Some(3));
        assert_eq!(window.take(&lane("a")), None);
        assert_eq!(window.each(|delivery| *delivery), vec![2]);
        assert_eq!(window.drain(), vec![2]);
        assert_eq!(window.take(&lane("b")), None);
        assert_eq!(window.oldest_ready_since(), None);
    }

    #[tokio::test]
    async fn room_is_two_per_slot_for_each_feed_and_a_full_one_waits_for_a_take() {
        let window = std::sync::Arc::new(Window::new(1));
        let stop = CancellationToken::new();
        let normal = Some(Feed::Unkeyed(Priority::Normal, 0));
        assert_eq!(window.room(normal, &stop).await, Some(PER_SLOT));
        window.push(lane("a"), normal, 0, 1);
        window.push(at(Priority::Low, "a"), normal, 0, 2);
        let full = tokio::time::timeout(Duration::from_millis(50), window.room(normal, &stop));
        assert!(full.await.is_err(), "a full feed has no room");
        // Another priority's feed, another shard of tenants, and the key
        // partitions, are not held up.
        let critical = Some(Feed::Unkeyed(Priority::Critical, 0));
        assert_eq!(window.room(critical, &stop).await, Some(PER_SLOT));
        let shard = Some(Feed::Unkeyed(Priority::Normal, 1));
        assert_eq!(window.room(shard, &stop).await, Some(PER_SLOT));
        window.push(at(Priority::Critical, "a"), None, 0, 3);
        assert_eq!(window.room(critical, &stop).await, Some(PER_SLOT));
        assert_eq!(window.room(None, &stop).await, Some(PER_SLOT - 1));
        let waiting = tokio::spawn({
            let (window, stop) = (window.clone(), stop.clone());
            async move { window.room(normal, &stop).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(window.take(&lane("a")), Some(1));
        let room = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(room.ok().and_then(Result::ok), Some(Some(1)));
        stop.cancel();
        window.push(lane("a"), normal, 0, 4);
        assert_eq!(window.room(normal, &stop).await, None, "stopped while full");
    }
}
