//! Dead letters on NATS: a delivery that ran out of attempts, failed for
//! good or emitted invalid events goes to the dead-letter stream with why,
//! and `GET /v1/dead-letters` reads them back from it.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::message::Info;
use async_nats::jetstream::message::PublishMessage;
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use super::names::DeliveryId;
use super::{Nats, NatsError};
use crate::backend::{BackendError, DeadLetterPage, DeadListing};
use crate::queue::{DeadFilter, codec};

/// Dead letters read from the stream per request while listing.
const FETCH: usize = 256;

/// How long JetStream keeps a listing's consumer if weir does not delete it.
const LISTING_IDLE: Duration = Duration::from_secs(30);

/// Messages at the end of the dead-letter stream the newest letters are
/// looked for in: the stream is in the order deliveries died, so the newest
/// are there, and the read stays bounded however long the stream is.
const NEWEST_WINDOW: u64 = 1000;

/// What a failed listing step was doing.
const LISTING: &str = "list dead letters";

impl Nats {
    /// Stores dead delivery `id` after `attempts`, once (by message id).
    pub async fn dead_letter(
        &self,
        id: &DeliveryId<'_>,
        attempts: u32,
        reason: &str,
        message: &str,
    ) -> Result<(), NatsError> {
        let mut headers = HeaderMap::new();
        headers.insert("Weir-Plugin", id.plugin);
        headers.insert("Weir-Reason", reason);
        // Header values are one line.
        headers.insert("Weir-Error", message.replace(['\r', '\n'], " ").as_str());
        headers.insert("Weir-Node", self.node());
        headers.insert("Weir-Attempts", attempts.to_string().as_str());
        headers.insert("Weir-Generation", id.generation.to_string().as_str());
        let publish = PublishMessage::build()
            .headers(headers)
            .payload(codec::encode(id.event).into())
            .message_id(id.msg_id());
        self.jetstream
            .send_publish(self.names.dead_subject(id.plugin), publish)
            .await
            .map_err(|e| NatsError::request("dead letter", e))?
            .await
            .map_err(|e| NatsError::request("dead letter", e))?;
        Ok(())
    }

    /// The page of dead letters `page` asks for; its cursor is the stream
    /// sequence number the next page starts at.
    pub async fn dead_letters(&self, page: &DeadLetterPage) -> Result<DeadListing, BackendError> {
        let start = match page.cursor.as_deref() {
            None => DeliverPolicy::All,
            Some(cursor) => DeliverPolicy::ByStartSequence {
                start_sequence: u64::from_be_bytes(
                    cursor.try_into().map_err(|_| BackendError::BadCursor)?,
                ),
            },
        };
        let subject = match &page.filter.plugin {
            Some(plugin) => self.names.dead_subject(plugin),
            None => self.names.dead_subjects(),
        };
        let consumer = self
            .dead
            .create_consumer(pull::Config {
                filter_subject: subject,
                deliver_policy: start,
                ack_policy: AckPolicy::None,
                inactive_threshold: LISTING_IDLE,
                ..Default::default()
            })
            .await
            .map_err(|e| NatsError::request(LISTING, e))?;
        let listing = self.read_page(&consumer, page).await;
        let name = consumer.cached_info().name.clone();
        if let Err(error) = self.dead.delete_consumer(&name).await {
            tracing::warn!(%error, "cannot remove a dead-letter listing's consumer; JetStream does after {LISTING_IDLE:?}");
        }
        Ok(listing?)
    }

    /// The `limit` letters that died last, latest first, from the last
    /// [`NEWEST_WINDOW`] messages of the stream.
    pub async fn newest_dead_letters(&self, limit: usize) -> Result<Vec<Value>, BackendError> {
        let state = self
            .dead
            .get_info()
            .await
            .map_err(|e| NatsError::request(LISTING, e))?
            .state;
        if state.messages == 0 {
            return Ok(Vec::new());
        }
        let start = state
            .last_sequence
            .saturating_sub(NEWEST_WINDOW - 1)
            .max(state.first_sequence);
        let tail = DeadLetterPage {
            filter: DeadFilter::default(),
            cursor: Some(start.to_be_bytes().to_vec()),
            limit: NEWEST_WINDOW as usize,
        };
        let mut letters = self.dead_letters(&tail).await?.letters;
        letters.reverse();
        letters.truncate(limit);
        Ok(letters)
    }

    /// Reads matches of `page` from `consumer` until the page is full or the
    /// stream ends.
    async fn read_page(
        &self,
        consumer: &PullConsumer,
        page: &DeadLetterPage,
    ) -> Result<DeadListing, NatsError> {
        let mut listing = DeadListing::default();
        let mut left = consumer.cached_info().num_pending;
        while left > 0 {
            let mut batch = consumer
                .fetch()
                .max_messages(FETCH)
                .messages()
                .await
                .map_err(|e| NatsError::request(LISTING, e))?;
            let mut read = 0;
            while let Some(message) = batch
                .try_next()
                .await
                .map_err(|e| NatsError::request(LISTING, e))?
            {
                read += 1;
                let info = message.info().map_err(|e| NatsError::request(LISTING, e))?;
                left = info.pending;
                if let Some(letter) = view(&message, &info, &page.filter) {
                    listing.letters.push(letter);
                }
                if listing.letters.len() == page.limit {
                    let next = info.stream_sequence + 1;
                    listing.next = (left > 0).then(|| next.to_be_bytes().to_vec());
                    return Ok(listing);
                }
            }
            if read == 0 {
                break;
            }
        }
        Ok(listing)
    }
}

/// A dead letter as the API shows it, if it matches `filter`.
fn view(message: &Message, info: &Info<'_>, filter: &DeadFilter) -> Option<Value> {
    let event = match codec::decode(&message.payload) {
        Ok(event) => event,
        Err(error) => {
            tracing::error!(%error, sequence = info.stream_sequence, "a dead letter on the stream is unreadable; the listing skips it");
            return None;
        }
    };
    let matches = filter
        .tenant
        .as_ref()
        .is_none_or(|tenant| *tenant == event.tenant)
        && filter.kind.as_ref().is_none_or(|kind| *kind == event.kind);
    if !matches {
        return None;
    }
    let header = |name: &str| {
        (message.headers.as_ref())
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    };
    let number = |name: &str| header(name).and_then(|value| value.parse::<u64>().ok());
    let dead_at_ms = (info.published.unix_timestamp_nanos() / 1_000_000) as u64;
    Some(json!({
        "id": event.id,
        "plugin": header("Weir-Plugin"),
        "tenant": event.tenant,
        "type": event.kind,
        "source": event.source,
        "attempts": number("Weir-Attempts"),
        "generation": number("Weir-Generation"),
        "reason": header("Weir-Reason"),
        "error": header("Weir-Error"),
        "node": header("Weir-Node"),
        "dead_at": crate::api::rfc3339(dead_at_ms),
    }))
}
