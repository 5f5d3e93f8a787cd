//! What one plugin is loaded with: the limits it runs under (some kept by the
//! sandbox, some by the scheduler that feeds it), its config values and what
//! it may reach. A reload that changes them loads a new version.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::capabilities::Capabilities;

/// The limits one plugin runs under.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginLimits {
    /// Fuel per delivery (roughly, Wasm instructions).
    pub fuel: u64,
    /// Most linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Wall-clock deadline for one delivery, host calls included.
    pub deadline: Duration,
    /// Instance slots: the most deliveries of this plugin running at once.
    pub instances: u32,
    /// Attempts before a retrying delivery is dead-lettered.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each attempt.
    pub backoff_initial: Duration,
    /// Cap on the backoff.
    pub backoff_max: Duration,
    /// Traps or limit hits in a row after which a delivery is dead-lettered
    /// even with attempts left: the event itself is the likely cause.
    pub poison_after: u32,
    /// The circuit breakers (one per route and tenant): over the calls of
    /// the last `window`, at least `min_calls` of them, a share of faults at
    /// or above `failure_rate`, or of faults and `retry-later` at or above
    /// `retry_later_rate`, holds those deliveries back for `cooldown`; then
    /// `probes` fresh deliveries decide whether they run again.
    pub breaker: BreakerLimits,
}

/// When a circuit breaker opens, for how long, and how it closes.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerLimits {
    /// The span of time whose calls are judged.
    pub window: Duration,
    /// Fewest calls in the window before a rate is judged at all.
    pub min_calls: u32,
    /// Share of calls that were faults (traps, limit hits, failed outbound
    /// calls) that opens the breaker (0–1].
    pub failure_rate: f64,
    /// Share of calls that did not succeed (faults and `retry-later`) that
    /// opens the breaker (0–1] once sustained for half the window: "almost
    /// nothing succeeds".
    pub retry_later_rate: f64,
    /// How long it stays open before probing.
    pub cooldown: Duration,
    /// Fresh deliveries let through to probe; all must succeed to close it.
    pub probes: u32,
}

/// One plugin's settings: its limits, the values its `config` import reads,
/// and what it may reach beyond weir.
#[derive(Debug, Clone, Default)]
pub struct PluginSettings {
    /// Limits overriding the defaults, resolved.
    pub limits: Option<PluginLimits>,
    /// Config values for the plugin.
    pub values: BTreeMap<String, String>,
    /// Outbound access granted to it.
    pub capabilities: Capabilities,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            // About a second of pure compute on this class of machine: a loop dies fast.
            fuel: 1_000_000_000,
            // Room for interpreted guests (Python, JS) whose heaps start at tens of MiB.
            memory_bytes: 128 << 20,
            // Handlers are short event transforms; a slow one should not hold a slot long.
            deadline: Duration::from_secs(5),
            // Two cores: a few slots per plugin keep both busy without overcommitting.
            instances: 4,
            max_attempts: 5,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            // Three traps or limit hits in a row is the event, not a blip:
            // stop spending instances on it before max_attempts does.
            poison_after: 3,
            breaker: BreakerLimits {
                // A minute: long enough to see a rate at modest traffic,
                // short enough that an old burst is soon forgotten.
                window: Duration::from_secs(60),
                // Fewer calls are too few to call a rate: two traps of
                // three are a coincidence, not a broken plugin.
                min_calls: 20,
                // Half of the calls trapping: the plugin or its downstream
                // is broken, not flaky.
                failure_rate: 0.5,
                // A throttled downstream that lets one call in ten through
                // still gets work, slowed by the adaptive limit and the
                // retry hints; only below that is weir stopping it worth it.
                retry_later_rate: 0.9,
                // Long enough for a restarted downstream to come back.
                cooldown: Duration::from_secs(30),
                // A few fresh deliveries: one lucky call does not close it.
                probes: 3,
            },
        }
    }
}
