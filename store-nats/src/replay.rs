//! Replay on NATS: the events stream keeps every event for `retention`, its
//! sequence numbers are the log's. A replay takes the plugin's next
//! generation from a counter in the bucket, shared by every node, and
//! publishes a delivery of each event in its range in that generation: a
//! new message id and commit record, so the effects apply once more, and
//! once however often a step is sent again.

use std::ops::RangeInclusive;
use std::sync::Arc;

use async_nats::jetstream::kv;
use async_nats::jetstream::stream::RawMessageErrorKind;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, join_all};

use super::ingest::stored;
use super::names::generation_key;
use super::{Nats, NatsError};
use weir_core::route::Routes;
use weir_core::store::ReplaySpec;
use weir_core::store::Seq;
use weir_core::store::{Requeue, Requeued, Reruns};
use weir_event::codec;

/// How often taking the next generation is tried while other nodes race for it.
const GENERATION_TRIES: usize = 16;

/// Requeues deliveries from the events stream in `generation`.
pub struct NatsRequeue {
    pub(super) routes: Arc<Routes>,
    pub(super) nats: Arc<Nats>,
    pub(super) generation: u32,
}

impl Nats {
    /// The oldest and newest sequence numbers on the events stream.
    pub(super) async fn event_bounds(&self) -> Result<(Seq, Seq), NatsError> {
        let mut events = self.events.clone();
        let info = events
            .info()
            .await
            .map_err(|e| NatsError::request("read the events stream", e))?;
        Ok((info.state.first_sequence, info.state.last_sequence))
    }

    /// How many replay generations `plugin` has taken (0: never replayed).
    pub(super) async fn replay_generations(&self, plugin: &str) -> Result<u32, NatsError> {
        let key = generation_key(plugin);
        let failed = |e: &dyn std::fmt::Display| NatsError::request("read a replay generation", e);
        match self.records.get(&key).await.map_err(|e| failed(&e))? {
            None => Ok(0),
            Some(value) => parse_generation(&key, &value).map_err(|e| failed(&e)),
        }
    }

    /// Takes `plugin`'s next replay generation (the first is 1), racing
    /// other nodes through the counter's revision.
    pub(super) async fn next_generation(&self, plugin: &str) -> Result<u32, NatsError> {
        let key = generation_key(plugin);
        let failed = |e: &dyn std::fmt::Display| NatsError::request("take a replay generation", e);
        for _ in 0..GENERATION_TRIES {
            let entry = self.records.entry(&key).await.map_err(|e| failed(&e))?;
            let taken = match entry {
                None => {
                    let created = self.records.create(&key, "1".into()).await;
                    created.map(|_| 1).map_err(|e| {
                        (e.kind() != kv::CreateErrorKind::AlreadyExists).then(|| failed(&e))
                    })
                }
                Some(entry) => {
                    let next = parse_generation(&key, &entry.value).map_err(|e| failed(&e))? + 1;
                    let updated = self
                        .records
                        .update(&key, next.to_string().into(), entry.revision)
                        .await;
                    updated.map(|_| next).map_err(|e| {
                        (e.kind() != kv::UpdateErrorKind::WrongLastRevision).then(|| failed(&e))
                    })
                }
            };
            match taken {
                Ok(generation) => return Ok(generation),
                Err(Some(error)) => return Err(error),
                // Another node took it first: read the counter again.
                Err(None) => {}
            }
        }
        Err(failed(&"other nodes kept taking generations first"))
    }
}

/// The generation counter at `key`, as stored.
fn parse_generation(key: &str, value: &[u8]) -> Result<u32, String> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("{key} holds no number"))
}

impl Requeue for NatsRequeue {
    fn requeue(&self, spec: &ReplaySpec, seqs: RangeInclusive<Seq>) -> BoxFuture<'_, Requeued> {
        let spec = spec.clone();
        async move { Ok(self.publish_range(&spec, seqs).await?) }.boxed()
    }
}

impl NatsRequeue {
    /// Publishes, in this replay's generation, the deliveries of events
    /// `seqs` that route to the plugin. Every one is queued: whether an
    /// earlier generation still runs is not looked up.
    async fn publish_range(
        &self,
        spec: &ReplaySpec,
        seqs: RangeInclusive<Seq>,
    ) -> Result<Reruns, NatsError> {
        let read = seqs.map(|seq| self.nats.events.get_raw_message(seq));
        let routes = self.routes.current();
        let mut acks = Vec::new();
        for message in join_all(read).await {
            let message = match message {
                Ok(message) => message,
                // Removed by retention.
                Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => continue,
                Err(error) => return Err(NatsError::request("read an event to replay", error)),
            };
            let event = match codec::decode(&message.payload) {
                Ok(event) => event,
                Err(error) => {
                    tracing::error!(%error, sequence = message.sequence, "an event on the stream is unreadable; the replay skips it");
                    continue;
                }
            };
            // Before ingest stamped it, an event on NATS had no time of
            // its own: the stream's, when it was stored, stands in.
            let ingested_at_ms = match event.ingested_at_ms {
                0 => u64::try_from(message.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
                ms => ms,
            };
            let too_old = spec.since_ms.is_some_and(|since| ingested_at_ms < since);
            let target = (routes.targets_for(&event).into_iter())
                .find(|target| target.plugin == spec.plugin);
            let Some(target) = target.filter(|_| !too_old) else {
                continue;
            };
            let ack = self
                .nats
                .publish_delivery(&target, &event, &message.payload, self.generation, None)
                .await?;
            acks.push(ack);
        }
        let queued = stored(acks).await?.len();
        Ok(Reruns {
            queued: queued as u64,
            pending: 0,
        })
    }
}
