//! Whether the plugins found at start-up have loaded: a node whose plugins
//! are still compiling ingests, but cannot process yet, so `/readyz` keeps
//! it out of a load balancer until they serve or are rejected, or until
//! `[reload] ready_wait_ms` has passed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::plugins::Plugins;

/// The plugins found at start-up, and how long readiness waits for them.
#[derive(Debug)]
pub struct StartupPlugins {
    names: Vec<String>,
    /// After this, `/readyz` stops waiting for them.
    give_up_at: Instant,
    wait: Duration,
    /// Set once every start-up plugin settled (or the wait ran out): a
    /// plugin reloaded later does not take the node out of service.
    settled: AtomicBool,
}

/// What keeps the node from being ready.
#[derive(Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Nothing: every start-up plugin serves or was rejected.
    No,
    /// These start-up plugins are still compiling.
    For(Vec<String>),
}

impl StartupPlugins {
    /// Waits for `names` for at most `wait` from now.
    pub fn new(names: Vec<String>, wait: Duration) -> StartupPlugins {
        StartupPlugins {
            names,
            give_up_at: Instant::now() + wait,
            wait,
            settled: AtomicBool::new(false),
        }
    }

    /// Whether `/readyz` must still wait: a start-up plugin with no version
    /// serving that is still being compiled.
    pub fn waiting(&self, plugins: &Plugins) -> Waiting {
        if self.settled.load(Ordering::Relaxed) {
            return Waiting::No;
        }
        let compiling = plugins.being_compiled();
        let loading: Vec<String> = self
            .names
            .iter()
            .filter(|name| compiling.contains_key(*name) && plugins.get(name).is_none())
            .cloned()
            .collect();
        if loading.is_empty() {
            self.settled.store(true, Ordering::Relaxed);
            return Waiting::No;
        }
        if Instant::now() >= self.give_up_at {
            self.settled.store(true, Ordering::Relaxed);
            tracing::warn!(
                plugins = %loading.join(", "),
                "plugins found at start-up are still compiling after [reload] ready_wait_ms \
                 ({:?}); /readyz answers ready, and their deliveries wait until they load",
                self.wait
            );
            return Waiting::No;
        }
        Waiting::For(loading)
    }

    /// The bound, for the answer's body.
    pub fn wait(&self) -> Duration {
        self.wait
    }
}
