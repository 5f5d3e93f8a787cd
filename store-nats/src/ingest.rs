//! Ingest on NATS: each event once on the events stream (kept for replay),
//! and one message per (event, plugin) on the deliveries stream (on the
//! subject of its ordering key's partition, if it has one), each with a
//! `Nats-Msg-Id` from the event's identity, all acknowledged by JetStream
//! before weir answers 202.

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use futures_util::future::try_join_all;

use super::names::{self, DeliveryId};
use super::{Nats, NatsError};
use weir_core::route::RouteTable;
use weir_core::store::Admission;
use weir_core::store::Target;
use weir_event::Event;
use weir_event::codec;

/// The header that carries a replayed delivery's generation.
pub(super) const GENERATION_HEADER: &str = "Weir-Generation";

impl Nats {
    /// Publishes each event, and a delivery of it to each plugin `routes`
    /// sends it to, and waits until JetStream has stored them all. An event
    /// stored before (within the duplicate window) is admitted as a duplicate.
    pub async fn submit(
        &self,
        routes: &RouteTable,
        events: &[Event],
    ) -> Result<Vec<Admission>, NatsError> {
        let mut sent = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let payload = Bytes::from(codec::encode(event));
            let publish = PublishMessage::build()
                .payload(payload.clone())
                .message_id(names::event_msg_id(event));
            let ack = self
                .jetstream
                .send_publish(self.names.event_subject(&event.id), publish)
                .await
                .map_err(|e| NatsError::request("publish", e))?;
            sent.push((index, ack));
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
                duplicate: duplicates
                    .iter()
                    .filter(|(of, _)| *of == index)
                    .all(|(_, duplicate)| *duplicate),
            })
            .collect())
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
        // A keyed delivery goes to its key's partition, unless its route
        // lets it skip the ordering key.
        let partition = (event.partitionkey.as_ref())
            .filter(|_| target.ordered)
            .map(|key| names::partition(&event.tenant, key));
        let subject = self.names.delivery_subject(&target.plugin, partition);
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
