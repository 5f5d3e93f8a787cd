//! Dead letters on NATS: a delivery that ran out of attempts, failed for
//! good or emitted invalid events goes to the dead-letter stream with why,
//! and `GET /v1/dead-letters` reads them back from it.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use bytes::Bytes;
use futures_util::TryStreamExt;

use super::names::DeliveryId;
use super::{Nats, NatsError};
use weir_core::store::DeadFilter;
use weir_core::store::StoreError;
use weir_core::store::{DeadLetter, DeadLetterPage, DeadListing};
use weir_event::codec;

/// Dead letters read from the stream per request while listing.
const FETCH: usize = 256;

/// How long JetStream keeps a listing's consumer if weir does not delete it.
const LISTING_IDLE: Duration = Duration::from_secs(30);

/// Messages at the end of the dead-letter stream the newest letters are
/// looked for in: the stream is in the order deliveries died, so the newest
/// are there, and the read stays bounded however long the stream is.
const NEWEST_WINDOW: u64 = 1000;

/// Fetches a scan makes before a failing one fails the request, and the
/// pause between them: together about two seconds.
const FETCH_TRIES: usize = 10;
const FETCH_PAUSE: Duration = Duration::from_millis(200);

/// What a failed listing step was doing.
const LISTING: &str = "list dead letters";

impl Nats {
    /// Stores dead delivery `id` after `attempts`, once (by message id)
    /// for the delivery message at stream sequence `delivery`: a revived
    /// letter's delivery is a new message, and may die again.
    pub async fn dead_letter(
        &self,
        id: &DeliveryId<'_>,
        delivery: u64,
        attempts: u32,
        reason: &str,
        message: &str,
    ) -> Result<(), NatsError> {
        let mut headers = self.dead_headers(id.plugin, reason, message);
        headers.insert("Weir-Attempts", attempts.to_string().as_str());
        headers.insert("Weir-Generation", id.generation.to_string().as_str());
        let publish = PublishMessage::build()
            .headers(headers)
            .payload(codec::encode(id.event).into())
            .message_id(format!("{}.d{delivery}", id.msg_id()));
        let subject = self.names.dead_subject(id.plugin, &id.event.id);
        self.publish_dead(subject, publish).await
    }

    /// Sets aside a delivery to `plugin` that cannot be read, `payload` as
    /// it was on the deliveries stream at `sequence`, with why: there is
    /// no event to show or queue again, so the listings skip it, but its
    /// bytes are kept for as long as dead letters are.
    pub async fn dead_unreadable(
        &self,
        plugin: &str,
        sequence: u64,
        payload: Bytes,
        error: &str,
    ) -> Result<(), NatsError> {
        let mut headers = self.dead_headers(plugin, UNREADABLE, error);
        headers.insert("Weir-Delivery-Sequence", sequence.to_string().as_str());
        let publish = PublishMessage::build()
            .headers(headers)
            .payload(payload)
            .message_id(format!("unreadable.{plugin}.{sequence}"));
        let subject = self.names.unreadable_subject(plugin);
        self.publish_dead(subject, publish).await
    }

    /// What every dead letter says: its plugin, why in a word and for the
    /// operator, and the node that gave up on it.
    fn dead_headers(&self, plugin: &str, reason: &str, message: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("Weir-Plugin", plugin);
        headers.insert("Weir-Reason", reason);
        // Header values are one line.
        headers.insert("Weir-Error", message.replace(['\r', '\n'], " ").as_str());
        headers.insert("Weir-Node", self.node());
        headers
    }

    /// Stores a dead letter on `subject`, and waits until JetStream has.
    async fn publish_dead(
        &self,
        subject: String,
        publish: PublishMessage,
    ) -> Result<(), NatsError> {
        self.jetstream
            .send_publish(subject, publish)
            .await
            .map_err(|e| NatsError::request("dead letter", e))?
            .await
            .map_err(|e| NatsError::request("dead letter", e))?;
        Ok(())
    }

