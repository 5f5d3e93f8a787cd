//! Dispatch on NATS: each node pulls a plugin's deliveries from durable
//! consumers that every node shares, one per feed (`names::Feed`): one per
//! priority and shard of tenants for deliveries without an ordering key, so
//! urgent ones are pulled past a backlog of others and a tenant's burst
//! holds up only its shard, and one per key partition that hands out one
//! delivery at a time, so a key's deliveries run in the order published,
//! whichever node runs them.
//! A consumer's ack wait is the lease: a delivery its node does not finish in
//! time (the node stopped, say) is handed to another node. What a node pulls
//! waits in its window (`window.rs`), from which weir-core's lease loop
//! (`weir_core::deliver::serve_plugin`) takes it by the lanes' turns, and
//! runs it through the delivery engine (`pulled.rs` is this store's side).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{AckKind, Message};
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use weir_core::deliver::Source;

use super::faults::Kept;
use super::feed_pull::FeedPull;
use super::ingest::GENERATION_HEADER;
use super::names::{Feed, Names};
use super::pulled::Pulled;
use super::window::Window;
use super::{Nats, NatsError};
use weir_core::Shared;
use weir_core::metrics::plugin as plugin_label;
use weir_core::plugins::Plugin;
use weir_core::schedule::lease_ms;
use weir_core::store::{Lane, Seq, StoreError};
use weir_core::tasks::Tasks;
use weir_event::{codec, now_ms};

/// How long a worker waits after JetStream refused a pull or a consumer.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// How long an unreadable delivery that could not be set aside waits
/// before it is tried again.
const UNREADABLE_AGAIN: Duration = Duration::from_secs(5);

/// What the pull loops and the lease loop of one plugin share.
pub(super) struct Puller {
    pub(super) shared: Shared,
    pub(super) nats: Arc<Nats>,
    plugin: Arc<Plugin>,
    /// The deliveries pulled and not yet leased.
    window: Arc<Window<Pulled>>,
    stop: CancellationToken,
    /// The consumers' ack wait: how long a pulled delivery is this node's.
    pub(super) ack_wait: Duration,
}

/// Pulls and runs `plugin`'s deliveries until `tasks.stop` is cancelled;
/// each runs as a task on `tasks.deliveries`, so shutdown can wait for the
/// ones in flight. What was pulled and not started is handed back then.
pub async fn serve_plugin(shared: Shared, nats: Arc<Nats>, plugin: Arc<Plugin>, tasks: Tasks) {
    // The lease of the fjall backend, sized for the longest deadline.
    let ack_wait = Duration::from_millis(lease_ms(
        &shared.config,
        &shared.routes.current(),
        &plugin.name,
        &plugin.current().limits,
    ));
    let puller = Arc::new(Puller {
        shared: shared.clone(),
        nats,
        window: Arc::new(Window::new(plugin.instances)),
        plugin: plugin.clone(),
        stop: tasks.stop.clone(),
        ack_wait,
    });
    let windows = &puller.nats.windows;
    windows.open(plugin.name.clone(), puller.window.clone());
    let leasing = weir_core::deliver::serve_plugin(shared, puller.clone(), plugin.clone(), tasks);
    let pulling = join_all(Feed::all().map(|feed| puller.clone().pull_loop(feed)));
    tokio::join!(leasing, pulling, puller.keep_waiting());
    windows.close(&plugin.name, &puller.window);
    puller.hand_back().await;
}

impl Puller {
    /// Pulls from one feed's consumer into the window while it has room.
    async fn pull_loop(self: Arc<Self>, feed: Feed) {
        let Some(mut pull) = self.feed_pull(feed).await else {
            return;
        };
        let mut gate = self.plugin.gate.subscribe();
        loop {
            // Nothing is asked for while the plugin is paused or removed (a
            // request asked before brings what it brings until it ends).
            tokio::select! {
                _ = self.stop.cancelled() => return,
                opened = gate.wait_for(|gate| gate.open()) => if opened.is_err() { return },
            }
            // As many as the window has room for: JetStream starts their
            // ack waits at once.
            let Some(room) = self.window.room(feed.room(), &self.stop).await else {
                return;
            };
            if let Err(error) = pull.ask(room).await {
                self.pull_failed(error).await;
                continue;
            }
            loop {
                let next = tokio::select! {
                    _ = self.stop.cancelled() => return,
                    next = pull.next() => next,
                };
                match next {
                    Ok(Some(message)) => self.take_in(message, feed).await,
                    Ok(None) => break,
                    Err(error) => {
                        self.pull_failed(error).await;
                        break;
                    }
                }
            }
        }
    }

    /// Moves `message`, a delivery that cannot be read, to the dead
    /// letters as it is, and counts it dead; if that fails, it is handed
    /// back to try again later.
    async fn set_aside_unreadable(&self, message: Message, sequence: u64, error: &str) {
        let plugin = &self.plugin.name;
        tracing::error!(%plugin, %error, sequence, "a delivery on the stream is unreadable; it is set aside with the dead letters");
        let payload = message.payload.clone();
        let handled = match self
            .nats
            .dead_unreadable(plugin, sequence, payload, error)
            .await
        {
            Ok(()) => message.ack().await.map(|()| {
                (self.shared.metrics.deliveries_dead)
                    .get_or_create(&plugin_label(plugin))
                    .inc();
            }),
            Err(set_aside) => {
                tracing::error!(%plugin, error = %set_aside, "cannot set the unreadable delivery aside; it is tried again later");
                message.ack_with(AckKind::Nak(Some(UNREADABLE_AGAIN))).await
            }
        };
        if let Err(error) = handled {
            tracing::error!(%plugin, %error, "cannot settle the unreadable delivery; JetStream hands it out again");
        }
    }

