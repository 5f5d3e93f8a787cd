//! Ingest on NATS: each event once on the events stream (kept for replay),
//! and one message per (event, plugin) on the deliveries stream (on its
//! feed's subject: its ordering key's partition, or its priority and
//! tenant), each with a
//! `Nats-Msg-Id` from the event's identity, all acknowledged by JetStream
//! before weir answers 202. The new events are stored first, all or none
//! (one atomic batch), so that the deliveries published are those of the
//! event its identity holds, and a refused request stores nothing.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{DirectGetErrorKind, LastRawMessageErrorKind};
use bytes::Bytes;
use futures_util::future::{join_all, try_join_all};
use futures_util::{StreamExt, TryStreamExt};
use tokio::time::Instant;

use super::atomic::{self, BatchRefused, Outgoing};
use super::names::{self, DeliveryId, Feed};
use super::{Nats, NatsError, connect};
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

/// Which of the events stream's replicas answers a read of an identity.
#[derive(Debug, Clone, Copy)]
enum Replica {
    /// Any replica, directly: the nearest, which may lag behind.
    Any,
    /// The stream's leader, which has every event stored.
    Leader,
}

/// How long an event whose message id another request's publish has in
/// process is published again, its pauses doubling from the first to the
/// longest: that publish is stored within a replication round, or refused,
/// but a loaded cluster or a leader change can take seconds.
const IN_PROCESS_FOR: Duration = Duration::from_secs(5);
const IN_PROCESS_FIRST_PAUSE: Duration = Duration::from_millis(5);
const IN_PROCESS_LONGEST_PAUSE: Duration = Duration::from_millis(200);

/// How many identities a refused batch reads from the stream's leader at
/// once: enough to overlap the round trips, few enough that a request of a
/// thousand events does not queue a thousand reads at one server.
const LEADER_READS_AT_ONCE: usize = 32;

/// How many atomic batches one node has in flight at most on each of the
/// events and deliveries streams: JetStream takes 50 on a stream, so three
/// nodes stay below it.
pub(super) const INGEST_BATCHES: usize = 16;

/// A stream a request publishes to in atomic batches.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Events,
    Deliveries,
}

/// How long after a failed try to set a stream up to take atomic batches
/// again the next request tries.
const RESTORE_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The header that carries a replayed delivery's generation.
pub(super) const GENERATION_HEADER: &str = "Weir-Generation";

impl Nats {
    /// Publishes each event, and a delivery of it to each plugin `routes`
    /// sends it to, and waits until JetStream has stored them all. An event
    /// whose identity is stored already is admitted as a duplicate if it has
    /// the same content, and refuses the request if not, before anything of
    /// it is published; its deliveries are published again, in case the
    /// request that stored it failed before they were (their message ids
    /// keep them once within the duplicate window). The new events are
    /// stored before any delivery is published, all of them or none (one
    /// atomic batch), so that of two requests racing with one identity, one
    /// is admitted and its content delivered, and the other is refused with
    /// nothing of it stored. (Not where an older weir left its mark: an
    /// event it stored before identities had subjects, or a stream it set
    /// up again without atomic batches that this node could not set up to
    /// take them again. Then the events are stored one at a time, and a
    /// request refused by a race may leave others stored.) Their deliveries
    /// follow as one atomic batch too, where the stream takes it.
    pub async fn submit(
        &self,
        routes: &RouteTable,
        events: &[Event],
    ) -> Result<Vec<Admission>, StoreError> {
        let mut earlier = self.earlier(events).await?;
        let payloads: Vec<Bytes> = (events.iter())
            .map(|event| Bytes::from(codec::encode(event)))
            .collect();
        self.store_new_events(events, &payloads, &mut earlier)
            .await?;
        // A duplicate's deliveries again, one at a time, since most are
        // likely stored already; first, as its event is stored before the
        // request's new ones, so a key's deliveries keep their order. Then
        // the new events' deliveries in one batch.
        let (mut new, mut again) = (Vec::new(), Vec::new());
        for (index, event) in events.iter().enumerate() {
            let into = match earlier[index] {
                Earlier::InRequest => continue,
                Earlier::None => &mut new,
                Earlier::Stored => &mut again,
            };
            for target in routes.targets_for(event) {
                into.push((target, event, &payloads[index]));
            }
        }
        self.store_deliveries(&again).await?;
        self.store_new_deliveries(&new).await?;
        Ok(events
            .iter()
            .zip(earlier)
            .map(|(event, earlier)| Admission {
                id: event.id.clone(),
                duplicate: earlier != Earlier::None,
            })
            .collect())
    }

