//! weir's core, the layer between the runtime and the stores: the config
//! model (`weir.toml`, plugin manifests), the routing table, the example
//! pipeline, the scheduling policy, the delivery engine both stores run
//! (`deliver`), the metrics registry and the backlog admission reads, and
//! the words the layers share about stored events and deliveries. It knows
//! no storage engine, network client or HTTP server: the crates above it do.

use weir_event as event;
use weir_runtime as runtime;

pub mod admission;
#[cfg(test)]
mod admission_tests;
pub mod backlog;
pub mod config;
pub mod deliver;
pub mod examples;
pub mod failpoint;
pub mod metrics;
pub mod oldest_ready;
pub mod plugins;
pub mod route;
pub mod schedule;
pub mod shared;
pub mod store;
pub mod tasks;
pub mod tenant_pauses;
pub mod trace_context;

pub use shared::Shared;
