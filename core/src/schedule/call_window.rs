//! The calls a breaker judges: counts over a sliding window of time, kept in
//! a few buckets so that memory stays fixed whatever the traffic, and an old
//! burst is forgotten once it slides out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::health::Signal;

/// Buckets per window: the window slides in steps of a tenth of its span.
const BUCKETS: u32 = 10;

/// The counts of one step of the window.
#[derive(Debug)]
struct Bucket {
    start: Instant,
    healthy: u32,
    throttled: u32,
    /// Faults by reason (a handful of reasons, so a list).
    faults: Vec<(&'static str, u32)>,
}

/// What the window holds now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tally {
    /// Calls counted (verdicts are not).
    pub calls: u32,
    /// Of which handled.
    pub healthy: u32,
    /// Of which answered `retry-later`.
    pub throttled: u32,
    /// Of which faults.
    pub faults: u32,
    /// The most frequent fault reason, if any fault.
    pub top_fault: Option<&'static str>,
    /// How long the window has been counting: from its oldest step to now.
    pub span: Duration,
}

impl Tally {
    /// Share of calls that were faults.
    pub fn fault_rate(&self) -> f64 {
        ratio(self.faults, self.calls)
    }

    /// Share of calls that did not succeed (faults or `retry-later`).
    pub fn unsuccessful_rate(&self) -> f64 {
        ratio(self.faults + self.throttled, self.calls)
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

/// Counts of the calls in the last `span`.
#[derive(Debug)]
pub struct CallWindow {
    span: Duration,
    step: Duration,
    buckets: VecDeque<Bucket>,
}

impl CallWindow {
    /// An empty window over `span`.
    pub fn new(span: Duration) -> CallWindow {
        CallWindow {
            span,
            step: (span / BUCKETS).max(Duration::from_millis(1)),
            buckets: VecDeque::with_capacity(BUCKETS as usize + 1),
        }
    }

    /// Counts `signal` at `now`; a verdict, or the store's failure, is not
    /// a call the breaker judges.
    pub fn record(&mut self, now: Instant, signal: Signal) {
        if matches!(signal, Signal::Verdict | Signal::StoreFailed) {
            return;
        }
        self.expire(now);
        let fresh = self
            .buckets
            .back()
            .is_none_or(|last| now >= last.start + self.step);
        if fresh {
            self.buckets.push_back(Bucket {
                start: now,
                healthy: 0,
                throttled: 0,
                faults: Vec::new(),
            });
        }
        let Some(bucket) = self.buckets.back_mut() else {
            return;
        };
        match signal {
            Signal::Healthy => bucket.healthy += 1,
            Signal::Throttled => bucket.throttled += 1,
            Signal::Fault(reason) => match bucket.faults.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, count)) => *count += 1,
                None => bucket.faults.push((reason, 1)),
            },
            Signal::Verdict | Signal::StoreFailed => {}
        }
    }

    /// The counts of the calls within the window at `now`.
    pub fn tally(&mut self, now: Instant) -> Tally {
        self.expire(now);
        let mut tally = Tally {
            calls: 0,
            healthy: 0,
            throttled: 0,
            faults: 0,
            top_fault: None,
            span: self.buckets.front().map_or(Duration::ZERO, |first| {
                now.saturating_duration_since(first.start)
            }),
        };
        let mut by_reason: Vec<(&'static str, u32)> = Vec::new();
        for bucket in &self.buckets {
            tally.healthy += bucket.healthy;
            tally.throttled += bucket.throttled;
            for &(reason, count) in &bucket.faults {
                tally.faults += count;
                match by_reason.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, total)) => *total += count,
                    None => by_reason.push((reason, count)),
                }
            }
        }
        tally.calls = tally.healthy + tally.throttled + tally.faults;
        tally.top_fault = by_reason
            .iter()
            .max_by_key(|(_, count)| *count)
            .map(|(reason, _)| *reason);
        tally
    }

    /// Whether nothing is counted at `now`.
    pub fn is_empty(&mut self, now: Instant) -> bool {
        self.expire(now);
        self.buckets.is_empty()
    }

    /// Forgets every call.
    pub fn clear(&mut self) {
        self.buckets.clear();
    }

    fn expire(&mut self, now: Instant) {
        while let Some(first) = self.buckets.front() {
            if now.saturating_duration_since(first.start) < self.span {
                break;
            }
            self.buckets.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_by_kind_and_ignores_verdicts() {
        let now = Instant::now();
        let mut window = CallWindow::new(Duration::from_secs(10));
        for signal in [
            Signal::Healthy,
            Signal::Verdict,
            Signal::Throttled,
            Signal::Fault("trap"),
            Signal::Fault("deadline"),
            Signal::Fault("trap"),
        ] {
            window.record(now, signal);
        }
        let tally = window.tally(now);
        assert_eq!(
            (tally.calls, tally.healthy, tally.throttled, tally.faults),
            (5, 1, 1, 3)
        );
        assert_eq!(tally.top_fault, Some("trap"));
        assert!((tally.fault_rate() - 0.6).abs() < 1e-9);
        assert!((tally.unsuccessful_rate() - 0.8).abs() < 1e-9);
    }

    #[test]
    fn calls_older_than_the_span_slide_out() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut window = CallWindow::new(10 * second);
        window.record(start, Signal::Fault("trap"));
        window.record(start + 5 * second, Signal::Healthy);
        let tally = window.tally(start + 9 * second);
        assert_eq!((tally.calls, tally.span), (2, 9 * second));
        let later = window.tally(start + 11 * second);
        assert_eq!((later.calls, later.faults), (1, 0), "the fault slid out");
        assert!(window.is_empty(start + 16 * second));
        assert_eq!(window.tally(start + 16 * second).fault_rate(), 0.0);
    }

    #[test]
    fn memory_is_bounded_by_the_buckets() {
        let start = Instant::now();
        let mut window = CallWindow::new(Duration::from_secs(1));
        for n in 0..10_000u64 {
            window.record(start + Duration::from_micros(n * 500), Signal::Healthy);
        }
        assert!(window.buckets.len() <= BUCKETS as usize + 1);
    }
}