    /// Stores the events no request stored before (`earlier` is `None`),
    /// all of them or none, and waits for JetStream's ack. An event another
    /// request stored meanwhile is read back: with the same content this one
    /// is a duplicate (`Stored`) and the others are stored without it; with
    /// other content the request is refused, with nothing of it stored.
    async fn store_new_events(
        &self,
        events: &[Event],
        payloads: &[Bytes],
        earlier: &mut [Earlier],
    ) -> Result<(), StoreError> {
        let mut pauses = Pauses::new();
        let mut restored = false;
        // Bounded: each pass stores the batch, marks an event stored
        // before, sets the stream up to take batches (once), or waits,
        // while time is left.
        while pauses.left() {
            let new: Vec<usize> = (0..events.len())
                .filter(|&index| earlier[index] == Earlier::None)
                .collect();
            if new.len() < 2 {
                // One event is all or nothing by itself.
                return self.store_each(events, payloads, earlier).await;
            }
            let batch =
                (new.iter()).map(|&index| self.event_message(&events[index], &payloads[index]));
            let Some(refused) = self
                .publish_batch(&self.ingest_batches, pauses.until, batch)
                .await
            else {
                break;
            };
            match refused {
                Ok(()) => return Ok(()),
                Err(BatchRefused::WrongLastSequence | BatchRefused::DuplicateMessageId) => {
                    if !self.mark_stored_before(events, &new, earlier).await? {
                        // A message id an older weir stored with nothing
                        // on its identity's subject: one at a time.
                        return self.store_each(events, payloads, earlier).await;
                    }
                }
                // Once per request: an older node starting again could
                // clear the flag as often as it is set.
                Err(BatchRefused::NotAllowed)
                    if !restored && self.restore_atomic_batches(Stream::Events).await =>
                {
                    restored = true;
                }
                Err(BatchRefused::NotAllowed) => {
                    return self.store_each(events, payloads, earlier).await;
                }
                Err(BatchRefused::Busy) => pauses.wait().await,
                Err(BatchRefused::Failed(message)) => {
                    return Err(NatsError::Request {
                        action: "publish",
                        message,
                    }
                    .into());
                }
            }
        }
        let busy = "the events stream stayed busy (batches in flight, or another request's \
                    event with an identity of this one being stored)";
        Err(NatsError::request("publish", busy).into())
    }

    /// Reads from the stream's leader each of the events `new` whose
    /// identity another request took: other content refuses the request,
    /// the same makes the event a duplicate (`Stored`). Whether any was.
    async fn mark_stored_before(
        &self,
        events: &[Event],
        new: &[usize],
        earlier: &mut [Earlier],
    ) -> Result<bool, StoreError> {
        let reads = new.iter().copied().map(|index| async move {
            let theirs = self.stored_identity(&events[index], Replica::Leader).await;
            theirs.map(|theirs| (index, theirs))
        });
        // A few at a time: a request may hold a thousand events.
        let read: Vec<(usize, Option<Event>)> = futures_util::stream::iter(reads)
            .buffer_unordered(LEADER_READS_AT_ONCE)
            .try_collect()
            .await?;
        let mut any = false;
        for (index, theirs) in read {
            let event = &events[index];
            match theirs {
                Some(theirs) if !theirs.same_content(event) => {
                    return Err(StoreError::IdReused(id_reused(index, event)));
                }
                Some(_) => {
                    earlier[index] = Earlier::Stored;
                    any = true;
                }
                None => {}
            }
        }
        Ok(any)
    }

