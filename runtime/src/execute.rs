//! Running one delivery: a fresh instance in a fresh `Store`, with a fuel budget,
//! an epoch deadline and memory limits, and a typed reason when it fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::{NewEvent, Outcome, WitEvent};
use super::committed_state::{CommittedState, StateReadError};
use super::context::{DeliveryContext, Effects, bounds};
use super::imports::HostLimitExceeded;
use super::plugin::Version;
use crate::event::{Event, now_ms};
use crate::settings::PluginLimits;

/// Why an attempt did not produce an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Burned its whole fuel budget.
    OutOfFuel,
    /// Ran past its wall-clock deadline.
    Deadline,
    /// Tried to grow memory or a table past its limit.
    MemoryLimit,
    /// Recursed past the Wasm stack limit.
    StackOverflow,
    /// Passed a value over a host bound (state size, emitted events).
    HostLimit,
    /// Could not be instantiated.
    Instantiate,
    /// Any other trap (a panic, `unreachable`, a bad memory access).
    Trap,
    /// The store could not answer a `state.get`: a failure of the store,
    /// not of the plugin.
    StateUnavailable,
}

impl FailureKind {
    /// Every kind, for the metrics that export each reason from the start.
    pub const ALL: [FailureKind; 8] = [
        FailureKind::OutOfFuel,
        FailureKind::Deadline,
        FailureKind::MemoryLimit,
        FailureKind::StackOverflow,
        FailureKind::HostLimit,
        FailureKind::Instantiate,
        FailureKind::Trap,
        FailureKind::StateUnavailable,
    ];

    /// The reason as it appears in metrics and attempt history.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::OutOfFuel => "out_of_fuel",
            FailureKind::Deadline => "deadline",
            FailureKind::MemoryLimit => "memory_limit",
            FailureKind::StackOverflow => "stack_overflow",
            FailureKind::HostLimit => "host_limit",
            FailureKind::Instantiate => "instantiate",
            FailureKind::Trap => "trap",
            FailureKind::StateUnavailable => "state_unavailable",
        }
    }

    /// Whether the failure is the plugin's (or its downstream's): what the
    /// circuit breakers count and what sets a poison event aside.
    pub fn is_plugin_fault(self) -> bool {
        self != FailureKind::StateUnavailable
    }
}

/// A failed attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The kind, for metrics and retries.
    pub kind: FailureKind,
    /// wasmtime's message.
    pub message: String,
}

/// What one attempt produced.
pub struct Execution {
    /// The handler's outcome, or why there is none.
    pub result: Result<Outcome, Failure>,
    /// The state writes it buffered (discarded unless the outcome commits).
    pub effects: Effects,
    /// Fuel it burned.
    pub fuel_consumed: u64,
    /// When it started (ms since the Unix epoch).
    pub started_at_ms: u64,
    /// Wall-clock time, instantiation included.
    pub duration: Duration,
    /// The plugin version that ran.
    pub version: Arc<str>,
    /// Outbound HTTP requests of the handler that failed (no answer, or a
    /// 5xx): a sign that its downstream is unwell.
    pub outbound_failures: u32,
}

/// Slack past the epoch deadline before the outer timeout gives up on the call.
pub const DEADLINE_SLACK: Duration = Duration::from_secs(1);

/// One attempt of a delivery: its event, which attempt and which re-run it is,
/// and the limits it runs under (the plugin's, with its route's overrides).
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    /// The event handled.
    pub event: &'a Event,
    /// 1 on the first attempt.
    pub number: u32,
    /// How many times replays re-ran the delivery: each re-run has its own
    /// idempotency key.
    pub generation: u32,
    /// Fuel, memory and deadline.
    pub limits: &'a PluginLimits,
}

