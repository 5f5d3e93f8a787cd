//! One condition of a route on one attribute of an event: a glob (`type`,
//! `source`) or a predicate (`tenant`, `priority`, `stage`, and
//! `match.attributes`). Matching, the reachability check and explain all
//! read conditions through this one type.

use globset::GlobMatcher;

use super::attributes::{Predicate, attribute};
use super::explain::{ConditionVerdict, Expected};
use crate::event::Event;

/// How a condition tests the attribute's value.
#[derive(Debug, Clone)]
pub enum Test {
    /// The value matches a glob; an absent attribute never does.
    Glob(GlobMatcher),
    /// The value satisfies a predicate.
    Predicate(Predicate),
}

/// A condition on the attribute `field`.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The attribute's name: `type`, `tenant`, `region`, ...
    pub field: String,
    /// The test its value must pass.
    pub test: Test,
}

impl Condition {
    /// Whether `event` passes it.
    pub fn holds(&self, event: &Event) -> bool {
        let value = attribute(event, &self.field);
        let value = value.as_deref();
        match &self.test {
            Test::Glob(glob) => value.is_some_and(|value| glob.is_match(value)),
            Test::Predicate(predicate) => predicate.holds(value),
        }
    }

    /// Whether it lets through every event `later` lets through, as far as can
    /// be told without comparing globs' languages (it errs toward "no").
    pub fn covers(&self, later: &Condition) -> bool {
        if self.field != later.field {
            return false;
        }
        match (&self.test, &later.test) {
            (Test::Glob(glob), _) if matches!(glob.glob().glob(), "*" | "**") => true,
            (Test::Glob(earlier), Test::Glob(later)) => {
                earlier.glob().glob() == later.glob().glob()
            }
            (Test::Predicate(earlier), Test::Predicate(later)) => earlier == later,
            _ => false,
        }
    }

    /// The condition, the event's value and the verdict, for explain.
    pub fn explain(&self, event: &Event) -> ConditionVerdict {
        let expected = match &self.test {
            Test::Glob(glob) => Expected::Glob(glob.glob().glob().to_owned()),
            Test::Predicate(Predicate::Equals(value)) => Expected::Equals(value.clone()),
            Test::Predicate(Predicate::Exists(exists)) => Expected::Exists(*exists),
            Test::Predicate(Predicate::OneOf(values)) => Expected::OneOf(values.clone()),
        };
        ConditionVerdict {
            attribute: self.field.clone(),
            expected,
            actual: attribute(event, &self.field).map(String::from),
            holds: self.holds(event),
        }
    }
}
