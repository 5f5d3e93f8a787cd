//! Retries that wait in place. A delivery whose next attempt is due soon
//! stays leased to the node that ran it and runs again from memory, its
//! instance slot free for others meanwhile: the store writes one renewed
//! lease, with the next attempt counted, instead of a scheduled retry, its
//! promotion and a new lease. A waiting delivery holds its event in memory,
//! so a plugin's waiting deliveries are bounded in bytes; past the bound, or
//! for a longer wait, the store schedules the retry.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Ending;
use crate::event::Event;

/// The most event data one plugin's waiting deliveries hold.
const ROOM_BYTES: usize = 64 << 20;
/// What a waiting delivery holds besides its event data: its record, its
/// event's names, its task.
const OVERHEAD_BYTES: usize = 1024;

/// Room for one plugin's deliveries to wait in place.
pub struct Waiting {
    room: Arc<Semaphore>,
    max_wait: Duration,
}

/// A delivery's share of [`Waiting`], given back when it is dropped.
pub struct Room {
    _bytes: OwnedSemaphorePermit,
}

/// A delivery the store kept leased to this node, to run again after `wait`.
pub struct Again<L> {
    /// The delivery, its next attempt counted.
    pub leased: L,
    /// How long it waits.
    pub wait: Duration,
    /// Its share of the plugin's room, if it took one.
    pub room: Option<Room>,
}

impl Waiting {
    /// Room for waits up to `max_wait` (zero: none waits in place).
    pub fn new(max_wait: Duration) -> Waiting {
        Waiting::with_room(max_wait, ROOM_BYTES)
    }

    fn with_room(max_wait: Duration, bytes: usize) -> Waiting {
        Waiting {
            room: Arc::new(Semaphore::new(bytes)),
            max_wait,
        }
    }

    /// If `ending` is a retry short enough to wait in place and there is
    /// room for `event`, marks it so and takes the room.
    pub fn offer(&self, ending: &mut Ending, event: &Event) -> Option<Room> {
        let Ending::Retry {
            delay, in_place, ..
        } = ending
        else {
            return None;
        };
        if *delay > self.max_wait {
            return None;
        }
        let bytes = u32::try_from(event.data.len() + OVERHEAD_BYTES).ok()?;
        let permit = self.room.clone().try_acquire_many_owned(bytes).ok()?;
        *in_place = true;
        Some(Room { _bytes: permit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(delay_ms: u64) -> Ending {
        Ending::Retry {
            attempt: None,
            reason: "retry_later",
            delay: Duration::from_millis(delay_ms),
            in_place: false,
        }
    }

    fn event(data_bytes: usize) -> Event {
        let mut event = Event::new("e".into(), "s".into(), "t".into(), "acme".into());
        event.data = vec![b'x'; data_bytes];
        event
    }

    fn marked(ending: &Ending) -> bool {
        matches!(ending, Ending::Retry { in_place: true, .. })
    }

    #[test]
    fn a_short_retry_waits_in_place_while_there_is_room_and_a_long_one_never() {
        let waiting = Waiting::with_room(Duration::from_secs(2), 3 * OVERHEAD_BYTES);

        let mut short = retry(500);
        let first = waiting.offer(&mut short, &event(OVERHEAD_BYTES));
        assert!(first.is_some() && marked(&short));

        let mut long = retry(2_001);
        assert!(waiting.offer(&mut long, &event(0)).is_none());
        assert!(!marked(&long));

        // The first holds two thirds of the room: a second as large finds none.
        let mut second = retry(500);
        assert!(waiting.offer(&mut second, &event(OVERHEAD_BYTES)).is_none());
        assert!(!marked(&second));

        drop(first);
        assert!(waiting.offer(&mut second, &event(OVERHEAD_BYTES)).is_some());
    }

    #[test]
    fn no_retry_waits_in_place_when_the_longest_wait_is_zero() {
        let waiting = Waiting::new(Duration::ZERO);
        let mut ending = retry(1);
        assert!(waiting.offer(&mut ending, &event(0)).is_none());
        assert!(!marked(&ending));
    }

    #[test]
    fn an_ending_that_is_no_retry_is_left_alone() {
        let waiting = Waiting::new(Duration::from_secs(2));
        let mut dead = Ending::Dead {
            attempt: None,
            reason: "fail",
            message: "bad".into(),
        };
        assert!(waiting.offer(&mut dead, &event(0)).is_none());
    }
}
