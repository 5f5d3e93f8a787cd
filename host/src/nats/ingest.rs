//! Ingest on NATS: one message per (event, plugin) on the deliveries stream
//! (on the subject of its ordering key's partition, if it has one), each with
//! a `Nats-Msg-Id` from the event's identity, all acknowledged by JetStream
//! before weir answers 202.

use async_nats::jetstream::message::PublishMessage;
use futures_util::future::try_join_all;

use super::{Nats, NatsError, names};
use crate::event::Event;
use crate::queue::{Admission, codec};
use crate::route::RouteTable;

impl Nats {
    /// Publishes a delivery of each event to each plugin `routes` sends it to,
    /// and waits until JetStream has stored them all. An event stored before
    /// (within the duplicate window) is admitted as a duplicate; one no route
    /// matches is not kept.
    pub async fn submit(
        &self,
        routes: &RouteTable,
        events: &[Event],
    ) -> Result<Vec<Admission>, NatsError> {
        let mut sent = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let payload = bytes::Bytes::from(codec::encode(event));
            for target in routes.targets_for(event) {
                let publish = PublishMessage::build()
                    .payload(payload.clone())
                    .message_id(names::delivery_msg_id(&target.plugin, event));
                // A keyed delivery goes to its key's partition, unless its
                // route lets it skip the ordering key.
                let partition = (event.partitionkey.as_ref())
                    .filter(|_| target.ordered)
                    .map(|key| names::partition(&event.tenant, key));
                let subject = self.names.delivery_subject(&target.plugin, partition);
                let ack = self
                    .jetstream
                    .send_publish(subject, publish)
                    .await
                    .map_err(|e| NatsError::request("publish", e))?;
                sent.push(async move { ack.await.map(|ack| (index, ack.duplicate)) });
            }
        }
        let acks = try_join_all(sent)
            .await
            .map_err(|e| NatsError::request("publish", e))?;
        Ok(events
            .iter()
            .enumerate()
            .map(|(index, event)| {
                let mut mine = acks.iter().filter(|(of, _)| *of == index).peekable();
                let stored = mine.peek().is_some();
                Admission {
                    id: event.id.clone(),
                    duplicate: stored && mine.all(|(_, duplicate)| *duplicate),
                }
            })
            .collect())
    }
}
