//! weir: a durable event pipeline whose handlers are sandboxed WebAssembly
//! components.
//!
//! The modules, in the order an event meets them:
//!
//! - [`ingest`]: `POST /v1/events` — media type, parse, validate, admit;
//!   then the store's group commit (`weir_store_fjall::group_commit`) shares
//!   one fsync among the requests that arrive while one runs.
//! - [`queue`] (from `weir-store-fjall`): fjall storage; the per-plugin
//!   `ready` index, leases, scheduled retries, dead letters.
//! - [`route`]: the routing table that turns an event into deliveries.
//! - [`dispatch`]: a worker per plugin on the node's store ([`dispatch::Workers`])
//!   and replay jobs; the fjall lease loop and its timers are
//!   `weir_store_fjall::dispatch`.
//! - [`runtime`]: the wasmtime engine, the compiled plugins, and one fresh
//!   instance per delivery under fuel, deadline and memory limits.
//! - [`commit`] (from `weir-store-fjall`): the outcome, state writes, emitted
//!   events and idempotency record of a delivery in one atomic batch.
//!
//! Beside them: [`config`] (`weir.toml`), [`reload`] (the plugin directory
//! watched and changed plugins swapped in), [`api`] (the HTTP router and the
//! read endpoints), [`metrics`] and [`backlog`] (from `weir-core`),
//! [`backend`] (the stores behind weir-core's `Backend` seam: fjall here,
//! [`nats`] in the `weir-store-nats` crate), [`examples`] (the bundled
//! example plugins), [`retention`] (old events removed), [`failpoint`]
//! (crash points for tests), and [`server`], which wires it all together:
//! [`server::run`].

pub mod api;
pub mod authoring;
pub mod backend;
pub use weir_core::backlog;
pub mod client;
pub use weir_core::config;
pub use weir_store_fjall::commit;
pub mod dashboard;
pub mod data_dir;
pub mod dispatch;
pub mod egress_transport;
pub mod error;
pub use weir_event as event;
pub mod examples;
pub use weir_core::failpoint;
pub mod http_server;
pub mod ingest;
pub use weir_core::metrics;
pub use weir_core::plugins;
pub use weir_store_fjall::embedded;
pub use weir_store_fjall::queue;
pub use weir_store_nats as nats;
pub mod reload;
pub use weir_core::route;
pub use weir_core::schedule;
pub use weir_store_fjall::retention;
pub mod route_check;
pub use weir_runtime as runtime;
pub mod server;
pub mod telemetry;

pub use config::Config;
pub use error::Error;
pub use server::run;
