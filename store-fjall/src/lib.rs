//! weir's embedded store, the crate `weir-store-fjall`: one node's events,
//! deliveries, results, idempotency records and plugin state in one fjall
//! database, and the fjall side of dispatch. It knows no HTTP and no other
//! store; weir names it as its default store.
//!
//! The modules, in the order an event meets them:
//!
//! - [`group_commit`]: ingest's write path; the requests that arrive while an
//!   fsync runs share the next one.
//! - [`queue`]: the database (`Queue`): the event log, the per-plugin `ready`
//!   lanes, leases, scheduled retries, ordering keys, held deliveries, dead
//!   letters, replays, idempotency records, state; every change that must be
//!   atomic is one staged write batch.
//! - [`dispatch`]: a worker per plugin that leases only while an instance
//!   slot is free and runs each delivery through weir-core's delivery
//!   engine, and the timers that bring due retries and expired leases back.
//! - [`commit`]: a delivery's ending, its effects and children in one batch.
//! - [`backend`]: the store behind weir-core's `Backend` seam ([`Fjall`]).
//! - [`retention`]: old events removed a batch at a time.
//!
//! [`open`] opens the database at start-up and closes it at shutdown, and
//! [`embedded::Embedded`] holds what the others share: the queue, and the
//! node's config, routes, plugins, metrics and backlog.

use weir_core::{failpoint, metrics, plugins, route, schedule};
use weir_event as event;
use weir_runtime as runtime;

pub mod backend;
pub mod commit;
pub mod dispatch;
pub mod embedded;
pub mod group_commit;
pub mod open;
pub mod queue;
pub mod retention;

pub use backend::Fjall;