    /// Puts a delivery pulled from `feed` in the window and wakes its lane;
    /// an unreadable one is set aside with the dead letters.
    async fn take_in(&self, message: Message, feed: Feed) {
        let now = now_ms();
        let (sequence, attempt, ready_since_ms) = message.info().map_or((0, 1, now), |info| {
            let delivered = u32::try_from(info.delivered).unwrap_or(u32::MAX);
            // Handed out again, it was not ready while it waited for its
            // delay; keyed, not while it waited for its partition's turn.
            let published_ms = u64::try_from(info.published.unix_timestamp_nanos() / 1_000_000);
            let ready_since = match (delivered, published_ms) {
                (1, Ok(published)) if !feed.keyed() => published.min(now),
                _ => now,
            };
            (info.stream_sequence, delivered, ready_since)
        });
        let event = match codec::decode(&message.payload) {
            Ok(event) => event,
            Err(error) => {
                let error = format!("the delivery cannot be read: {error}");
                return self.set_aside_unreadable(message, sequence, &error).await;
            }
        };
        let lane = Lane::of(&event);
        let ordered = feed.keyed();
        self.window.push(
            lane.clone(),
            feed.room(),
            ready_since_ms,
            Pulled {
                generation: generation(&message),
                message,
                event,
                plugin: self.plugin.name.clone(),
                lane: lane.clone(),
                sequence,
                attempt,
                ordered,
                kept: Kept::default(),
            },
        );
        self.shared.lanes.wake(&self.plugin.name, &lane, sequence);
    }

    /// Extends the ack wait of the deliveries in the window until weir
    /// stops; hands them back at once if the plugin's file is removed here
    /// (a pause is the whole cluster's: they wait for the resume).
    async fn keep_waiting(&self) {
        let mut gate = self.plugin.gate.subscribe();
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                changed = gate.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(self.ack_wait / 2) => {}
            }
            if gate.borrow_and_update().removed {
                self.hand_back().await;
                continue;
            }
            for message in self.window.each(|pulled| pulled.message.clone()) {
                if let Err(error) = message.ack_with(AckKind::Progress).await {
                    tracing::warn!(plugin = %self.plugin.name, %error, "cannot extend a waiting delivery's ack wait");
                }
            }
        }
    }

    /// Hands every delivery in the window back to JetStream, for any node.
    async fn hand_back(&self) {
        for pulled in self.window.drain() {
            if let Err(error) = pulled.message.ack_with(AckKind::Nak(None)).await {
                tracing::warn!(plugin = %self.plugin.name, %error, "cannot hand back a delivery; JetStream does after its ack wait");
            }
        }
    }
    /// Logs a refused pull and pauses before the next (unless weir stops).
    async fn pull_failed(&self, error: NatsError) {
        tracing::error!(plugin = %self.plugin.name, %error, "cannot pull deliveries");
        tokio::select! {
            _ = self.stop.cancelled() => {}
            _ = tokio::time::sleep(ERROR_PAUSE) => {}
        }
    }

    /// The pull of `feed`'s consumer, created or brought up to date;
    /// retried until it exists or weir stops.
    async fn feed_pull(&self, feed: Feed) -> Option<FeedPull> {
        let names = &self.nats.names;
        let name = Names::consumer(&self.plugin.name, feed);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: names.feed_subjects(&self.plugin.name, feed),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            // Attempts are counted by weir, which dead-letters past max_attempts.
            max_deliver: -1,
            // A partition hands out its next delivery once the last is acked.
            max_ack_pending: if feed.keyed() { 1 } else { -1 },
            ..Default::default()
        };
        loop {
            let consumer = self.nats.deliveries.create_consumer(config.clone()).await;
            match consumer {
                Ok(consumer) => return Some(FeedPull::new(&self.nats.jetstream, consumer)),
                Err(error) => {
                    let stream = names.deliveries_stream();
                    tracing::error!(plugin = %self.plugin.name, %error, "cannot set up consumer {name} on {stream}");
                }
            }
            tokio::select! {
                _ = self.stop.cancelled() => return None,
                _ = tokio::time::sleep(ERROR_PAUSE) => {}
            }
        }
    }
}

/// The lease loop's side: a lease takes the first delivery of the lane in
/// the window (the ack wait is the lease).
impl Source for Puller {
    type Ticket = Pulled;
    // Taking from the window writes nothing.
    type LeaseRound = ();

    fn lease(
        &self,
        _plugin: &str,
        lane: &Lane,
        _from: Seq,
        _lease_ms: u64,
        _round: &mut (),
    ) -> Result<Option<Pulled>, StoreError> {
        Ok(self.window.take(lane))
    }

    fn write_leases(&self, _round: ()) -> Result<(), StoreError> {
        Ok(())
    }

    async fn open(&self, pulled: Pulled) -> Result<Pulled, StoreError> {
        Ok(pulled)
    }

    async fn hold_if_paused(&self, pulled: Pulled) -> Result<Option<Pulled>, StoreError> {
        let pauses = &self.shared.tenant_pauses;
        if !self.nats.hold_if_paused(pauses, &pulled).await? {
            return Ok(Some(pulled));
        }
        tracing::info!(tenant = %pulled.event.tenant, "tenant paused: delivery held");
        Ok(None)
    }

    // The cluster failing stops nothing here: JetStream hands the delivery
    // out again, and `/readyz` reports a lost connection.
    fn failed(&self, _error: &StoreError) {}
}

/// The generation of a pulled delivery: 0 unless a replay published it.
fn generation(message: &Message) -> u32 {
    (message.headers.as_ref())
        .and_then(|headers| headers.get(GENERATION_HEADER))
        .and_then(|value| value.as_str().parse().ok())
        .unwrap_or(0)
}