    /// The page of dead letters `page` asks for; its cursor is the stream
    /// sequence number the next page starts at.
    pub async fn dead_letters(&self, page: &DeadLetterPage) -> Result<DeadListing, StoreError> {
        let start = match page.cursor.as_deref() {
            None => DeliverPolicy::All,
            Some(cursor) => DeliverPolicy::ByStartSequence {
                start_sequence: u64::from_be_bytes(
                    cursor.try_into().map_err(|_| StoreError::BadCursor)?,
                ),
            },
        };
        let mut listing = DeadListing::default();
        let subjects = self.names.dead_of_plugin(page.filter.plugin.as_deref());
        self.scan_dead(subjects, start, |letter, left| {
            let Some(view) = letter.view(&page.filter) else {
                return true;
            };
            listing.letters.push(view);
            if listing.letters.len() < page.limit {
                return true;
            }
            let next = letter.sequence + 1;
            listing.next = (left > 0).then(|| next.to_be_bytes().to_vec());
            false
        })
        .await?;
        Ok(listing)
    }

    /// Reads the dead letters on `subjects` from `start` on, oldest first,
    /// through a consumer of its own, handing each to `visit` with how many
    /// are left after it, until `visit` says stop (false).
    pub(super) async fn scan_dead(
        &self,
        subjects: Vec<String>,
        start: DeliverPolicy,
        visit: impl FnMut(Letter, u64) -> bool,
    ) -> Result<(), NatsError> {
        scan(&self.dead, subjects, start, LISTING, visit).await
    }

    /// The `limit` letters that died last, latest first, read back from the
    /// end of the stream one message at a time. It creates no consumer: the
    /// dashboard asks every few seconds, and on a cluster each consumer is a
    /// replicated create and delete. It looks at no more than
    /// [`NEWEST_WINDOW`] sequence numbers, so a stream with many discarded
    /// letters (gaps) still answers quickly.
    pub async fn newest_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let state = self
            .dead
            .get_info()
            .await
            .map_err(|e| NatsError::request(LISTING, e))?
            .state;
        let mut letters = Vec::new();
        if state.messages == 0 {
            return Ok(letters);
        }
        let oldest = state
            .last_sequence
            .saturating_sub(NEWEST_WINDOW - 1)
            .max(state.first_sequence);
        for sequence in (oldest..=state.last_sequence).rev() {
            if letters.len() == limit {
                break;
            }
            let message = match self.dead.get_raw_message(sequence).await {
                Ok(message) => message,
                // A discarded or revived letter leaves a gap.
                Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => continue,
                Err(error) => return Err(NatsError::request(LISTING, error).into()),
            };
            if let Some(letter) = view(
                &message.payload,
                Some(&message.headers),
                sequence,
                unix_ms(message.time),
                &DeadFilter::default(),
            ) {
                letters.push(letter);
            }
        }
        Ok(letters)
    }
}

/// Reads the messages of `stream` on `subjects` from `start` on, oldest
/// first, through a consumer of its own, handing each to `visit` with how
/// many are left after it, until `visit` says stop (false); an error names
/// `action`.
pub(super) async fn scan(
    stream: &Stream,
    subjects: Vec<String>,
    start: DeliverPolicy,
    action: &'static str,
    mut visit: impl FnMut(Letter, u64) -> bool,
) -> Result<(), NatsError> {
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subjects: subjects,
            deliver_policy: start,
            ack_policy: AckPolicy::None,
            inactive_threshold: LISTING_IDLE,
            // A scan lives for one request: one copy in memory is enough,
            // and spares a busy cluster a replicated create and delete.
            num_replicas: 1,
            memory_storage: true,
            ..Default::default()
        })
        .await
        .map_err(|e| NatsError::request(action, e))?;
    let scanned = read_all(&consumer, action, &mut visit).await;
    let name = consumer.cached_info().name.clone();
    if let Err(error) = stream.delete_consumer(&name).await {
        tracing::warn!(%error, "cannot remove a scan's consumer ({action}); JetStream does after {LISTING_IDLE:?}");
    }
    scanned
}

