//! Ingest on NATS: each event once on the events stream (kept for replay),
//! and one message per (event, plugin) on the deliveries stream (on its
//! feed's subject: its ordering key's partition, or its priority and
//! tenant), each with a
//! `Nats-Msg-Id` from the event's identity, all acknowledged by JetStream
//! before weir answers 202.

use std::collections::HashMap;

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::DirectGetErrorKind;
use bytes::Bytes;
use futures_util::future::try_join_all;

use super::names::{self, DeliveryId, Feed};
use super::{Nats, NatsError};
use weir_core::route::RouteTable;
use weir_core::store::{Admission, StoreError, Target, id_reused};
use weir_event::Event;
use weir_event::codec;

/// Whether an event of a request was stored before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Earlier {
    /// It is new.
    None,
    /// An event with its identity and content is stored.
    Stored,
    /// An event earlier in the request has its identity and content.
    InRequest,
}

/// The header that carries a replayed delivery's generation.
pub(super) const GENERATION_HEADER: &str = "Weir-Generation";

impl Nats {
    /// Publishes each event, and a delivery of it to each plugin `routes`
    /// sends it to, and waits until JetStream has stored them all. An event
    /// whose identity is stored already is admitted as a duplicate if it has
    /// the same content, and refuses the request if not, before anything of
    /// it is published; its deliveries are published again, in case the
    /// request that stored it failed before they were (their message ids
    /// keep them once within the duplicate window).
    pub async fn submit(
        &self,
        routes: &RouteTable,
        events: &[Event],
    ) -> Result<Vec<Admission>, StoreError> {
        let earlier = self.earlier(events).await?;
        let mut sent = Vec::new();
        for (index, event) in events.iter().enumerate() {
            if earlier[index] == Earlier::InRequest {
                continue;
            }
            let payload = Bytes::from(codec::encode(event));
            if earlier[index] == Earlier::None {
                // Stored only if no request stored the identity meanwhile.
                let publish = PublishMessage::build()
                    .payload(payload.clone())
                    .message_id(names::event_msg_id(event))
                    .expected_last_subject_sequence(0);
                let ack = self
                    .jetstream
                    .send_publish(self.names.event_subject(event), publish)
                    .await
                    .map_err(|e| NatsError::request("publish", e))?;
                sent.push((index, ack));
            }
            for target in routes.targets_for(event) {
                let ack = self
                    .publish_delivery(&target, event, &payload, 0, None)
                    .await?;
                sent.push((index, ack));
            }
        }
        let (owners, acks): (Vec<usize>, Vec<_>) = sent.into_iter().unzip();
        let duplicates: Vec<(usize, bool)> = owners.into_iter().zip(stored(acks).await?).collect();
        Ok(events
            .iter()
            .enumerate()
            .map(|(index, event)| Admission {
                id: event.id.clone(),
                duplicate: earlier[index] != Earlier::None
                    || duplicates
                        .iter()
                        .filter(|(of, _)| *of == index)
                        .all(|(_, duplicate)| *duplicate),
            })
            .collect())
    }

    /// Whether each of `events` has the identity of one stored before, or
    /// of one earlier in the request; an identity stored with other
    /// content refuses the request. Reads each identity's event directly.
    async fn earlier(&self, events: &[Event]) -> Result<Vec<Earlier>, StoreError> {
        let reads = events.iter().map(|event| self.stored_identity(event));
        let stored = try_join_all(reads).await?;
        let mut seen: HashMap<(&str, &str, &str), &Event> = HashMap::new();
        let mut earlier = Vec::with_capacity(events.len());
        for (index, (event, stored)) in events.iter().zip(stored).enumerate() {
            let identity = (
                event.tenant.as_str(),
                event.source.as_str(),
                event.id.as_str(),
            );
            let (found, kind) = match (seen.get(&identity), &stored) {
                (Some(&first), _) => (Some(first), Earlier::InRequest),
                (None, Some(stored)) => (Some(stored), Earlier::Stored),
                (None, None) => (None, Earlier::None),
            };
            if found.is_some_and(|found| !found.same_content(event)) {
                return Err(StoreError::IdReused(id_reused(index, event)));
            }
            seen.entry(identity).or_insert(event);
            earlier.push(kind);
        }
        Ok(earlier)
    }

    /// The stored event with `event`'s identity, if there is one.
    async fn stored_identity(&self, event: &Event) -> Result<Option<Event>, StoreError> {
        let subject = self.names.event_subject(event);
        // A direct get, which any replica answers: one that lags behind
        // misses only an event stored a moment ago, whose resend the
        // message id still marks as a duplicate.
        match self.events.direct_get_last_for_subject(&subject).await {
            Ok(stored) => codec::decode(&stored.payload)
                .map(Some)
                .map_err(|error| StoreError::Corrupt(format!("event on {subject}: {error}"))),
            Err(error) if error.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(error) => Err(NatsError::request("read an event's identity", error).into()),
        }
    }

    /// Publishes `event`'s delivery to `target` (`payload`: the encoded
    /// event) in `generation`, or, with `again`, one more of it (a dead
    /// letter revived, a held delivery released) under the message id
    /// `again` sets apart; the returned future resolves with JetStream's ack.
    pub(super) async fn publish_delivery(
        &self,
        target: &Target,
        event: &Event,
        payload: &Bytes,
        generation: u32,
        again: Option<String>,
    ) -> Result<PublishAckFuture, NatsError> {
        let id = DeliveryId {
            plugin: &target.plugin,
            event,
            generation,
        };
        let message_id = match again {
            Some(again) => format!("{}.{again}", id.msg_id()),
            None => id.msg_id(),
        };
        let mut publish = PublishMessage::build()
            .payload(payload.clone())
            .message_id(message_id);
        if generation > 0 {
            let mut headers = HeaderMap::new();
            headers.insert(GENERATION_HEADER, generation.to_string().as_str());
            publish = publish.headers(headers);
        }
        let feed = Feed::of(event, target.ordered);
        let subject = (self.names).delivery_subject(&target.plugin, feed, &event.tenant);
        self.jetstream
            .send_publish(subject, publish)
            .await
            .map_err(|e| NatsError::request("publish", e))
    }
}

/// Waits until JetStream has stored every message `acks` stands for; says
/// of each whether it was a duplicate (its message id seen before).
pub(super) async fn stored(acks: Vec<PublishAckFuture>) -> Result<Vec<bool>, NatsError> {
    let acks = try_join_all(acks.into_iter().map(IntoFuture::into_future))
        .await
        .map_err(|e| NatsError::request("publish", e))?;
    Ok(acks.iter().map(|ack| ack.duplicate).collect())
}
