//! Admission control: ingest sheds load before it stores anything.
//!
//! - Above the backlog's high-water mark, or while the oldest ready delivery
//!   has waited too long for a slot, every request gets 503; it is decided
//!   before the body is read.
//! - A tenant over its backlog quota gets 429, and so does one over its rate
//!   (a token bucket); both need the body, which names the tenants.
//!
//! Each mark holds until its measure falls below the low-water mark
//! (hysteresis, so admission does not flap). Every refusal carries `Retry-After`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::backlog::Backlog;
use crate::config::{Config, IngestLimits, Watermarks};

/// How long a client shed for a backlog should wait: long enough for a
/// backlog of deliveries to shrink noticeably.
const BACKLOG_RETRY_AFTER_SECS: u64 = 5;

/// Why admission refused a request, and when its client should try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shed {
    /// weir as a whole is too far behind (the backlog, or how long the
    /// oldest ready delivery has waited): every request is refused.
    Overloaded {
        /// What is over which limit.
        message: String,
        /// When to try again.
        retry_after_secs: u64,
    },
    /// A tenant of the request has too many deliveries waiting.
    OverQuota {
        /// Which tenant, which quota.
        message: String,
        /// When to try again.
        retry_after_secs: u64,
    },
    /// A tenant of the request is over its ingest rate.
    RateLimited {
        /// Which tenant, which rate.
        message: String,
        /// When enough tokens will be back.
        retry_after_secs: u64,
    },
}

/// Admission state shared by all ingest requests.
#[derive(Default)]
pub struct AdmissionControl {
    /// True from crossing the backlog's high-water mark until below the low one.
    backlog_shedding: AtomicBool,
    /// The same for the oldest ready delivery's wait.
    age_shedding: AtomicBool,
    /// Tenants over their backlog quota, until below its low-water mark.
    tenants_shedding: Mutex<HashSet<String>>,
    /// One token bucket per rate-limited tenant that has sent events.
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// Updates `flag` from `marks` and `value`; true while shedding.
fn shedding(flag: &AtomicBool, marks: &Watermarks, value: u64) -> bool {
    let shed = marks.shed(flag.load(Ordering::Relaxed), value);
    flag.store(shed, Ordering::Relaxed);
    shed
}

impl AdmissionControl {
    /// Refuses with 503 while the backlog is too high or its oldest ready
    /// delivery has waited too long; needs nothing of the request.
    pub fn check_load(&self, limits: &IngestLimits, backlog: &Backlog) -> Result<(), Shed> {
        let waiting = backlog.total();
        if shedding(&self.backlog_shedding, &limits.backlog, waiting) {
            return Err(Shed::Overloaded {
                message: format!(
                    "weir is behind: {waiting} deliveries are waiting (the limit is {}); retry later",
                    limits.backlog.high
                ),
                retry_after_secs: BACKLOG_RETRY_AFTER_SECS,
            });
        }
        if let Some(marks) = &limits.oldest_ready_ms {
            let waited_ms = backlog.oldest_ready_ms();
            if shedding(&self.age_shedding, marks, waited_ms) {
                return Err(Shed::Overloaded {
                    message: format!(
                        "weir is behind: the oldest ready delivery has waited {waited_ms} ms for a \
                         plugin slot (the limit is {} ms); retry later",
                        marks.high
                    ),
                    retry_after_secs: BACKLOG_RETRY_AFTER_SECS,
                });
            }
        }
        Ok(())
    }

    /// Refuses with 429 if any tenant of the request is over its backlog quota.
    pub fn check_quotas(
        &self,
        config: &Config,
        backlog: &Backlog,
        events: &BTreeMap<&str, usize>,
    ) -> Result<(), Shed> {
        let mut over = self
            .tenants_shedding
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for tenant in events.keys() {
            let Some(marks) = config.tenant_limits(tenant).backlog else {
                continue;
            };
            let waiting = backlog.of(tenant);
            if marks.shed(over.contains(*tenant), waiting) {
                over.insert((*tenant).to_owned());
                return Err(Shed::OverQuota {
                    message: format!(
                        "tenant {tenant:?} has {waiting} deliveries waiting (its quota is {}); retry later",
                        marks.high
                    ),
                    retry_after_secs: BACKLOG_RETRY_AFTER_SECS,
                });
            }
            over.remove(*tenant);
        }
        Ok(())
    }

    /// Takes `events` tokens from each tenant's bucket: all of them, or, if
    /// any tenant is over its rate, none (the request is refused whole).
    pub fn take_tokens(&self, config: &Config, events: &BTreeMap<&str, usize>) -> Result<(), Shed> {
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
                return Err(Shed::RateLimited {
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
