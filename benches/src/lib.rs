//! What weir's benchmarks share: the plugins they run, and the events, route
//! tables and pipelines they measure one part of weir with.

pub mod queue_setup;
pub mod route_table;

use std::path::{Path, PathBuf};

/// The component of the bench plugin `name`, built by `build.rs`.
pub fn component(name: &str) -> PathBuf {
    Path::new(env!("WEIR_BENCH_PLUGINS")).join(format!("{name}.wasm"))
}
