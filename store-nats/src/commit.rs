//! Finishing a delivery on NATS: its commit record (keyed by event and
//! plugin, created only if absent) and every state key it read or wrote
//! (each key read expected at the revision the handler saw, without reading
//! it again) go to the records bucket in one atomic batch. A commit record
//! expires with its event, after `[queue] retention_ms`. A second node finishing the same
//! delivery, or a delivery whose state changed under it, stores nothing.
//!
//! A delivery given up takes the same key first, with a record that says
//! so (`outcome = "dead"`), before its dead letter is published: so an
//! attempt that outlived its ack wait cannot apply its effects to a
//! delivery another node gave up, nor can a delivery be given up once an
//! attempt committed. A revive takes the mark away again.

use async_nats::HeaderMap;
use async_nats::jetstream::stream::RawMessageErrorKind;
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
    /// `ack` or `emit`, or `dead` for the mark of a give-up.
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
    /// Set when the delivery was given up rather than committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gave_up: Option<GaveUp>,
}

/// Why a delivery was given up, as its dead letter says: published again
/// by whoever finds the mark if the node that gave up stopped before it
/// published the letter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GaveUp {
    /// Why, in a word (`max_attempts`, `poison`, ...).
    pub reason: String,
    /// Why, for the operator.
    pub message: String,
}

impl Record {
    /// The mark of a delivery `node` gave up at `attempt`, for `gave_up`.
    pub fn gave_up(node: &str, attempt: u32, at_ms: u64, gave_up: GaveUp) -> Record {
        Record {
            outcome: "dead".to_owned(),
            node: node.to_owned(),
            attempt,
            committed_at_ms: at_ms,
            state_writes: 0,
            children: Vec::new(),
            gave_up: Some(gave_up),
        }
    }

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

/// What [`Nats::commit`] (or [`Nats::bury`]) did.
pub enum Committed {
    /// The record and state writes are stored.
    Now,
    /// Another attempt committed this delivery, or gave it up, first; this
    /// one stored nothing.
    Before(Record),
    /// State the handler read changed under it; nothing was stored.
    Conflict,
}

impl Nats {
    /// What delivery `id`'s commit key holds, if anything: its commit
    /// record, or the mark of its give-up (`Record::gave_up` is set).
    pub async fn committed(&self, id: &DeliveryId<'_>) -> Result<Option<Record>, NatsError> {
        Ok(self
            .record_at(&id.commit_key())
            .await?
            .map(|(record, _)| record))
    }

    /// The record under `key` and its revision, read from any replica.
    async fn record_at(&self, key: &str) -> Result<Option<(Record, u64)>, NatsError> {
        let current = self.current(key).await?;
        (current.value)
            .map(|bytes| Ok((decode_record(key, &bytes)?, current.version)))
            .transpose()
    }

    /// The record under `key`, read from the stream's leader: after a write
    /// was refused because the key holds a message, a replica that lags may
    /// not have that message yet.
    async fn record_at_leader(&self, key: &str) -> Result<Option<Record>, NatsError> {
        let subject = self.record_subject(key);
        match self
            .records
            .stream
            .get_last_raw_message_by_subject(&subject)
            .await
        {
            Ok(message) if message.headers.get("KV-Operation").is_none() => {
                Ok(Some(decode_record(key, &message.payload)?))
            }
            Ok(_) => Ok(None),
            Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(error) => Err(NatsError::request("read a commit record", error)),
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
        messages.push(self.record_message(id, record)?);
        if let Some(error) = failpoint::pass(failpoint::Point::NatsCommit) {
            return Err(NatsError::request("commit", error));
        }
        self.end(id, messages, "commit").await
    }

    /// Marks delivery `id` given up with `record` ([`Record::gave_up`]),
    /// unless an attempt committed it (or gave it up) first.
    pub async fn bury(&self, id: &DeliveryId<'_>, record: &Record) -> Result<Committed, NatsError> {
        let mark = self.record_message(id, record)?;
        self.end(id, vec![mark], "mark a delivery given up").await
    }

    /// Takes away the mark of delivery `id`'s give-up, so that it runs
    /// when it is published again; a commit record stays.
    pub async fn unbury(&self, id: &DeliveryId<'_>) -> Result<(), NatsError> {
        let key = id.commit_key();
        let Some((record, revision)) = self.record_at(&key).await? else {
            return Ok(());
        };
        if record.gave_up.is_none() {
            return Ok(());
        }
        // Purged, not overwritten with a delete marker: the next commit
        // expects the key to hold no message at all. Only up to the mark
        // read: a revive running at the same time may have purged it
        // already, and the delivery committed again since.
        (self.records.stream.purge())
            .filter(self.record_subject(&key))
            .sequence(revision + 1)
            .await
            .map_err(|e| NatsError::request("take away a give-up's mark", e))?;
        Ok(())
    }

    /// `record` under delivery `id`'s commit key, if none is there yet,
    /// expiring with its event.
    fn record_message(&self, id: &DeliveryId<'_>, record: &Record) -> Result<Outgoing, NatsError> {
        let encoded = serde_json::to_vec(record)
            .map_err(|e| NatsError::request("encode a commit record", e))?;
        let mut message = expecting(
            self.record_subject(&id.commit_key()),
            Some(0),
            Some(encoded),
        );
        let ttl = self.record_ttl_header();
        message.headers.insert("Nats-TTL", ttl.as_str());
        Ok(message)
    }

    /// Publishes `messages`, one of them `id`'s record, as one batch.
    async fn end(
        &self,
        id: &DeliveryId<'_>,
        messages: Vec<Outgoing>,
        action: &'static str,
    ) -> Result<Committed, NatsError> {
        match atomic::publish(&self.client, messages).await {
            Ok(()) => Ok(Committed::Now),
            Err(BatchRefused::WrongLastSequence) => {
                match self.record_at_leader(&id.commit_key()).await? {
                    Some(record) => Ok(Committed::Before(record)),
                    None => Ok(Committed::Conflict),
                }
            }
            Err(refused) => Err(NatsError::Request {
                action,
                message: refused.to_string(),
            }),
        }
    }
}

fn decode_record(key: &str, bytes: &[u8]) -> Result<Record, NatsError> {
    serde_json::from_slice(bytes)
        .map_err(|e| NatsError::request("read a commit record", format!("{key}: {e}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_give_up_mark_reads_back_and_a_record_without_one_reads_as_committed() {
        let why = GaveUp {
            reason: "lost".into(),
            message: "gave up after 1 attempts".into(),
        };
        let mark = Record::gave_up("node-b", 2, 5, why);
        let read: Record =
            serde_json::from_slice(&serde_json::to_vec(&mark).expect("encodes")).expect("decodes");
        assert_eq!(read.outcome, "dead");
        let gave_up = read.gave_up.expect("the mark says why");
        assert_eq!((gave_up.reason.as_str(), read.attempt), ("lost", 2));
        // A commit record as an earlier weir wrote it: no give-up.
        let earlier = br#"{"outcome":"ack","node":"a","attempt":1,"committed_at_ms":5,"state_writes":0,"children":[]}"#;
        let read: Record = serde_json::from_slice(earlier).expect("decodes");
        assert!(read.gave_up.is_none());
        let encoded = String::from_utf8(serde_json::to_vec(&read).expect("encodes"));
        let encoded = encoded.expect("utf-8");
        assert!(
            !encoded.contains("gave_up"),
            "an earlier weir reads it as before: {encoded}"
        );
    }
}
