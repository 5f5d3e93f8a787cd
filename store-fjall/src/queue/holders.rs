//! Who holds each lease: a token per lease, in memory, checked by every
//! ending before it writes anything.
//!
//! A token is never handed out twice, unlike an attempt number, which a
//! revive resets: an attempt that outlived its lease cannot commit on the
//! lease of a later one that happens to carry its number.
//!
//! The map mirrors the `leased` keyspace of this process's leases, so the
//! check needs no read of the store (a lookup in a memtable full of the
//! tombstones of earlier leases was a twentieth of the work of a retry).
//! It starts empty: at start-up `Queue::recover_leases` hands every lease a
//! stopped process left back to ready before anything is leased, so none
//! of those has a holder to check. It changes only after the write it
//! mirrors committed: leases once their round is written, endings once
//! their staging is.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Seq;

/// The token holding each lease, per event and plugin.
#[derive(Default)]
pub struct Holders {
    held: Mutex<HashMap<Seq, Vec<(String, u64)>>>,
    next_token: AtomicU64,
}

/// A change to the leases a write makes, applied once it committed.
#[derive(Debug)]
pub enum HolderChange {
    /// `token` holds the lease of (`seq`, `plugin`).
    Hold {
        plugin: String,
        seq: Seq,
        token: u64,
    },
    /// The lease of (`seq`, `plugin`) is gone.
    Drop { plugin: String, seq: Seq },
}

impl Holders {
    /// A token no lease had before.
    pub fn issue(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    /// The token holding the lease of (`seq`, `plugin`), if it is leased.
    pub fn holder(&self, plugin: &str, seq: Seq) -> Option<u64> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let plugins = held.get(&seq)?;
        let (_, token) = plugins.iter().find(|(holder, _)| holder == plugin)?;
        Some(*token)
    }

    /// Applies the changes of a write that committed.
    pub fn apply(&self, changes: impl IntoIterator<Item = HolderChange>) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for change in changes {
            match change {
                HolderChange::Hold { plugin, seq, token } => {
                    let plugins = held.entry(seq).or_default();
                    match plugins.iter_mut().find(|(holder, _)| *holder == plugin) {
                        Some((_, holding)) => *holding = token,
                        None => plugins.push((plugin, token)),
                    }
                }
                HolderChange::Drop { plugin, seq } => {
                    if let Some(plugins) = held.get_mut(&seq) {
                        plugins.retain(|(holder, _)| *holder != plugin);
                        if plugins.is_empty() {
                            held.remove(&seq);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(plugin: &str, seq: Seq, token: u64) -> HolderChange {
        HolderChange::Hold {
            plugin: plugin.into(),
            seq,
            token,
        }
    }

    #[test]
    fn holders_follow_leases_and_endings_per_plugin_and_tokens_are_never_reissued() {
        let (_dir, queue) = super::super::scratch();
        let holders = &queue.holders;
        let (a, b) = (holders.issue(), holders.issue());
        assert_ne!(a, b);
        holders.apply([hold("a", 1, a), hold("b", 1, b)]);
        assert_eq!(holders.holder("a", 1), Some(a));
        assert_eq!(holders.holder("b", 1), Some(b));
        assert_eq!(holders.holder("a", 2), None);
        let later = holders.issue();
        holders.apply([hold("a", 1, later)]);
        assert_eq!(
            holders.holder("a", 1),
            Some(later),
            "a new lease, a new holder"
        );
        holders.apply([HolderChange::Drop {
            plugin: "a".into(),
            seq: 1,
        }]);
        assert_eq!(holders.holder("a", 1), None);
        assert_eq!(
            holders.holder("b", 1),
            Some(b),
            "another plugin's lease stays"
        );
    }
}
