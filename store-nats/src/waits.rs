//! How long the oldest ready delivery of each plugin has waited, on NATS:
//! measured on each node from the deliveries it has pulled and not started
//! (its plugins' windows). Each feed hands out its oldest delivery first,
//! so a window holds the longest waiting of its feeds. A first hand-out has
//! been ready since it was published; one handed out again (a retry, a
//! breaker's deferral, one handed back) counts from when this node pulled
//! it, as it was not ready while it waited for its delay, and so does a
//! keyed one, which was not while it waited for its partition's turn (as on
//! fjall, where it is ready once its key passes to it). The publish time is
//! the stream leader's clock: a node whose clock runs ahead of it sees
//! first hand-outs as older than they are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::pulled::Pulled;
use super::window::Window;

/// The windows of the plugins this node pulls for.
#[derive(Default)]
pub(super) struct Windows(Mutex<HashMap<Arc<str>, Arc<Window<Pulled>>>>);

impl Windows {
    fn windows(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<Window<Pulled>>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts `window` as `plugin`'s from now on.
    pub(super) fn open(&self, plugin: Arc<str>, window: Arc<Window<Pulled>>) {
        self.windows().insert(plugin, window);
    }

    /// Stops counting `window` for `plugin`, unless another took its place.
    pub(super) fn close(&self, plugin: &str, window: &Arc<Window<Pulled>>) {
        let mut windows = self.windows();
        if windows
            .get(plugin)
            .is_some_and(|open| Arc::ptr_eq(open, window))
        {
            windows.remove(plugin);
        }
    }

    /// How long (ms) the oldest delivery in `plugin`'s window has been
    /// ready at `now_ms`: 0 with none waiting.
    pub(super) fn waited_ms(&self, plugin: &str, now_ms: u64) -> u64 {
        let window = self.windows().get(plugin).cloned();
        (window.and_then(|window| window.oldest_ready_since()))
            .map_or(0, |since| now_ms.saturating_sub(since))
    }
}
