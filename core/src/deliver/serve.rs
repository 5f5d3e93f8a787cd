//! The lease loop, one per plugin, whichever store holds its deliveries: it
//! leases only while the plugin has free instance slots under its adaptive
//! limit (and is not paused), a round of one delivery per free slot that
//! the store writes at once, each from the lane whose turn it is
//! (`schedule::Lanes`: priorities by weight, tenants in turn, each tenant
//! within its `max_in_flight`), so a slow plugin slows its own lane and
//! nothing else; each delivery runs through the engine ([`deliver`]) as a
//! task of its own. For a plugin whose handlers are quick, a round also
//! leases up to the adaptive limit's worth of deliveries ahead of a free
//! slot; while they wait, the slots that free go to them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::timeout;
use tracing::Instrument;

use tokio_util::sync::CancellationToken;

use super::{Deliveries, Engine, Finisher, Leased, RunsOn, Slot, Waiting, deliver};
use crate::Shared;
use crate::plugins::Plugin;
use crate::route::RouteTable;
use crate::runtime::Version;
use crate::schedule::{AHEAD_WAIT, LeasedAt, PluginLanes, lease_ms};
use crate::store::{Lane, Seq, StoreError};
use crate::tasks::Tasks;
use crate::trace_context;

/// How long the loop waits after the store failed to lease before it tries again.
const LEASE_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Leasing ahead of a free slot is for plugins whose handlers usually end
/// well within [`AHEAD_WAIT`]: behind slower ones a delivery leased ahead
/// would often wait it out and go back to the store, a write each way for
/// nothing.
const AHEAD_LATENCY: Duration = Duration::from_millis(AHEAD_WAIT.as_millis() as u64 / 10);

/// What the lease loop asks of a store, besides what the engine does.
pub trait Source: Deliveries + 'static {
    /// A delivery leased from a lane, before what it takes to run it is read.
    type Ticket: LeasedAt + Send + 'static;

    /// The leases of one round, staged and not yet written.
    type LeaseRound: Default + Send;

    /// Stages in `round` the lease of the next ready delivery of `plugin`
    /// in `lane`, looking from `from` on, for `lease_ms`. It runs under the
    /// plugin's lanes lock, so it takes the delivery and reads nothing else.
    fn lease(
        &self,
        plugin: &str,
        lane: &Lane,
        from: Seq,
        lease_ms: u64,
        round: &mut Self::LeaseRound,
    ) -> Result<Option<Self::Ticket>, StoreError>;

    /// Writes a round's leases at once, before any of them runs.
    fn write_leases(&self, round: Self::LeaseRound) -> Result<(), StoreError>;

    /// Reads what `ticket` needs to run: its event.
    fn open(
        &self,
        ticket: Self::Ticket,
    ) -> impl Future<Output = Result<Self::Leased, StoreError>> + Send;

    /// Sets `leased` aside while an operator has its tenant paused, until
    /// the tenant is resumed (`None`); gives it back to run otherwise.
    fn hold_if_paused(
        &self,
        leased: Self::Leased,
    ) -> impl Future<Output = Result<Option<Self::Leased>, StoreError>> + Send;

    /// Notes that a delivery met `error`, the store's or the engine's (a
    /// store whose writes fail may stop weir for a restart).
    fn failed(&self, error: &StoreError);
}

/// Leases and runs `plugin`'s deliveries from `store` until `tasks.stop` is
/// cancelled; each runs on `tasks.deliveries`, so shutdown can wait for the
/// ones in flight.
pub async fn serve_plugin<S: Source>(
    shared: Shared,
    store: Arc<S>,
    plugin: Arc<Plugin>,
    tasks: Tasks,
) {
    let stop = &tasks.stop;
    let lanes = shared.lanes.of(&plugin.name);
    let finisher = Finisher::start(store.clone(), &tasks.deliveries);
    let waiting = Arc::new(Waiting::new(shared.config.dispatch.retry_in_place_max));
    let mut gate = plugin.gate.subscribe();
    loop {
        // While every place ahead is taken, a slot that frees goes to a
        // delivery leased ahead, not to this loop.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = plugin.ahead.acquire() => {}
        }
        let Some(permit) = plugin.slot_under_limit(&mut gate, stop).await else {
            return;
        };
        // Slots in use, this one included, against the adaptive limit.
        let busy = plugin.busy_slots();
        let limit = (plugin.concurrency.current() as usize).max(busy);
        // The version is chosen at lease time: the delivery runs on it to the end.
        let version = plugin.current();
        // So is the routing table: the lease is sized by the deadline its
        // route sets, which a reload must not change under it.
        let routes = shared.routes.current();
        let lease_ms = lease_ms(&shared.config, &routes, &plugin.name, &version.limits);
        // Every other slot free under the adaptive limit joins the round.
        let mut permits = vec![permit];
        while permits.len() <= limit - busy {
            match plugin.slots.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        // So do up to the limit's worth of deliveries leased ahead of a free
        // slot: a slot that frees finds one leased and read, and a round
        // carries more than the one slot that woke the loop.
        let mut places = Vec::new();
        let fast = (plugin.concurrency.usual_latency()).is_some_and(|usual| usual < AHEAD_LATENCY);
        while fast && places.len() < limit {
            match plugin.ahead.clone().try_acquire_owned() {
                Ok(place) => places.push(place),
                Err(_) => break,
            }
        }
        let round = Round {
            store: &*store,
            shared: &shared,
            lanes: &lanes,
            plugin: &plugin.name,
            lease_ms,
        };
        match round.lease(permits.len() + places.len()) {
            Ok(tickets) if !tickets.is_empty() => {
                let metrics = &shared.metrics;
                let slots = (permits.into_iter())
                    .map(|permit| Slot::taken(permit, metrics, plugin.clone(), stop))
                    .chain(
                        (places.into_iter())
                            .map(|place| Slot::ahead(place, metrics, plugin.clone(), stop)),
                    );
                // The slots and places the round did not fill are freed as the zip ends.
                for (ticket, slot) in tickets.into_iter().zip(slots) {
                    let run = Run {
                        shared: shared.clone(),
                        store: store.clone(),
                        finisher: finisher.clone(),
                        waiting: waiting.clone(),
                        plugin: plugin.clone(),
                        version: version.clone(),
                        routes: routes.clone(),
                        stop: stop.clone(),
                    };
                    tasks.deliveries.spawn(run.run(ticket, slot));
                }
            }
            Ok(_) => {
                drop((permits, places));
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = lanes.woken() => {}
                }
            }
            Err(error) => {
                drop((permits, places));
                tracing::error!(plugin = %plugin.name, %error, "cannot lease deliveries");
                store.failed(&error);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(LEASE_ERROR_PAUSE) => {}
                }
            }
        }
    }
}