impl Version {
    /// Runs the handler for `attempt`. Never panics and never traps the host:
    /// every failure of the guest comes back as a [`Failure`].
    pub async fn run(&self, state: Arc<dyn CommittedState>, attempt: Attempt<'_>) -> Execution {
        let started = Instant::now();
        let started_at_ms = now_ms();
        let limits = attempt.limits;
        let context = DeliveryContext::new(state, self, &attempt);
        let mut store = Store::new(self.pre.engine(), context);
        store.limiter(|context| context);
        let fuel = limits.fuel;
        let fuel_set = store.set_fuel(fuel);
        let deadline = started + limits.deadline;
        store.set_epoch_deadline(1);
        // Each tick either yields to tokio (so other tasks run) or, past the deadline, traps.
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let wit_event = to_wit(attempt.event, attempt.number);
        let call = async {
            fuel_set.map_err(|e| (FailureKind::Trap, e))?;
            let instance = self
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| (FailureKind::Instantiate, e))?;
            let handler = instance.weir_plugin_handler();
            handler
                .call_handle(&mut store, &wit_event)
                .await
                .map_err(|e| (FailureKind::Trap, e))
        };
        let outcome = match tokio::time::timeout(limits.deadline + DEADLINE_SLACK, call).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err((fallback, error))) => Err(classify(fallback, error, store.data().limit_hit())),
            Err(_) => Err(Failure {
                kind: FailureKind::Deadline,
                message: format!("no answer within {:?}", limits.deadline),
            }),
        };
        let result = outcome.and_then(check_outcome);
        Execution {
            result,
            fuel_consumed: fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            effects: store.data_mut().take_effects(),
            outbound_failures: store.data().outbound_failures(),
            started_at_ms,
            duration: started.elapsed(),
            version: self.id.clone(),
        }
    }
}

/// The failure kind of `error`: a known trap or host limit, else `fallback`.
fn classify(fallback: FailureKind, error: wasmtime::Error, limit_hit: bool) -> Failure {
    if let Some(limit) = error.downcast_ref::<HostLimitExceeded>() {
        return Failure {
            kind: FailureKind::HostLimit,
            message: limit.0.clone(),
        };
    }
    if let Some(unreadable) = error.downcast_ref::<StateReadError>() {
        return Failure {
            kind: FailureKind::StateUnavailable,
            message: format!("state read failed: {unreadable}"),
        };
    }
    if let Some(message) = host_resource_limit(&error) {
        return Failure {
            kind: FailureKind::HostLimit,
            message,
        };
    }
    let kind = match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => FailureKind::OutOfFuel,
        Some(Trap::Interrupt) => FailureKind::Deadline,
        Some(Trap::StackOverflow) => FailureKind::StackOverflow,
        _ if limit_hit => FailureKind::MemoryLimit,
        _ => fallback,
    };
    let message = match kind {
        FailureKind::MemoryLimit => {
            format!("tried to grow its memory or a table past the limit; then: {error}")
        }
        _ => error.to_string(),
    };
    Failure { kind, message }
}

/// The bound a trap of wasmtime's own host resources hit, in words that name
/// it: the delivery's resource table, or the size of an HTTP header map.
fn host_resource_limit(error: &wasmtime::Error) -> Option<String> {
    use wasmtime::component::ResourceTableError;
    use wasmtime_wasi_http::FieldMapError;
    if let Some(ResourceTableError::Full) = error.downcast_ref::<ResourceTableError>() {
        return Some(format!(
            "the delivery holds {} host resources (handles it did not drop), the most one delivery may hold (resource table entries)",
            bounds::RESOURCE_TABLE_ENTRIES
        ));
    }
    match error.downcast_ref::<FieldMapError>() {
        Some(FieldMapError::TotalSizeTooBig | FieldMapError::TooManyFields) => Some(format!(
            "an HTTP header map is over {} bytes, the most one may hold (HTTP fields bytes)",
            bounds::HTTP_FIELDS_BYTES
        )),
        _ => None,
    }
}

fn check_outcome(mut outcome: Outcome) -> Result<Outcome, Failure> {
    if let Outcome::Fail(reason) = &mut outcome {
        bounds::cut(reason, bounds::FAIL_REASON_BYTES);
    }
    if let Outcome::Emit(events) = &outcome {
        let limit = bounds::EMITTED_EVENTS;
        if events.len() > limit {
            return Err(Failure {
                kind: FailureKind::HostLimit,
                message: format!("emitted {} events; the limit is {limit}", events.len()),
            });
        }
        if let Some(bad) = events.iter().find(|e: &&NewEvent| e.type_.is_empty()) {
            return Err(Failure {
                kind: FailureKind::HostLimit,
                message: format!(
                    "emitted an event with an empty type (source {:?})",
                    bad.source
                ),
            });
        }
    }
    Ok(outcome)
}

fn to_wit(event: &Event, attempt: u32) -> WitEvent {
    WitEvent {
        id: event.id.clone(),
        source: event.source.clone(),
        type_: event.kind.clone(),
        subject: event.subject.clone(),
        time: event.time.clone(),
        datacontenttype: event.datacontenttype.clone(),
        data: event.data.clone(),
        tenant: event.tenant.clone(),
        extensions: event.extension_pairs(),
        attempt,
    }
}
