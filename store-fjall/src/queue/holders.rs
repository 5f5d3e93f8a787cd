//! Who holds each lease: the `leased` keyspace mirrored in memory, so an
//! ending checks its lease without a read of the store (a lookup in a
//! memtable full of the tombstones of earlier leases was a twentieth of the
//! work of a retry).
//!
//! The mirror changes only after the write it mirrors committed: leases
//! once their round is written, endings and renewals once their staging is.

use std::collections::HashMap;
use std::sync::Mutex;

use fjall::Keyspace;

use super::{QueueError, Seq, keys};

/// The attempt holding each lease, per event and plugin.
#[derive(Default)]
pub struct Holders(Mutex<HashMap<Seq, Vec<(String, u32)>>>);

/// A change to the leases a write makes, applied once it committed.
#[derive(Debug)]
pub enum HolderChange {
    /// `attempt` holds the lease of (`seq`, `plugin`).
    Hold {
        plugin: String,
        seq: Seq,
        attempt: u32,
    },
    /// The lease of (`seq`, `plugin`) is gone.
    Drop { plugin: String, seq: Seq },
}

impl Holders {
    /// The leases stored in `leased`, read once when the queue opens.
    pub fn load(leased: &Keyspace) -> Result<Holders, QueueError> {
        let holders = Holders::default();
        let mut changes = Vec::new();
        for guard in leased.iter() {
            let (key, value) = guard.into_inner()?;
            if let (Some((plugin, seq)), Some((_, attempt))) =
                (keys::split_plugin_seq(&key), keys::read_lease(&value))
            {
                let plugin = plugin.to_owned();
                changes.push(HolderChange::Hold {
                    plugin,
                    seq,
                    attempt,
                });
            }
        }
        holders.apply(changes);
        Ok(holders)
    }

    /// The attempt holding the lease of (`seq`, `plugin`), if it is leased.
    pub fn holder(&self, plugin: &str, seq: Seq) -> Option<u32> {
        let holders = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let plugins = holders.get(&seq)?;
        let (_, attempt) = plugins.iter().find(|(held, _)| held == plugin)?;
        Some(*attempt)
    }

    /// Applies the changes of a write that committed.
    pub fn apply(&self, changes: impl IntoIterator<Item = HolderChange>) {
        let mut holders = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for change in changes {
            match change {
                HolderChange::Hold {
                    plugin,
                    seq,
                    attempt,
                } => {
                    let plugins = holders.entry(seq).or_default();
                    match plugins.iter_mut().find(|(held, _)| *held == plugin) {
                        Some((_, held)) => *held = attempt,
                        None => plugins.push((plugin, attempt)),
                    }
                }
                HolderChange::Drop { plugin, seq } => {
                    if let Some(plugins) = holders.get_mut(&seq) {
                        plugins.retain(|(held, _)| *held != plugin);
                        if plugins.is_empty() {
                            holders.remove(&seq);
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

    fn hold(plugin: &str, seq: Seq, attempt: u32) -> HolderChange {
        HolderChange::Hold {
            plugin: plugin.into(),
            seq,
            attempt,
        }
    }

    #[test]
    fn holders_follow_leases_renewals_and_endings_per_plugin() {
        let holders = Holders::default();
        holders.apply([hold("a", 1, 1), hold("b", 1, 3)]);
        assert_eq!(holders.holder("a", 1), Some(1));
        assert_eq!(holders.holder("b", 1), Some(3));
        assert_eq!(holders.holder("a", 2), None);
        holders.apply([hold("a", 1, 2)]);
        assert_eq!(
            holders.holder("a", 1),
            Some(2),
            "a renewal moves the holder"
        );
        holders.apply([HolderChange::Drop {
            plugin: "a".into(),
            seq: 1,
        }]);
        assert_eq!(holders.holder("a", 1), None);
        assert_eq!(
            holders.holder("b", 1),
            Some(3),
            "another plugin's lease stays"
        );
    }
}