/// Hands `consumer`'s messages to `visit` until it says stop or none are left.
/// A fetch that fails is tried again, up to [`FETCH_TRIES`] times in all: on a
/// busy cluster a consumer just created answered 503 for a moment.
async fn read_all(
    consumer: &PullConsumer,
    action: &'static str,
    visit: &mut impl FnMut(Letter, u64) -> bool,
) -> Result<(), NatsError> {
    let mut left = consumer.cached_info().num_pending;
    let mut failed = 0;
    while left > 0 {
        match read_batch(consumer, action, visit, &mut left).await {
            Ok(Batch::Stopped) => return Ok(()),
            Ok(Batch::Read(0)) => break,
            Ok(Batch::Read(_)) => {}
            Err(error) => {
                failed += 1;
                if failed >= FETCH_TRIES {
                    return Err(error);
                }
                tracing::debug!(%error, "a fetch to {action} failed; trying again");
                tokio::time::sleep(FETCH_PAUSE).await;
            }
        }
    }
    Ok(())
}

/// How one fetch ended.
enum Batch {
    /// `visit` said stop.
    Stopped,
    /// This many messages were read.
    Read(usize),
}

/// One fetch of up to [`FETCH`] messages, each handed to `visit`; `left`
/// follows how many the consumer has after each.
async fn read_batch(
    consumer: &PullConsumer,
    action: &'static str,
    visit: &mut impl FnMut(Letter, u64) -> bool,
    left: &mut u64,
) -> Result<Batch, NatsError> {
    let mut batch = consumer
        .fetch()
        .max_messages(FETCH)
        .messages()
        .await
        .map_err(|e| NatsError::request(action, e))?;
    let mut read = 0;
    while let Some(message) = batch
        .try_next()
        .await
        .map_err(|e| NatsError::request(action, e))?
    {
        read += 1;
        let info = message.info().map_err(|e| NatsError::request(action, e))?;
        *left = info.pending;
        let letter = Letter {
            sequence: info.stream_sequence,
            dead_at_ms: unix_ms(info.published),
            headers: message.headers.clone(),
            payload: message.payload.clone(),
        };
        if !visit(letter, *left) {
            return Ok(Batch::Stopped);
        }
    }
    Ok(Batch::Read(read))
}

/// One message of the dead-letter stream (or of the held stream).
pub(super) struct Letter {
    /// Its stream sequence number.
    pub(super) sequence: u64,
    dead_at_ms: u64,
    headers: Option<HeaderMap>,
    /// The dead delivery's event, encoded.
    pub(super) payload: bytes::Bytes,
}

impl Letter {
    /// The value of header `name`.
    pub(super) fn header(&self, name: &str) -> Option<String> {
        (self.headers.as_ref())
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    }

    /// The letter as every store reports it, if it matches `filter`.
    fn view(&self, filter: &DeadFilter) -> Option<DeadLetter> {
        view(
            &self.payload,
            self.headers.as_ref(),
            self.sequence,
            self.dead_at_ms,
            filter,
        )
    }
}

/// The reason of a delivery set aside because it cannot be read.
const UNREADABLE: &str = "unreadable";

/// The dead letter stored at `sequence` as every store reports it, if it
/// matches `filter`.
fn view(
    payload: &[u8],
    headers: Option<&HeaderMap>,
    sequence: u64,
    dead_at_ms: u64,
    filter: &DeadFilter,
) -> Option<DeadLetter> {
    let header = |name: &str| {
        headers
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    };
    // Set aside as it was, with no event: nothing to show (`dead_unreadable`).
    if header("Weir-Reason").as_deref() == Some(UNREADABLE) {
        return None;
    }
    let event = match codec::decode(payload) {
        Ok(event) => event,
        Err(error) => {
            tracing::error!(%error, sequence, "a dead letter on the stream is unreadable; the listing skips it");
            return None;
        }
    };
    if !filter.takes(&event) {
        return None;
    }
    let number = |name: &str| header(name).and_then(|value| value.parse::<u64>().ok());
    Some(DeadLetter {
        id: event.id,
        plugin: header("Weir-Plugin"),
        tenant: event.tenant,
        kind: event.kind,
        source: event.source,
        attempts: number("Weir-Attempts"),
        error: header("Weir-Error"),
        sequence: None,
        replays: None,
        history: None,
        generation: number("Weir-Generation"),
        reason: header("Weir-Reason"),
        node: header("Weir-Node"),
        dead_at: Some(weir_event::rfc3339(dead_at_ms)),
    })
}

/// When JetStream stored a message, in milliseconds since the epoch.
fn unix_ms(stored: async_nats::datetime::DateTime) -> u64 {
    (stored.unix_timestamp_nanos() / 1_000_000) as u64
}
