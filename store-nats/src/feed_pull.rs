//! One feed's continuous pull: a subscription kept from one pull request to
//! the next, to which one request at a time is answered. A pull through the
//! client's batch API subscribes to a fresh inbox and leaves it again, and
//! the servers of a cluster tell each other of every subscription: per
//! pull, under load one per delivery or two.
//!
//! A request whose end does not come (its consumer's leader changed, the
//! connection broke) is given up with its subscription: what it still
//! brings goes to an inbox nobody reads, and JetStream hands that out again
//! after its ack wait, rather than into a window that has no room for it.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::consumer::pull::BatchConfig;
use async_nats::jetstream::{self, Message};
use async_nats::{StatusCode, Subject, Subscriber};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::NatsError;

/// How long one request waits for a delivery before asking again, while its
/// feed is busy; a request that brought nothing waits twice as long as the one
/// before, up to [`IDLE_POLL`]: a plugin has 36 feeds, most of them idle at
/// any time. A delivery published meanwhile is handed to the waiting request
/// at once; only a request lost with its consumer's leader waits out its
/// expiry.
const POLL: Duration = Duration::from_secs(1);
const IDLE_POLL: Duration = Duration::from_secs(8);

/// How long past its expiry a request's end is waited for: the server
/// answers an expired request, unless it lost it.
const GRACE: Duration = Duration::from_secs(2);

/// A feed's consumer and the subscription its deliveries arrive on.
pub(super) struct FeedPull {
    consumer: PullConsumer,
    context: jetstream::Context,
    /// The inbox and its subscription; `None` once a request was given up.
    inbox: Option<(Subject, Subscriber)>,
    /// How many deliveries the request asked last may still bring.
    left: usize,
    /// When it has surely ended.
    until: Instant,
    /// How long the next request waits: [`POLL`], doubled after each that
    /// brought nothing.
    expires: Duration,
}

impl FeedPull {
    /// The pull of `consumer`'s deliveries; it subscribes at its first request.
    pub(super) fn new(context: &jetstream::Context, consumer: PullConsumer) -> FeedPull {
        FeedPull {
            consumer,
            context: context.clone(),
            inbox: None,
            left: 0,
            until: Instant::now(),
            expires: POLL,
        }
    }

    /// Asks for up to `count` deliveries, handed out as they come, for as
    /// long as the feed's last requests found it busy. Refused while the client is not connected: a request it
    /// queued meanwhile would reach the server after it was given up.
    pub(super) async fn ask(&mut self, count: usize) -> Result<(), NatsError> {
        let client = self.context.client();
        if client.connection_state() != State::Connected {
            return Err(NatsError::request("pull", "not connected to the cluster"));
        }
        let inbox = match self.inbox.take() {
            Some((inbox, subscription)) => (inbox, subscription),
            None => {
                let inbox = Subject::from(client.new_inbox());
                let subscription = (client.subscribe(inbox.clone()).await)
                    .map_err(|e| NatsError::request("subscribe to a feed's deliveries", e))?;
                (inbox, subscription)
            }
        };
        let request = BatchConfig {
            batch: count,
            expires: Some(self.expires),
            ..Default::default()
        };
        (self.consumer.request_batch(request, inbox.0.clone()).await)
            .map_err(|e| NatsError::request("pull", e))?;
        self.inbox = Some(inbox);
        self.left = count;
        self.until = Instant::now() + self.expires + GRACE;
        self.expires = (self.expires * 2).min(IDLE_POLL);
        Ok(())
    }

    /// The next delivery the last request brings; `None` once it has ended:
    /// every delivery asked for came, or it expired. An error (from the
    /// server, such as a change of the consumer's leader) ends it too.
    pub(super) async fn next(&mut self) -> Result<Option<Message>, NatsError> {
        while self.left > 0 {
            let Some((_, subscription)) = self.inbox.as_mut() else {
                break;
            };
            let message = tokio::select! {
                _ = tokio::time::sleep_until(self.until) => {
                    // Its end never came: given up, with its inbox.
                    self.inbox = None;
                    break;
                }
                message = subscription.next() => message,
            };
            let Some(message) = message else {
                self.inbox = None;
                self.left = 0;
                return Err(NatsError::request("pull", "the subscription ended"));
            };
            match message.status.unwrap_or(StatusCode::OK) {
                StatusCode::OK => {
                    self.left -= 1;
                    self.expires = POLL;
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