/// A round of leases of one plugin, which the store writes at once.
struct Round<'a, S> {
    store: &'a S,
    shared: &'a Shared,
    lanes: &'a PluginLanes,
    plugin: &'a str,
    lease_ms: u64,
}

impl<S: Source> Round<'_, S> {
    /// Leases up to `count` deliveries from the lanes in their turns, and
    /// has the store write them at once. On an error none is leased: their
    /// tenants' slots are given back and their lanes woken, so the
    /// deliveries are found again.
    fn lease(&self, count: usize) -> Result<Vec<S::Ticket>, StoreError> {
        let mut staged = S::LeaseRound::default();
        let mut tickets = Vec::with_capacity(count);
        let mut error = None;
        while tickets.len() < count {
            let leased = self
                .lanes
                .lease_with(&self.shared.lanes.tenants, |lane, from| {
                    (self.store).lease(self.plugin, lane, from, self.lease_ms, &mut staged)
                });
            match leased {
                Ok(Some(ticket)) => tickets.push(ticket),
                Ok(None) => break,
                Err(failed) => {
                    error = Some(failed);
                    break;
                }
            }
        }
        let written = match error {
            None if tickets.is_empty() => return Ok(tickets),
            None => self.store.write_leases(staged),
            Some(error) => Err(error),
        };
        if let Err(error) = written {
            for ticket in &tickets {
                self.shared.lanes.finished(&ticket.lane().tenant);
                (self.shared.lanes).wake(self.plugin, ticket.lane(), ticket.seq());
            }
            return Err(error);
        }
        Ok(tickets)
    }
}

/// One leased delivery, with what it runs on.
struct Run<S: Source> {
    shared: Shared,
    store: Arc<S>,
    finisher: Arc<Finisher<S>>,
    waiting: Arc<Waiting>,
    plugin: Arc<Plugin>,
    version: Arc<Version>,
    routes: Arc<RouteTable>,
    stop: CancellationToken,
}

impl<S: Source> Run<S> {
    /// Runs `ticket` in `slot` to its ending (or holds it), then frees its
    /// tenant's slot.
    async fn run(self, ticket: S::Ticket, mut slot: Slot) {
        let plugin = &self.plugin;
        let tenant = ticket.lane().tenant.clone();
        let span = tracing::info_span!("delivery", plugin = %plugin.name, version = %self.version.id, seq = ticket.seq(), %tenant, event_id = tracing::field::Empty);
        let handled = match self.store.open(ticket).await {
            Ok(leased) => {
                span.record("event_id", leased.event().id.as_str());
                // Before the span starts: its parent is the trace that brought the event.
                trace_context::adopt_from_event(&span, leased.event());
                self.handle(leased, &mut slot)
                    .instrument(span.clone())
                    .await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = handled {
            let _entered = span.enter();
            tracing::error!(%error, "cannot finish delivery; the store hands it out again");
            self.store.failed(&error);
        }
        self.shared.lanes.finished(&tenant);
    }

    /// Holds the delivery if its tenant is paused; runs it through the
    /// engine otherwise, and again after each wait in place.
    async fn handle(&self, leased: S::Leased, slot: &mut Slot) -> Result<(), StoreError> {
        let engine = Engine {
            metrics: &self.shared.metrics,
            max_hops: self.shared.config.dispatch.max_hops,
            waiting: &self.waiting,
        };
        let (store, finisher) = (&*self.store, &*self.finisher);
        let on = RunsOn {
            plugin: &self.plugin,
            version: &self.version,
            routes: &self.routes,
        };
        let taken = slot.held() || matches!(timeout(AHEAD_WAIT, slot.take()).await, Ok(true));
        if !taken {
            tracing::debug!("leased ahead, and no slot freed in time: back to the store");
            return store.defer(leased, Duration::ZERO).await;
        }
        let mut leased = leased;
        loop {
            let Some(held) = store.hold_if_paused(leased).await? else {
                return Ok(());
            };
            let delivered = deliver(&engine, store, finisher, &on, held, slot).await?;
            let Some(again) = delivered else {
                return Ok(());
            };
            let due = Instant::now() + again.wait;
            let stopped = tokio::select! {
                _ = self.stop.cancelled() => true,
                waited = store.wait_in_place(&again.leased, again.wait) => {
                    waited?;
                    false
                }
            };
            // Stopping, or the plugin paused or removed meanwhile: back to
            // the store, due when it was, this attempt uncounted.
            if stopped || !slot.take().await {
                let wait = due.saturating_duration_since(Instant::now());
                return store.defer(again.leased, wait).await;
            }
            leased = again.leased;
        }
    }
}