    /// `event` (`payload`, encoded) as a message of a batch that stores it
    /// only if its identity's subject is still empty and its message id unseen.
    fn event_message(&self, event: &Event, payload: &Bytes) -> Outgoing {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", names::event_msg_id(event).as_str());
        headers.insert("Nats-Expected-Last-Subject-Sequence", "0");
        Outgoing {
            subject: self.names.event_subject(event),
            headers,
            payload: payload.clone(),
        }
    }

    /// Stores each event no request stored before, one message at a time,
    /// and waits for JetStream's acks. An event another request stored
    /// meanwhile is read back: with the same content this one is a
    /// duplicate (`Stored`), with other content the request is refused
    /// (with the others stored).
    async fn store_each(
        &self,
        events: &[Event],
        payloads: &[Bytes],
        earlier: &mut [Earlier],
    ) -> Result<(), StoreError> {
        let new = (events.iter().enumerate()).filter(|(index, _)| earlier[*index] == Earlier::None);
        let stores = new.map(|(index, event)| async move {
            (index, self.store_event(event, &payloads[index]).await)
        });
        let mut taken = Vec::new();
        for (index, stored) in join_all(stores).await {
            if !stored? {
                taken.push(index);
            }
        }
        self.mark_stored_before(events, &taken, earlier).await?;
        // Taken with nothing on the subject: their message ids were seen,
        // as an older weir stored them before identities had subjects.
        for index in taken {
            earlier[index] = Earlier::Stored;
        }
        Ok(())
    }

    /// Sets `which` stream up again to take atomic batches, after an
    /// older weir, starting since this node did, set it up without them
    /// (during a rolling upgrade). True if it takes them now. One request
    /// at a time tries, and none within [`RESTORE_AFTER_FAILURE`] of a
    /// failed try of either stream: the others store their messages one at
    /// a time.
    async fn restore_atomic_batches(&self, which: Stream) -> bool {
        let Ok(mut failed_at) = self.restoring_batches.try_lock() else {
            return false;
        };
        if failed_at.is_some_and(|at| at.elapsed() < RESTORE_AFTER_FAILURE) {
            return false;
        }
        let (stream, what) = match which {
            Stream::Events => (self.names.events_stream(), "events"),
            Stream::Deliveries => (self.names.deliveries_stream(), "deliveries"),
        };
        match connect::allow_atomic_batches(&self.jetstream, &stream).await {
            Ok(changed) => {
                if changed {
                    tracing::warn!(
                        stream,
                        "the {what} stream took no atomic batches (an older weir's start set it \
                         up without them): set it up to take them again"
                    );
                }
                *failed_at = None;
                true
            }
            Err(error) => {
                tracing::warn!(
                    stream,
                    %error,
                    "the {what} stream takes no atomic batches (an older weir's start set it up \
                     without them) and could not be set up to take them again: requests' {what} \
                     are stored one at a time meanwhile"
                );
                *failed_at = Some(Instant::now());
                false
            }
        }
    }

    /// Publishes the deliveries of a request's new events (target, event,
    /// encoded event) as one atomic batch, all or none, and waits for
    /// JetStream's ack: one round trip, and a request that fails midway
    /// leaves none of them. Where a batch is not taken, one at a time
    /// instead: fewer than two, more than a batch holds, a message id seen
    /// (another request storing the same event at once), a stream an older
    /// weir set up without atomic batches that could not be set up again to
    /// take them, a batch that failed otherwise, or a stream that stayed too
    /// busy for one.
    async fn store_new_deliveries(
        &self,
        deliveries: &[(Target, &Event, &Bytes)],
    ) -> Result<(), StoreError> {
        if deliveries.len() < 2 || deliveries.len() > atomic::MAX_MESSAGES {
            return self.store_deliveries(deliveries).await;
        }
        let mut pauses = Pauses::new();
        let mut restored = false;
        // Bounded: each pass stores the batch, or waits, while time is left.
        while pauses.left() {
            let batch = (deliveries.iter()).map(|(target, event, payload)| {
                self.delivery_message(target, event, payload, 0, None)
            });
            let Some(refused) = self
                .publish_batch(&self.delivery_batches, pauses.until, batch)
                .await
            else {
                break;
            };
            match refused {
                Ok(()) => return Ok(()),
                Err(BatchRefused::Busy) => pauses.wait().await,
                Err(BatchRefused::NotAllowed)
                    if !restored && self.restore_atomic_batches(Stream::Deliveries).await =>
                {
                    restored = true;
                }
                // One at a time is safe whatever became of the batch: a
                // delivery it stored is a duplicate by its message id.
                Err(_) => return self.store_deliveries(deliveries).await,
            }
        }
        self.store_deliveries(deliveries).await
    }

