//! The WebAssembly runtime: one engine, one linker, a compiled `InstancePre`
//! per plugin, and a fresh store and instance per delivery.

mod bindings;
mod committed_state;
mod connect;
mod context;
mod destination;
mod egress;
pub mod engine;
mod execute;
mod imports;
mod memory_budget;
mod plugin;
mod registry;

pub use bindings::{NewEvent, Outcome};
pub use committed_state::CommittedState;
pub use context::Effects;
pub use execute::{Attempt, DEADLINE_SLACK, Execution, Failure, FailureKind};
pub use plugin::{
    Gate, Linkers, Plugin, PluginError, PluginFiles, Version, discover, is_valid_plugin_name,
    linker, scan,
};
pub use registry::{Plugins, Rejection};
