//! One feed's continuous pull: a subscription kept for as long as its pull
//! loop runs, to which one pull request at a time is answered. A pull
//! through the client's batch API subscribes to a fresh inbox and leaves it
//! again, and the servers of a cluster tell each other of every
//! subscription: per pull, under load one per delivery or two.

use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::consumer::pull::BatchConfig;
use async_nats::jetstream::{self, Message};
use async_nats::{StatusCode, Subject, Subscriber};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::NatsError;

/// How long past its expiry a request's end is waited for: the server
/// answers an expired request, unless it lost it (its consumer's leader
/// changed).
const GRACE: Duration = Duration::from_secs(2);

/// A feed's consumer and the subscription its deliveries arrive on.
pub(super) struct FeedPull {
    consumer: PullConsumer,
    context: jetstream::Context,
    inbox: Subject,
    subscription: Subscriber,
    /// How many deliveries the request asked last may still bring.
    left: usize,
    /// When it has surely ended.
    until: Instant,
}

impl FeedPull {
    /// Subscribes to an inbox of its own for `consumer`'s deliveries.
    pub(super) async fn open(
        context: &jetstream::Context,
        consumer: PullConsumer,
    ) -> Result<FeedPull, NatsError> {
        let client = context.client();
        let inbox = Subject::from(client.new_inbox());
        let subscription = (client.subscribe(inbox.clone()).await)
            .map_err(|e| NatsError::request("subscribe to a feed's deliveries", e))?;
        Ok(FeedPull {
            consumer,
            context: context.clone(),
            inbox,
            subscription,
            left: 0,
            until: Instant::now(),
        })
    }

    /// Asks for up to `count` deliveries, handed out as they come, for up to
    /// `expires`.
    pub(super) async fn ask(&mut self, count: usize, expires: Duration) -> Result<(), NatsError> {
        let request = BatchConfig {
            batch: count,
            expires: Some(expires),
            ..Default::default()
        };
        (self
            .consumer
            .request_batch(request, self.inbox.clone())
            .await)
            .map_err(|e| NatsError::request("pull", e))?;
        self.left = count;
        self.until = Instant::now() + expires + GRACE;
        Ok(())
    }

    /// The next delivery the last request brings; `None` once it has ended:
    /// every delivery asked for came, it expired, or the server ended it
    /// (an error, such as a change of the consumer's leader).
    pub(super) async fn next(&mut self) -> Result<Option<Message>, NatsError> {
        while self.left > 0 {
            let message = tokio::select! {
                _ = tokio::time::sleep_until(self.until) => break,
                message = self.subscription.next() => message,
            };
            let Some(message) = message else {
                return Err(NatsError::request("pull", "the subscription ended"));
            };
            match message.status.unwrap_or(StatusCode::OK) {
                StatusCode::OK => {
                    self.left -= 1;
                    let context = self.context.clone();
                    return Ok(Some(Message { message, context }));
                }
                StatusCode::IDLE_HEARTBEAT => {}
                StatusCode::TIMEOUT | StatusCode::NOT_FOUND => break,
                status => {
                    self.left = 0;
                    let why = message.description.unwrap_or_default();
                    return Err(NatsError::request("pull", format!("{status} {why}")));
                }
            }
        }
        self.left = 0;
        Ok(None)
    }
}
