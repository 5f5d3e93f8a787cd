//! Who holds each lease, in memory. A leased delivery stays in the ready
//! index, and this map says it is taken, by which token, at which attempt
//! and until when; the lease's key in `leased` only counts its attempt
//! should weir stop meanwhile.
//!
//! A token is never handed out twice, unlike an attempt number, which a
//! revive resets: an attempt that outlived its lease cannot commit on the
//! lease of a later one that happens to carry its number. Every ending
//! checks it before it writes anything.
//!
//! The map starts empty: at start-up `Queue::recover_leases` has counted
//! the attempts a stopped process left running, before anything is leased.
//! It changes only after the write it mirrors committed: leases once their
//! round is written, endings once their staging is.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Seq;

/// The leases held, per event and plugin.
#[derive(Default)]
pub struct Holders {
    held: Mutex<HashMap<Seq, Vec<(String, Hold)>>>,
    next_token: AtomicU64,
    /// How many leases were dropped so far (see [`Holders::drops`]).
    drops: AtomicU64,
}

/// One lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// The token that holds it: what an ending shows to write anything.
    pub token: u64,
    /// The attempt it runs, counted.
    pub attempt: u32,
    /// When it expires (ms since the Unix epoch).
    pub until_ms: u64,
}

/// A change to the leases a write makes, applied once it committed.
#[derive(Debug)]
pub enum HolderChange {
    /// (`seq`, `plugin`) is leased as `hold` says.
    Hold {
        plugin: String,
        seq: Seq,
        hold: Hold,
    },
    /// The lease of (`seq`, `plugin`) is gone.
    Drop { plugin: String, seq: Seq },
}

impl Holders {
    /// A token no lease had before.
    pub fn issue(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    /// How many leases were dropped so far. A lease is dropped only after
    /// the write that ended it, so a scan that read this before taking its
    /// snapshot, and reads the same after finding a delivery unheld, knows
    /// that no ending it missed took that delivery away.
    pub fn drops(&self) -> u64 {
        self.drops.load(Ordering::SeqCst)
    }

    /// The token holding the lease of (`seq`, `plugin`), if it is leased.
    pub fn holder(&self, plugin: &str, seq: Seq) -> Option<u64> {
        self.lease(plugin, seq).map(|hold| hold.token)
    }

    /// The lease of (`seq`, `plugin`), if it is leased.
    pub fn lease(&self, plugin: &str, seq: Seq) -> Option<Hold> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let plugins = held.get(&seq)?;
        let (_, hold) = plugins.iter().find(|(holder, _)| holder == plugin)?;
        Some(*hold)
    }

    /// Every lease that `keep` selects, as (plugin, seq, lease).
    pub fn leases(&self, keep: impl Fn(&Hold) -> bool) -> Vec<(String, Seq, Hold)> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let mut leases = Vec::new();
        for (&seq, plugins) in held.iter() {
            for (plugin, hold) in plugins.iter().filter(|(_, hold)| keep(hold)) {
                leases.push((plugin.clone(), seq, *hold));
            }
        }
        leases
    }

    /// Applies the changes of a write that committed.
    pub fn apply(&self, changes: impl IntoIterator<Item = HolderChange>) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for change in changes {
            match change {
                HolderChange::Hold { plugin, seq, hold } => {
                    let plugins = held.entry(seq).or_default();
                    match plugins.iter_mut().find(|(holder, _)| *holder == plugin) {
                        Some((_, holding)) => *holding = hold,
                        None => plugins.push((plugin, hold)),
                    }
                }
                HolderChange::Drop { plugin, seq } => {
                    self.drops.fetch_add(1, Ordering::SeqCst);
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
            hold: Hold {
                token,
                attempt: 1,
                until_ms: 1_000 + token,
            },
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
        let expiring = holders.leases(|hold| hold.until_ms < 1_000 + b);
        assert_eq!(expiring.len(), 1, "a's lease ends first");
        assert_eq!((expiring[0].0.as_str(), expiring[0].2.token), ("a", a));
        let later = holders.issue();
        holders.apply([hold("a", 1, later)]);
        assert_eq!(
            holders.holder("a", 1),
            Some(later),
            "a new lease, a new holder"
        );
        assert_eq!(holders.drops(), 0, "a new hold drops nothing");
        holders.apply([HolderChange::Drop {
            plugin: "a".into(),
            seq: 1,
        }]);
        assert_eq!(holders.holder("a", 1), None);
        assert_eq!(holders.drops(), 1);
        assert_eq!(
            holders.holder("b", 1),
            Some(b),
            "another plugin's lease stays"
        );
    }
}
