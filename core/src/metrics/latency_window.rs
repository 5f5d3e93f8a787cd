//! The end-to-end latencies of the deliveries committed since the dashboard's
//! last sample, for its percentiles. The histogram in `/metrics` has buckets
//! too coarse for a p99, and prometheus-client does not expose them anyway.

use std::sync::Mutex;
use std::time::Duration;

/// Latencies kept between two samples; past this, a busy second's later
/// deliveries replace earlier ones in turn, which keeps the spread.
const CAPACITY: usize = 8192;

/// Latencies recorded since the last [`LatencyWindow::take`].
#[derive(Default)]
pub struct LatencyWindow(Mutex<Window>);

#[derive(Default)]
struct Window {
    millis: Vec<u32>,
    seen: usize,
}

/// The 50th, 95th and 99th percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Percentiles {
    /// The median.
    pub p50: u32,
    /// The 95th percentile.
    pub p95: u32,
    /// The 99th percentile.
    pub p99: u32,
}

impl LatencyWindow {
    /// Records one delivery's latency.
    pub fn record(&self, latency: Duration) {
        let millis = u32::try_from(latency.as_millis()).unwrap_or(u32::MAX);
        let mut window = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let slot = window.seen % CAPACITY;
        window.seen += 1;
        match window.millis.get_mut(slot) {
            Some(kept) => *kept = millis,
            None => window.millis.push(millis),
        }
    }

    /// The percentiles of what was recorded since the last call, and starts
    /// over; `None` if nothing was.
    pub fn take(&self) -> Option<Percentiles> {
        let mut millis = {
            let mut window = self.0.lock().unwrap_or_else(|p| p.into_inner());
            window.seen = 0;
            std::mem::take(&mut window.millis)
        };
        if millis.is_empty() {
            return None;
        }
        millis.sort_unstable();
        let at = |fraction: f64| millis[((millis.len() - 1) as f64 * fraction).round() as usize];
        Some(Percentiles {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_a_hundred() {
        let window = LatencyWindow::default();
        for ms in 1..=100 {
            window.record(Duration::from_millis(ms));
        }
        let got = window.take().expect("recorded");
        assert_eq!((got.p50, got.p95, got.p99), (51, 95, 99));
        assert_eq!(window.take(), None, "take starts over");
    }

    #[test]
    fn a_full_window_keeps_its_size() {
        let window = LatencyWindow::default();
        for _ in 0..CAPACITY * 2 {
            window.record(Duration::from_millis(7));
        }
        assert_eq!(
            window.0.lock().expect("not poisoned").millis.len(),
            CAPACITY
        );
        assert_eq!(window.take().map(|p| p.p99), Some(7));
    }
}
