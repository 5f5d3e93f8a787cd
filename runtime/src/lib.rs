//! weir's WebAssembly runtime: one engine, one linker, a compiled
//! `InstancePre` per plugin version, and a fresh store and instance per
//! delivery under the plugin's limits. It knows events and plugins, not
//! storage, scheduling or HTTP serving: the layers above call
//! [`Version::run`] with an [`Attempt`] and get back its [`Execution`].

use weir_event as event;

mod bindings;
pub mod capabilities;
mod committed_state;
mod connect;
mod context;
mod destination;
mod egress;
mod egress_bytes;
pub mod engine;
mod execute;
mod imports;
mod memory_budget;
mod plugin;
pub mod settings;

pub use bindings::{NewEvent, Outcome};
pub use committed_state::{CommittedState, StateRead, StateReadError, Versioned};
pub use connect::{Sent, Target, Timeouts, Transport};
pub use context::Effects;
pub use execute::{Attempt, DEADLINE_SLACK, Execution, Failure, FailureKind};
pub use plugin::{
    Linkers, PluginError, PluginFiles, Version, discover, is_valid_plugin_name, linker, scan,
};
/// The engine plugins are compiled for, so the layers above need not name
/// wasmtime.
pub use wasmtime::Engine;
