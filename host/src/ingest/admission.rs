//! Admission control: ingest sheds load before it stores anything. Above the
//! backlog's high-water mark every request gets 503 until the backlog falls
//! below the low-water mark (hysteresis, so admission does not flap); a tenant
//! over its rate gets 429. Both answers carry `Retry-After`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::api::ApiError;
use crate::config::{Config, IngestLimits};

/// How long a client shed for the backlog should wait: long enough for a
/// backlog of deliveries to shrink noticeably.
const BACKLOG_RETRY_AFTER_SECS: u64 = 5;

/// Admission state shared by all ingest requests.
#[derive(Default)]
pub struct Admission {
    /// True from crossing the high-water mark until falling below the low one.
    shedding: AtomicBool,
    /// One token bucket per rate-limited tenant that has sent events.
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Admission {
    /// Refuses with 503 while the backlog (pending deliveries) is too high.
    pub fn check_backlog(&self, backlog: i64, limits: &IngestLimits) -> Result<(), ApiError> {
        let backlog = backlog.max(0) as u64;
        let shedding = if self.shedding.load(Ordering::Relaxed) {
            backlog > limits.backlog_low_water
        } else {
            backlog >= limits.backlog_high_water
        };
        self.shedding.store(shedding, Ordering::Relaxed);
        if shedding {
            return Err(ApiError::Overloaded {
                message: format!(
                    "weir is behind: {backlog} deliveries are waiting (the limit is {}); retry later",
                    limits.backlog_high_water
                ),
                retry_after_secs: BACKLOG_RETRY_AFTER_SECS,
            });
        }
        Ok(())
    }

    /// Takes `events` tokens from each tenant's bucket: all of them, or, if
    /// any tenant is over its rate, none (the request is refused whole).
    pub fn take_tokens(
        &self,
        config: &Config,
        events: &BTreeMap<&str, usize>,
    ) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for (tenant, &count) in events {
            let limits = config.tenant_limits(tenant);
            let Some(rate) = limits.rate_per_sec else {
                continue;
            };
            let bucket = buckets.entry((*tenant).to_owned()).or_insert(Bucket {
                tokens: limits.burst,
                refilled: now,
            });
            let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rate).min(limits.burst);
            bucket.refilled = now;
            let missing = count as f64 - bucket.tokens;
            if missing > 0.0 {
                return Err(ApiError::RateLimited {
                    message: format!(
                        "tenant {tenant:?} is over its rate of {rate} events/s (burst {})",
                        limits.burst
                    ),
                    retry_after_secs: (missing / rate).ceil().max(1.0) as u64,
                });
            }
        }
        for (tenant, &count) in events {
            if let Some(bucket) = buckets.get_mut(*tenant) {
                bucket.tokens -= count as f64;
            }
        }
        Ok(())
    }
}
