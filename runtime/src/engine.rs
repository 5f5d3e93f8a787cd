//! The one wasmtime [`Engine`] every plugin is compiled for and runs on.

use std::path::Path;
use std::time::Duration;

use wasmtime::{
    Cache, CacheConfig, Config, Enabled, Engine, InstanceAllocationStrategy,
    PoolingAllocationConfig,
};

/// How often the epoch advances: the granularity of deadlines and of yielding to tokio.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Linear memory per slot reset in place rather than unmapped: a Rust guest's
/// stack, data and first heap pages.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Core instances one component instance may use: enough for the
/// interpreters componentize-py and componentize-js link in (the Python
/// example has 14, the others 3 or 4).
const CORE_INSTANCES_PER_SLOT: u32 = 32;

/// Linear memories one component instance may define. Every example,
/// Python and JavaScript included, defines one (its core modules share it).
const MEMORIES_PER_SLOT: u32 = 2;

/// Tables one component instance may define: every example defines two.
const TABLES_PER_SLOT: u32 = 8;

/// The same for tables.
const KEEP_RESIDENT_TABLE_BYTES: usize = 64 << 10;

/// Sizes of the pooling allocator, from the plugins it must hold.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    /// Instance slots across every plugin.
    pub instances: u32,
    /// The largest memory limit of any plugin.
    pub max_memory_bytes: usize,
}

/// Builds the engine (the GC and threads proposals are compiled out of this
/// wasmtime build, so plugins cannot use them): fuel, epoch interruption, a pooling allocator sized to the
/// instance slots, and wasmtime's compilation cache under `cache_dir`.
pub fn build(pool: PoolSize, cache_dir: &Path) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        // Well under the 2 MiB async stack, so a deep recursion traps instead of crashing.
        .max_wasm_stack(512 << 10)
        .async_stack_size(2 << 20);

    let slots = pool.instances.max(1);
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(slots)
        // A Rust component instantiates a few core modules (its code plus
        // adapter shims); a Python or JavaScript one links a dozen or more
        // (libc, the interpreter, the bindings), each with its tables.
        .total_core_instances(slots * CORE_INSTANCES_PER_SLOT)
        .total_memories(slots * MEMORIES_PER_SLOT)
        .total_tables(slots * TABLES_PER_SLOT)
        .total_stacks(slots)
        // No component may take more than one slot's share of the pool
        // (wasmtime's default is no limit): one with many memories or core
        // instances would otherwise leave other plugins' slots without any.
        // A component over a share is refused when it is compiled.
        .max_core_instances_per_component(CORE_INSTANCES_PER_SLOT)
        .max_memories_per_component(MEMORIES_PER_SLOT)
        .max_tables_per_component(TABLES_PER_SLOT)
        // Each memory; the store's limiter counts all of an instance's
        // memories against its plugin's `memory_bytes` together.
        .max_memory_size(pool.max_memory_bytes)
        // The same bound the store's limiter enforces, so growing a table is
        // refused by the limiter (`memory_limit`), never by the pool (a trap).
        .table_elements(super::context::bounds::TABLE_ELEMENTS)
        // A slot's next delivery reuses the pages the last one touched: they
        // are reset in place (only the resident ones, found with PAGEMAP_SCAN
        // on Linux 6.7+) instead of being unmapped and faulted back in, which
        // was most of the cost of a short delivery.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_TABLE_BYTES);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));

    let mut cache = CacheConfig::new();
    cache.with_directory(cache_dir);
    config.cache(Some(Cache::new(cache)?));
    Engine::new(&config)
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until `stop` is cancelled.
pub async fn tick_epochs(engine: Engine, stop: tokio_util::sync::CancellationToken) {
    let mut ticks = tokio::time::interval(EPOCH_TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => engine.increment_epoch(),
        }
    }
}
