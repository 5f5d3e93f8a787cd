//! Crash points, for the tests that prove nothing is lost or applied twice
//! whatever moment weir dies at.
//!
//! `WEIR_FAILPOINT=<point>:<action>:<n>` makes the `n`-th pass through `<point>`
//! (counting from 1) `abort` the process, as `kill -9` would, `panic` the task
//! that reached it, fail the write there with `enospc` (a full disk) or `eio`
//! (an I/O error), or `stall<ms>` the thread that reached it for that long,
//! as a process stopped mid-delivery would (`stall5000`). Unset, a pass costs
//! one load of a cached value.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::{StateRead, StateReadError, Versioned};
use crate::store::StoreError;

/// Where a delivery can be made to die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The handler returned; nothing of its outcome is committed yet.
    BeforeCommit,
    /// The outcome's batch is committed; nothing after it has run.
    AfterCommit,
    /// An ingest group is staged and about to be written.
    GroupCommit,
    /// An ingest group is written, visible to reads, and about to be
    /// synced: none of its deliveries may be leased yet.
    GroupSync,
    /// A NATS delivery's atomic batch is built and about to be sent: `eio`
    /// stands for JetStream refusing it (too many batches in flight, a
    /// leader change).
    NatsCommit,
    /// A handler's `state.get` is about to read the store: `eio` stands for
    /// a store that cannot answer (a cluster out of reach).
    StateRead,
    /// A tenant's resume is stored; its held deliveries are not released yet.
    TenantResume,
}

impl Point {
    fn name(self) -> &'static str {
        match self {
            Point::BeforeCommit => "before-commit",
            Point::AfterCommit => "after-commit",
            Point::GroupCommit => "group-commit",
            Point::GroupSync => "group-sync",
            Point::NatsCommit => "nats-commit",
            Point::StateRead => "state-read",
            Point::TenantResume => "tenant-resume",
        }
    }
}

struct Armed {
    point: String,
    action: String,
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
            let action = parts.next()?.to_owned();
            let nth = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            Some(Armed {
                point,
                action,
                nth,
                passes: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// The armed action, if this pass through `point` is the one that fails.
fn fires(point: Point) -> Option<&'static str> {
    let armed = armed()?;
    let hit = armed.point == point.name()
        && armed.passes.fetch_add(1, Ordering::Relaxed) + 1 == armed.nth;
    hit.then_some(armed.action.as_str())
}

/// Passes through `point`: dies here if `WEIR_FAILPOINT` says so, or returns
/// the I/O error the write here should fail with.
pub fn pass(point: Point) -> Option<std::io::Error> {
    let action = fires(point)?;
    tracing::error!(point = point.name(), action, "failpoint reached");
    if let Some(ms) = action.strip_prefix("stall") {
        let ms = ms.parse().unwrap_or_else(|_| {
            panic!("failpoint action {action}: stall takes milliseconds, as stall5000")
        });
        std::thread::sleep(std::time::Duration::from_millis(ms));
        return None;
    }
    match action {
        "abort" => std::process::abort(),
        "enospc" => Some(std::io::Error::from(std::io::ErrorKind::StorageFull)),
        "eio" => Some(std::io::Error::other("injected I/O error")),
        _ => panic!("failpoint {} reached", point.name()),
    }
}

/// A store's state read as handlers see it: through [`Point::StateRead`]
/// first, then `read`, whose error is told by its meaning.
pub fn state_read<E: Into<StoreError>>(read: impl FnOnce() -> Result<Versioned, E>) -> StateRead {
    if let Some(error) = pass(Point::StateRead) {
        return Err(StateReadError::Unavailable(error.to_string()));
    }
    read().map_err(|error| error.into().into())
}
