//! Crash points, for the tests that prove nothing is lost or applied twice
//! whatever moment weir dies at.
//!
//! `WEIR_FAILPOINT=<point>:<action>:<n>` makes the `n`-th pass through `<point>`
//! (counting from 1) either `abort` the process, as `kill -9` would, or `panic`
//! the task that reached it. Unset, a pass costs one load of a cached value.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a delivery can be made to die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The handler returned; nothing of its outcome is committed yet.
    BeforeCommit,
    /// The outcome's batch is committed; nothing after it has run.
    AfterCommit,
}

impl Point {
    fn name(self) -> &'static str {
        match self {
            Point::BeforeCommit => "before-commit",
            Point::AfterCommit => "after-commit",
        }
    }
}

struct Armed {
    point: String,
    abort: bool,
    nth: u64,
    passes: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("WEIR_FAILPOINT").ok()?;
            let mut parts = spec.split(':');
            let point = parts.next()?.to_owned();
            let abort = parts.next()? == "abort";
            let nth = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            Some(Armed {
                point,
                abort,
                nth,
                passes: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Passes through `point`: dies here if `WEIR_FAILPOINT` says so.
pub fn pass(point: Point) {
    let Some(armed) = armed() else { return };
    if armed.point != point.name() || armed.passes.fetch_add(1, Ordering::Relaxed) + 1 != armed.nth
    {
        return;
    }
    if armed.abort {
        tracing::error!(point = point.name(), "failpoint: aborting");
        std::process::abort();
    }
    panic!("failpoint {} reached", point.name());
}