    /// Publishes `batch` as one atomic batch once one of `turns` is free,
    /// waiting for it until `until` at the latest: what JetStream answered,
    /// or none if no turn came in time.
    async fn publish_batch(
        &self,
        turns: &tokio::sync::Semaphore,
        until: Instant,
        batch: impl Iterator<Item = Outgoing>,
    ) -> Option<Result<(), BatchRefused>> {
        let _turn = tokio::time::timeout_at(until, turns.acquire()).await.ok()?;
        Some(atomic::publish(&self.client, batch.collect()).await)
    }

    /// Publishes each of `deliveries` (target, event, encoded event) and
    /// waits for JetStream's acks. One whose message id another request's
    /// publish has in process (both storing the same event) is published
    /// again, as an event is: then it is stored, or a duplicate.
    async fn store_deliveries(
        &self,
        deliveries: &[(Target, &Event, &Bytes)],
    ) -> Result<(), StoreError> {
        let mut pauses = Pauses::new();
        let mut pending: Vec<usize> = (0..deliveries.len()).collect();
        // Bounded: each pass publishes what is left, or waits, while time is left.
        while pauses.left() {
            let mut acks = Vec::with_capacity(pending.len());
            for &index in &pending {
                let (target, event, payload) = &deliveries[index];
                acks.push(
                    self.publish_delivery(target, event, payload, 0, None)
                        .await?,
                );
            }
            let acked = join_all(acks.into_iter().map(IntoFuture::into_future)).await;
            let mut again = Vec::new();
            for (index, acked) in pending.into_iter().zip(acked) {
                match acked {
                    Ok(_) => {}
                    Err(error) if in_process(&error) => again.push(index),
                    Err(error) => return Err(NatsError::request("publish", error).into()),
                }
            }
            if again.is_empty() {
                return Ok(());
            }
            pending = again;
            pauses.wait().await;
        }
        let busy = "another request's delivery of an event of this one is still being stored";
        Err(NatsError::request("publish", busy).into())
    }

