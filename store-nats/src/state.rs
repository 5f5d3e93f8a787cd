//! Plugin state in the records bucket: what a handler's `state.get` reads,
//! what a commit compares, and what `GET /v1/plugins/{name}/state` lists.

use async_nats::jetstream::consumer::{DeliverPolicy, ReplayPolicy, push};
use async_nats::jetstream::kv::Operation;
use futures_util::TryStreamExt;

use super::{Nats, NatsError, names};
use weir_core::store::{StateEntries, StatePage};
use weir_runtime::Versioned;

impl Nats {
    /// The current value of the bucket key `key` (`None`: absent or
    /// deleted), with its revision in the bucket as its version (0: never
    /// written), which a commit expects unchanged.
    pub(super) async fn current(&self, key: &str) -> Result<Versioned, NatsError> {
        let entry = self
            .records
            .entry(key)
            .await
            .map_err(|e| NatsError::request("state read", e))?;
        Ok(match entry {
            Some(entry) => Versioned {
                value: (entry.operation == Operation::Put).then(|| entry.value.to_vec()),
                version: entry.revision,
            },
            None => Versioned::default(),
        })
    }

    /// `plugin`'s state value `key` for `tenant` and its revision, for a
    /// handler's `state.get`,
    /// which wasmtime calls synchronously: it blocks this worker thread only,
    /// the runtime moving its other tasks elsewhere meanwhile.
    pub fn state_get_blocking(
        &self,
        plugin: &str,
        tenant: &str,
        key: &str,
    ) -> Result<Versioned, NatsError> {
        let key = names::state_key(plugin, tenant, key);
        let handle = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| handle.block_on(self.current(&key)))
    }

    /// Up to `limit` of `plugin`'s state entries for `tenant`, in key order,
    /// after the key `after` if given. Lists that plugin and tenant's keys
    /// to find them.
    pub async fn state_entries(&self, page: &StatePage) -> Result<StateEntries, NatsError> {
        let prefix = names::state_prefix(&page.plugin, &page.tenant);
        let keys = self
            .keys_under(&prefix)
            .await
            .map_err(|e| NatsError::request("state listing", e))?;
        let mut named: Vec<(String, String)> = keys
            .into_iter()
            .filter_map(|full| {
                let name = names::state_key_name(full.strip_prefix(&prefix)?)?;
                Some((name, full))
            })
            .filter(|(name, _)| page.after.as_ref().is_none_or(|after| name > after))
            .collect();
        named.sort();
        let mut entries = Vec::new();
        for (name, full) in named {
            if entries.len() == page.limit {
                break;
            }
            if let Some(value) = self.current(&full).await?.value {
                entries.push((name, value));
            }
        }
        Ok(entries)
    }

    /// The bucket keys that start with `prefix`, deleted ones included: the
    /// latest message on each subject under it, read headers only, so a
    /// listing reads no other plugin's or tenant's records.
    async fn keys_under(&self, prefix: &str) -> Result<Vec<String>, async_nats::Error> {
        let bucket = &self.records;
        let consumer = (bucket.stream)
            .create_consumer(push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                filter_subject: format!("{}{prefix}>", bucket.prefix),
                headers_only: true,
                replay_policy: ReplayPolicy::Instant,
                deliver_policy: DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await?;
        let mut pending = consumer.cached_info().num_pending;
        let mut messages = consumer.messages().await?;
        let mut keys = Vec::new();
        // Bounded: each message lowers what is pending, the last reads 0.
        while pending > 0 {
            let Some(message) = messages.try_next().await? else {
                break;
            };
            pending = message.info()?.pending;
            if let Some(key) = message.subject.strip_prefix(bucket.prefix.as_str()) {
                keys.push(key.to_owned());
            }
        }
        Ok(keys)
    }
}
