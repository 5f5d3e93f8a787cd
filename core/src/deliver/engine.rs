//! One delivery's way through the engine, step by step.

use std::time::Duration;

use tracing::Instrument;

use crate::config::PluginLimits;
use crate::failpoint::{self, Point};
use crate::metrics::{Metrics, PluginLabel, plugin as plugin_label};
use crate::plugins::Plugin;
use crate::route::RouteTable;
use crate::runtime::{Attempt, Failure, FailureKind, Outcome, Version};
use crate::schedule::{Load, Signal};
use crate::store::StoreError;

use super::{
    Again, Deliveries, Ending, Failed, Finished, Finisher, Gate, Leased, Slot, Waiting,
    retry_or_dead,
};

/// How often a delivery reruns at once when the state it read changed under
/// it, before it backs off like any other retry.
const MAX_CONFLICT_RERUNS: u32 = 8;

/// What every delivery shares.
pub struct Engine<'a> {
    /// Where deliveries are counted.
    pub metrics: &'a Metrics,
    /// How many emits deep an event may be (`[dispatch] max_hops`).
    pub max_hops: u32,
    /// Room for the plugin's retries to wait in place.
    pub waiting: &'a Waiting,
}

/// What a delivery runs on, all chosen when it was leased.
pub struct RunsOn<'a> {
    /// The plugin it goes to.
    pub plugin: &'a Plugin,
    /// The plugin's version it runs to the end on.
    pub version: &'a Version,
    /// The routing table its route options and breakers come from.
    pub routes: &'a RouteTable,
}

/// Runs `leased`, a delivery to `on.plugin` on `on.version` under
/// `on.routes`, to its ending, and has `store` keep it (in a round of `finisher`'s); the
/// delivery back if the store kept it leased to run again after a wait
/// ([`Again`]). Its handler runs in `slot`, which it leaves to others
/// while the store keeps the ending. An error is the store's: nothing of
/// the ending is stored, and the store hands the delivery out again.
pub async fn deliver<S: Deliveries + 'static>(
    engine: &Engine<'_>,
    store: &S,
    finisher: &Finisher<S>,
    on: &RunsOn<'_>,
    leased: S::Leased,
    slot: &mut Slot,
) -> Result<Option<Again<S::Leased>>, StoreError> {
    let RunsOn {
        plugin,
        version,
        routes,
    } = *on;
    let Some(leased) = store.settle_if_committed(leased).await? else {
        tracing::info!(
            "not running: an earlier attempt committed it, or its lease ended while it waited"
        );
        return Ok(None);
    };
    let fresh = leased.attempt() <= 1;
    let gate = match Gate::pass(routes, plugin, leased.event(), fresh) {
        Ok(gate) => gate,
        Err(closed) => {
            store.defer(leased, closed.wait).await?;
            let scope = &closed.scope;
            tracing::info!(route = ?scope.route, tenant = %scope.tenant, wait = ?closed.wait,
                "circuit breaker open: delivery deferred");
            return Ok(None);
        }
    };
    // The plugin's limits, with what the delivery's route overrides.
    let limits = gate.options.as_ref().map_or_else(
        || version.limits.clone(),
        |options| options.apply(&version.limits),
    );
    let run = Run {
        engine,
        plugin,
        version,
        limits: &limits,
        gate: &gate,
        label: plugin_label(&plugin.name),
    };
    let ingested_at_ms = leased.event().ingested_at_ms;
    // An attempt past the last: the one before never ended (weir stopped
    // while it ran), so a delivery that kills weir still ends as a dead letter.
    let mut next = (leased.attempt() > limits.max_attempts).then(|| Ending::Dead {
        attempt: None,
        reason: "lost",
        message: format!(
            "gave up after {} attempts; the last ended without an outcome (weir stopped, or it outlived its lease)",
            leased.attempt() - 1
        ),
    });
    let mut leased = leased;
    let mut conflicts = 0;
    loop {
        let mut ending = match next.take() {
            Some(ending) => ending,
            None => {
                // A rerun after a conflict takes a slot again, or goes back
                // to the store, due at once and not counted.
                if !slot.take().await {
                    store.defer(leased, Duration::ZERO).await?;
                    return Ok(None);
                }
                let ending = run.attempt(store, &leased).await?;
                slot.free();
                ending
            }
        };
        let room = engine.waiting.offer(&mut ending, leased.event());
        let tally = ending.tally();
        let finished = finisher
            .finish(leased, ending)
            .instrument(tracing::info_span!("commit"))
            .await?;
        let stored = matches!(finished, Finished::Stored | Finished::Again(..));
        if stored && let Some(error) = failpoint::pass(Point::AfterCommit) {
            return Err(injected(error));
        }
        match finished {
            Finished::Stored => {
                tally.count(engine.metrics, &plugin.name, ingested_at_ms);
                return Ok(None);
            }
            Finished::Again(leased, wait) => {
                tally.count(engine.metrics, &plugin.name, ingested_at_ms);
                (engine.metrics.retries_in_place)
                    .get_or_create(&run.label)
                    .inc();
                return Ok(Some(Again { leased, wait, room }));
            }
            Finished::Conflict(again) => {
                engine
                    .metrics
                    .state_conflicts
                    .get_or_create(&run.label)
                    .inc();
                leased = again;
                conflicts += 1;
                if conflicts >= MAX_CONFLICT_RERUNS {
                    tracing::warn!("state kept changing under this delivery; retrying it later");
                    let failed = Failed {
                        reason: "state_conflict",
                        message: "state it read kept changing before it could commit".to_owned(),
                        hint_ms: None,
                        attempt: None,
                    };
                    next = Some(retry_or_dead(&limits, leased.attempt(), failed));
                }
            }
            Finished::LeaseLost => {
                tracing::warn!(
                    "the lease expired before this attempt committed; its result is dropped"
                );
                return Ok(None);
            }
        }
    }
}

