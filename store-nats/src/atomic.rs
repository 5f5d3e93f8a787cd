//! JetStream atomic batch publish (server 2.12, ADR-50): every message of a
//! batch is stored, or none is. The messages carry a batch id and sequence;
//! the last one commits and is answered with the stream's acknowledgement or
//! the error that abandoned the whole batch.

use async_nats::HeaderMap;
use bytes::Bytes;
use serde::Deserialize;

/// The most messages JetStream takes in one atomic batch.
pub const MAX_MESSAGES: usize = 1000;

/// JetStream's error code for a `Nats-Expected-Last-Subject-Sequence` that
/// did not hold: someone wrote the subject since.
const WRONG_LAST_SEQUENCE: u64 = 10071;
/// A message of the batch has a `Nats-Msg-Id` the stream has seen.
const DUPLICATE_MESSAGE_ID: u64 = 10201;
/// Another publish with a message id of the batch is being stored.
const MESSAGE_ID_IN_PROCESS: u64 = 10158;
/// The stream has too many batches in flight.
const TOO_MANY_IN_FLIGHT: u64 = 10210;
/// The stream takes no atomic batches.
const NOT_ALLOWED: u64 = 10174;

/// One message of a batch.
pub struct Outgoing {
    /// Its subject.
    pub subject: String,
    /// Its headers; the batch headers are added.
    pub headers: HeaderMap,
    /// Its payload.
    pub payload: Bytes,
}

/// Why a batch was not stored. JetStream stores none of a batch it refuses;
/// a batch `Failed` for the client's reasons (its acknowledgement lost, say)
/// may have been stored.
#[derive(Debug)]
pub enum BatchRefused {
    /// An expected last sequence did not hold.
    WrongLastSequence,
    /// A message id of the batch was seen before.
    DuplicateMessageId,
    /// The stream is busy with other batches, or with another publish of a
    /// message id of this one: the same batch may be stored a moment later.
    Busy,
    /// The stream takes no atomic batches (a weir that set it up before
    /// ingest used them may have updated it since).
    NotAllowed,
    /// Anything else, with JetStream's or the client's message.
    Failed(String),
}

impl std::fmt::Display for BatchRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchRefused::WrongLastSequence => {
                f.write_str("an expected last sequence did not hold")
            }
            BatchRefused::DuplicateMessageId => f.write_str("a message id was seen before"),
            BatchRefused::Busy => f.write_str(
                "the stream is busy: too many batches in flight, or a message id of the batch in process",
            ),
            BatchRefused::NotAllowed => f.write_str("the stream takes no atomic batches"),
            BatchRefused::Failed(message) => f.write_str(message),
        }
    }
}

#[derive(Deserialize)]
struct Reply {
    error: Option<ApiError>,
    count: Option<usize>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// Publishes `messages` (at least one) as one atomic batch.
pub async fn publish(
    client: &async_nats::Client,
    messages: Vec<Outgoing>,
) -> Result<(), BatchRefused> {
    let failed = |e: &dyn std::fmt::Display| BatchRefused::Failed(e.to_string());
    let id = uuid::Uuid::now_v7().simple().to_string();
    let total = messages.len();
    let mut reply = None;
    for (index, mut message) in messages.into_iter().enumerate() {
        let sequence = index + 1;
        message.headers.insert("Nats-Batch-Id", id.as_str());
        message
            .headers
            .insert("Nats-Batch-Sequence", sequence.to_string().as_str());
        if sequence < total {
            client
                .publish_with_headers(message.subject, message.headers, message.payload)
                .await
                .map_err(|e| failed(&e))?;
        } else {
            message.headers.insert("Nats-Batch-Commit", "1");
            reply = Some(
                client
                    .request_with_headers(message.subject, message.headers, message.payload)
                    .await
                    .map_err(|e| failed(&e))?,
            );
        }
    }
    let reply = reply.ok_or_else(|| BatchRefused::Failed("an empty batch".to_owned()))?;
    let reply: Reply = serde_json::from_slice(&reply.payload)
        .map_err(|e| BatchRefused::Failed(format!("unreadable batch acknowledgement: {e}")))?;
    match (reply.error, reply.count) {
        (None, Some(count)) if count == total => Ok(()),
        (None, count) => Err(BatchRefused::Failed(format!(
            "the batch acknowledgement counts {count:?} of {total} messages"
        ))),
        (Some(error), _) => Err(refusal(error.err_code, &error.description)),
    }
}

/// What JetStream's error `code` (with its `description`) refusing a batch means.
fn refusal(code: u64, description: &str) -> BatchRefused {
    match code {
        WRONG_LAST_SEQUENCE => BatchRefused::WrongLastSequence,
        DUPLICATE_MESSAGE_ID => BatchRefused::DuplicateMessageId,
        MESSAGE_ID_IN_PROCESS | TOO_MANY_IN_FLIGHT => BatchRefused::Busy,
        NOT_ALLOWED => BatchRefused::NotAllowed,
        code => BatchRefused::Failed(format!("{description} (error {code})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes of ADR-50 and JetStream's errors, as weir acts on them.
    #[test]
    fn each_refusal_code_is_read_as_what_it_means() {
        let read = |code| refusal(code, "described");
        assert!(matches!(read(10071), BatchRefused::WrongLastSequence));
        assert!(matches!(read(10201), BatchRefused::DuplicateMessageId));
        assert!(matches!(read(10158), BatchRefused::Busy));
        assert!(matches!(read(10210), BatchRefused::Busy));
        assert!(matches!(read(10174), BatchRefused::NotAllowed));
        let BatchRefused::Failed(message) = read(10199) else {
            panic!("a batch too large is no refusal weir retries");
        };
        assert_eq!(message, "described (error 10199)");
    }
}
