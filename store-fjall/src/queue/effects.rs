//! What a delivery's ending writes besides its record: the plugin state it
//! changed when it is done, its dead-letter entry when it dies. Each goes
//! into the staging that releases its lease.

use super::{Seq, Staging, keys};

impl Staging<'_> {
    /// Writes `plugin`'s state for `tenant`: a value sets its key, `None`
    /// removes it.
    pub fn write_state(
        &mut self,
        plugin: &str,
        tenant: &str,
        writes: impl IntoIterator<Item = (String, Option<Vec<u8>>)>,
    ) {
        let queue = self.queue();
        let prefix = keys::state_prefix(plugin, tenant);
        for (key, value) in writes {
            let mut full = prefix.clone();
            full.extend_from_slice(key.as_bytes());
            match value {
                Some(value) => self.batch.insert(&queue.state, full, value),
                None => self.batch.remove(&queue.state, full),
            }
        }
    }

    /// Lists (`seq`, `plugin`) among the dead letters.
    pub fn mark_dead(&mut self, plugin: &str, seq: Seq) {
        self.batch
            .insert(&self.queue().dead, keys::plugin_seq(plugin, seq), []);
    }
}
