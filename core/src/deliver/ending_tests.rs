//! How attempts end: the policy both stores run.

use std::sync::Arc;
use std::time::Duration;

use super::{Ending, Leased, children_of};
use crate::config::PluginLimits;
use crate::event::Event;
use crate::runtime::{Effects, Execution, Failure, FailureKind, NewEvent, Outcome};
use crate::store::Attempt;

/// A delivery on its `attempt`, after `earlier` outcomes in this round.
struct Delivery {
    event: Event,
    attempt: u32,
    earlier: Vec<Attempt>,
}

impl Leased for Delivery {
    fn event(&self) -> &Event {
        &self.event
    }

    fn plugin(&self) -> &str {
        "normalizer"
    }

    fn attempt(&self) -> u32 {
        self.attempt
    }

    fn generation(&self) -> u32 {
        0
    }

    fn earlier_attempts(&self) -> &[Attempt] {
        &self.earlier
    }
}

fn delivery(attempt: u32, earlier: &[&str]) -> Delivery {
    let mut event = Event::new(
        "evt-1".into(),
        "tests".into(),
        "booking.created".into(),
        "acme".into(),
    );
    event.hops = 2;
    let earlier = earlier
        .iter()
        .map(|outcome| Attempt {
            started_at_ms: 0,
            duration_ms: 1,
            outcome: (*outcome).to_owned(),
            error: None,
            fuel_consumed: 0,
            version: None,
        })
        .collect();
    Delivery {
        event,
        attempt,
        earlier,
    }
}

fn execution(result: Result<Outcome, Failure>) -> Execution {
    Execution {
        result,
        effects: Effects::default(),
        fuel_consumed: 10,
        started_at_ms: 1,
        duration: Duration::from_millis(2),
        version: Arc::from("v1"),
        outbound_failures: 0,
    }
}

fn trap() -> Result<Outcome, Failure> {
    Err(Failure {
        kind: FailureKind::Trap,
        message: "unreachable".into(),
    })
}

fn limits() -> PluginLimits {
    PluginLimits {
        max_attempts: 3,
        poison_after: 2,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        ..PluginLimits::default()
    }
}

fn new_event(type_: &str) -> NewEvent {
    NewEvent {
        type_: type_.into(),
        source: None,
        subject: None,
        datacontenttype: None,
        data: Vec::new(),
        extensions: Vec::new(),
    }
}

#[test]
fn an_ack_is_done_and_its_attempt_recorded() {
    let ending = Ending::of(
        execution(Ok(Outcome::Ack)),
        &delivery(1, &[]),
        &limits(),
        16,
    );
    let Ending::Done {
        attempt, children, ..
    } = ending
    else {
        panic!("an ack is done");
    };
    assert_eq!(attempt.outcome, "ack");
    assert_eq!(attempt.version.as_deref(), Some("v1"));
    assert!(children.is_empty());
}

#[test]
fn an_emitted_event_is_one_hop_deeper_and_linked_to_its_parent() {
    let emitted = Ok(Outcome::Emit(vec![new_event("booking.priced")]));
    let ending = Ending::of(execution(emitted), &delivery(1, &[]), &limits(), 16);
    let Ending::Done { children, .. } = ending else {
        panic!("an emit is done");
    };
    let [child] = children.as_slice() else {
        panic!("one child: {children:?}");
    };
    assert_eq!(child.hops, 3);
    assert_eq!(child.tenant, "acme");
    assert_eq!(child.source, "weir://plugin/normalizer");
    assert_eq!(child.extensions["causationid"].to_string(), "evt-1");
    assert_eq!(child.extensions["correlationid"].to_string(), "evt-1");
}

#[test]
fn an_emit_past_the_hop_limit_is_dead_as_invalid_output() {
    let emitted = Ok(Outcome::Emit(vec![new_event("booking.again")]));
    let ending = Ending::of(execution(emitted), &delivery(1, &[]), &limits(), 2);
    let Ending::Dead {
        reason, message, ..
    } = ending
    else {
        panic!("past the hop limit is dead");
    };
    assert_eq!(reason, "invalid_output");
    assert!(message.contains("hop limit 2 exceeded"), "{message}");
}

#[test]
fn a_fail_is_dead_at_once_with_the_handlers_reason() {
    let failed = Ok(Outcome::Fail("malformed booking".into()));
    let ending = Ending::of(execution(failed), &delivery(1, &[]), &limits(), 16);
    let Ending::Dead {
        reason, message, ..
    } = ending
    else {
        panic!("a fail is dead");
    };
    assert_eq!((reason, message.as_str()), ("fail", "malformed booking"));
}

#[test]
fn retry_later_waits_at_least_its_hint_until_the_last_attempt() {
    let throttled = || execution(Ok(Outcome::RetryLater(500)));
    let ending = Ending::of(throttled(), &delivery(2, &["retry_later"]), &limits(), 16);
    let Ending::Retry { reason, delay, .. } = ending else {
        panic!("a retry before the last attempt");
    };
    assert_eq!(reason, "retry_later");
    assert!(delay >= Duration::from_millis(500), "{delay:?}");

    let last = delivery(3, &["retry_later", "retry_later"]);
    let Ending::Dead { message, .. } = Ending::of(throttled(), &last, &limits(), 16) else {
        panic!("the last attempt is dead");
    };
    assert!(
        message.starts_with("gave up after 3 attempts; last: retry_later"),
        "{message}"
    );
}

#[test]
fn faults_in_a_row_set_a_poison_event_aside_and_other_outcomes_break_the_row() {
    let limits = PluginLimits {
        max_attempts: 10,
        ..limits()
    };
    let Ending::Dead { message, .. } =
        Ending::of(execution(trap()), &delivery(2, &["trap"]), &limits, 16)
    else {
        panic!("the second trap in a row sets it aside");
    };
    assert!(message.starts_with("set aside after 2 traps"), "{message}");

    let broken_row = delivery(3, &["trap", "retry_later"]);
    let ending = Ending::of(execution(trap()), &broken_row, &limits, 16);
    assert!(matches!(ending, Ending::Retry { reason: "trap", .. }));
}

fn child_ids(parent: &Event, plugin: &str, generation: u32) -> Vec<String> {
    let emitted = vec![new_event("child"), new_event("child")];
    let children = children_of(parent, plugin, generation, emitted, 8).expect("children");
    children.into_iter().map(|child| child.id).collect()
}

#[test]
fn a_child_id_is_the_same_for_a_rerun_and_new_for_anything_else() {
    let parent = |id: &str| Event::new(id.into(), "tests".into(), "t".into(), "default".into());
    let first = child_ids(&parent("a"), "p", 0);
    assert_eq!(
        first,
        child_ids(&parent("a"), "p", 0),
        "a rerun emits the same ids"
    );
    assert_ne!(first[0], first[1], "each child its own");
    let mut other_tenant = parent("a");
    other_tenant.tenant = "acme".into();
    for other in [
        child_ids(&parent("b"), "p", 0),
        child_ids(&parent("a"), "q", 0),
        child_ids(&parent("a"), "p", 1),
        child_ids(&other_tenant, "p", 0),
    ] {
        assert!(other.iter().all(|id| !first.contains(id)), "{other:?}");
    }
    let id = uuid::Uuid::parse_str(&first[0]).expect("a UUID");
    assert_eq!(id.get_version_num(), 8);
}