/// What the attempts of one delivery share.
struct Run<'a> {
    engine: &'a Engine<'a>,
    plugin: &'a Plugin,
    version: &'a Version,
    limits: &'a PluginLimits,
    gate: &'a Gate,
    label: PluginLabel,
}

impl Run<'_> {
    /// Runs the handler once and decides how the attempt ends.
    async fn attempt<S: Deliveries>(
        &self,
        store: &S,
        leased: &S::Leased,
    ) -> Result<Ending, StoreError> {
        let (metrics, plugin) = (self.engine.metrics, self.plugin);
        let attempt = Attempt {
            event: leased.event(),
            number: leased.attempt(),
            generation: leased.generation(),
            limits: self.limits,
        };
        let execution = self
            .version
            .run(store.state(), attempt)
            .instrument(tracing::info_span!("execute", attempt = attempt.number))
            .await;
        metrics.handler_ran(&self.label, &execution);
        if let Err(failure) = &execution.result {
            tracing::warn!(reason = failure.kind.as_str(), message = %failure.message, "attempt failed");
        }
        let load = match &execution.result {
            Ok(Outcome::RetryLater(_)) => Load::Throttled,
            Err(Failure {
                kind: FailureKind::Deadline,
                ..
            }) => Load::Overloaded,
            _ => Load::Normal,
        };
        let limit = plugin.concurrency.record(execution.duration, load);
        metrics
            .concurrency_limit
            .get_or_create(&self.label)
            .set(i64::from(limit));
        self.gate.record(metrics, plugin, Signal::of(&execution));
        if let Some(error) = failpoint::pass(Point::BeforeCommit) {
            return Err(injected(error));
        }
        Ok(Ending::of(
            execution,
            leased,
            self.limits,
            self.engine.max_hops,
        ))
    }
}

/// A failpoint's injected I/O error, as the store would report it.
fn injected(error: std::io::Error) -> StoreError {
    if error.kind() == std::io::ErrorKind::StorageFull {
        StoreError::DiskFull
    } else {
        StoreError::WriteFailed(error.to_string())
    }
}
