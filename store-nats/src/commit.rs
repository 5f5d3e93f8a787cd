//! Finishing a delivery on NATS: its commit record (keyed by event and
//! plugin, created only if absent) and every state key it read or wrote
//! (each key read expected at the revision the handler saw, without reading
//! it again) go to the records bucket in one atomic batch. A commit record
//! expires with its event, after `[queue] retention_ms`. A second node finishing the same
//! delivery, or a delivery whose state changed under it, stores nothing.

use async_nats::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::atomic::{self, BatchRefused, Outgoing};
use super::names::{self, DeliveryId};
use super::{Nats, NatsError};
use weir_core::failpoint;
use weir_event::Event;
use weir_event::codec;
use weir_runtime::Effects;

/// What a finished delivery left, kept under its commit key.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    /// `ack` or `emit`.
    pub outcome: String,
    /// The node that ran it.
    pub node: String,
    /// Which attempt it was (1 for the first).
    pub attempt: u32,
    /// When it committed (ms since the Unix epoch).
    pub committed_at_ms: u64,
    /// How many state keys it wrote.
    pub state_writes: usize,
    /// The events it emitted, as stored (base64): published again by whoever
    /// finds the record if the node that committed stopped before it could.
    pub children: Vec<String>,
}

impl Record {
    /// Encodes `children` into the record.
    pub fn encode_children(children: &[Event]) -> Vec<String> {
        children
            .iter()
            .map(|child| STANDARD.encode(codec::encode(child)))
            .collect()
    }

    /// The emitted events again.
    pub fn children(&self) -> Result<Vec<Event>, NatsError> {
        self.children
            .iter()
            .map(|encoded| {
                let bytes = STANDARD
                    .decode(encoded)
                    .map_err(|e| NatsError::request("read a commit record", e))?;
                codec::decode(&bytes).map_err(|e| NatsError::request("read a commit record", e))
            })
            .collect()
    }
}

/// What [`Nats::commit`] did.
pub enum Committed {
    /// The record and state writes are stored.
    Now,
    /// Another attempt committed this delivery first; this one stored nothing.
    Before(Record),
    /// State the handler read changed under it; nothing was stored.
    Conflict,
}

impl Nats {
    /// The commit record of delivery `id`, if it committed.
    pub async fn committed(&self, id: &DeliveryId<'_>) -> Result<Option<Record>, NatsError> {
        let key = id.commit_key();
        match self.current(&key).await?.value {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| NatsError::request("read a commit record", format!("{key}: {e}"))),
            None => Ok(None),
        }
    }

    /// Stores `record` and `effects` for delivery `id`, all or nothing.
    pub async fn commit(
        &self,
        id: &DeliveryId<'_>,
        effects: &Effects,
        record: &Record,
    ) -> Result<Committed, NatsError> {
        // A key read is expected at the revision the handler saw: the batch
        // fails if another delivery wrote it meanwhile, and a key only read
        // is written back unchanged so that this check is made. A key only
        // written depends on no earlier value, and is written unconditionally.
        let mut messages = Vec::new();
        for (key, seen) in &effects.state_reads {
            let full = names::state_key(id.plugin, &id.event.tenant, key);
            let value = match effects.state_writes.get(key) {
                Some(written) => written.clone(),
                None => seen.value.clone(),
            };
            messages.push(expecting(
                self.record_subject(&full),
                Some(seen.version),
                value,
            ));
        }
        for (key, written) in &effects.state_writes {
            if !effects.state_reads.contains_key(key) {
                let full = names::state_key(id.plugin, &id.event.tenant, key);
                messages.push(expecting(self.record_subject(&full), None, written.clone()));
            }
        }
        let encoded = serde_json::to_vec(record)
            .map_err(|e| NatsError::request("encode a commit record", e))?;
        let mut record = expecting(
            self.record_subject(&id.commit_key()),
            Some(0),
            Some(encoded),
        );
        let ttl = self.record_ttl_header();
        record.headers.insert("Nats-TTL", ttl.as_str());
        messages.push(record);
        if let Some(error) = failpoint::pass(failpoint::Point::NatsCommit) {
            return Err(NatsError::request("commit", error));
        }
        match atomic::publish(&self.client, messages).await {
            Ok(()) => Ok(Committed::Now),
            Err(BatchRefused::WrongLastSequence) => match self.committed(id).await? {
                Some(record) => Ok(Committed::Before(record)),
                None => Ok(Committed::Conflict),
            },
            Err(BatchRefused::Failed(message)) => Err(NatsError::Request {
                action: "commit",
                message,
            }),
        }
    }
}

/// A write of `value` (a delete marker for `None`) that holds only if the
/// key is still at `revision` (0: never written), where one is given.
fn expecting(subject: String, revision: Option<u64>, value: Option<Vec<u8>>) -> Outgoing {
    let mut headers = HeaderMap::new();
    if let Some(revision) = revision {
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            revision.to_string().as_str(),
        );
    }
    let payload = match value {
        Some(value) => Bytes::from(value),
        None => {
            headers.insert("KV-Operation", "DEL");
            Bytes::new()
        }
    };
    Outgoing {
        subject,
        headers,
        payload,
    }
}