    /// Stores `event` (`payload`, encoded) only if its identity's subject
    /// is still empty and its message id unseen: whether it was stored, or
    /// another request's event with its identity was.
    async fn store_event(&self, event: &Event, payload: &Bytes) -> Result<bool, StoreError> {
        let subject = self.names.event_subject(event);
        let mut pauses = Pauses::new();
        // Bounded: each pass waits, while time is left.
        while pauses.left() {
            let publish = PublishMessage::build()
                .payload(payload.clone())
                .message_id(names::event_msg_id(event))
                .expected_last_subject_sequence(0);
            let ack = (self.jetstream.send_publish(subject.clone(), publish).await)
                .map_err(|e| NatsError::request("publish", e))?;
            match ack.await {
                Ok(ack) => return Ok(!ack.duplicate),
                Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
                    return Ok(false);
                }
                Err(error) if in_process(&error) => pauses.wait().await,
                Err(error) => return Err(NatsError::request("publish", error).into()),
            }
        }
        let busy = "another request's event with its identity is still being stored";
        Err(NatsError::request("publish", busy).into())
    }

    /// Whether each of `events` has the identity of one stored before, or
    /// of one earlier in the request; an identity stored with other
    /// content refuses the request. Reads each identity's event directly.
    async fn earlier(&self, events: &[Event]) -> Result<Vec<Earlier>, StoreError> {
        // A direct get, which any replica answers (so all at once: they
        // spread over the servers): one that lags behind misses only an
        // event stored a moment ago, which storing the event then finds.
        let reads = (events.iter()).map(|event| self.stored_identity(event, Replica::Any));
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

    /// The stored event with `event`'s identity, if there is one, as
    /// `replica` knows it.
    async fn stored_identity(
        &self,
        event: &Event,
        replica: Replica,
    ) -> Result<Option<Event>, StoreError> {
        let subject = self.names.event_subject(event);
        let read = match replica {
            Replica::Any => match self.events.direct_get_last_for_subject(&subject).await {
                Ok(stored) => Ok(Some(stored.payload)),
                Err(error) if error.kind() == DirectGetErrorKind::NotFound => Ok(None),
                Err(error) => Err(NatsError::request("read an event's identity", error)),
            },
            Replica::Leader => match self.events.get_last_raw_message_by_subject(&subject).await {
                Ok(stored) => Ok(Some(stored.payload)),
                Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
                Err(error) => Err(NatsError::request("read an event's identity", error)),
            },
        };
        match read? {
            Some(payload) => codec::decode(&payload)
                .map(Some)
                .map_err(|error| StoreError::Corrupt(format!("event on {subject}: {error}"))),
            None => Ok(None),
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
        let message = self.delivery_message(target, event, payload, generation, again);
        let publish = (PublishMessage::build())
            .payload(message.payload)
            .headers(message.headers);
        self.jetstream
            .send_publish(message.subject, publish)
            .await
            .map_err(|e| NatsError::request("publish", e))
    }

    /// The message of a delivery of `event` (`payload`, encoded) to
    /// `target` in replay `generation`: on its feed's subject, its message
    /// id the delivery's, or with `again` appended for one published anew.
    fn delivery_message(
        &self,
        target: &Target,
        event: &Event,
        payload: &Bytes,
        generation: u32,
        again: Option<String>,
    ) -> Outgoing {
        let id = DeliveryId {
            plugin: &target.plugin,
            event,
            generation,
        };
        let message_id = match again {
            Some(again) => format!("{}.{again}", id.msg_id()),
            None => id.msg_id(),
        };
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", message_id.as_str());
        if generation > 0 {
            headers.insert(GENERATION_HEADER, generation.to_string().as_str());
        }
        let feed = Feed::of(event, target.ordered);
        Outgoing {
            subject: (self.names).delivery_subject(&target.plugin, feed, &event.tenant),
            headers,
            payload: payload.clone(),
        }
    }
}

/// The pauses before an event, or a batch of events, that JetStream found
/// busy is sent again: doubling from the first to the longest, for
/// [`IN_PROCESS_FOR`] in all.
struct Pauses {
    until: Instant,
    next: Duration,
}

impl Pauses {
    fn new() -> Pauses {
        Pauses {
            until: Instant::now() + IN_PROCESS_FOR,
            next: IN_PROCESS_FIRST_PAUSE,
        }
    }

    /// Whether there is time left to send it again.
    fn left(&self) -> bool {
        Instant::now() < self.until
    }

    /// Waits out the next pause.
    async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(IN_PROCESS_LONGEST_PAUSE);
    }
}

/// Whether JetStream refused a publish because another with its message id
/// is being stored.
fn in_process(error: &PublishError) -> bool {
    let jetstream = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<async_nats::jetstream::Error>());
    jetstream
        .is_some_and(|error| error.error_code() == ErrorCode::STREAM_DUPLICATE_MESSAGE_CONFLICT)
}

/// Waits until JetStream has stored every message `acks` stands for; says
/// of each whether it was a duplicate (its message id seen before).
pub(super) async fn stored(acks: Vec<PublishAckFuture>) -> Result<Vec<bool>, NatsError> {
    let acks = try_join_all(acks.into_iter().map(IntoFuture::into_future))
        .await
        .map_err(|e| NatsError::request("publish", e))?;
    Ok(acks.iter().map(|ack| ack.duplicate).collect())
}
