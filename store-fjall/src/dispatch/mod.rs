//! Dispatch on the embedded store: the lease loop is weir-core's
//! (`weir_core::deliver::serve_plugin`), which leases from the fjall queue
//! through `embedded.rs`; the timers that make retries due and expired
//! leases ready again, the hold of paused tenants and the oldest-ready
//! watch are this store's.

mod embedded;
mod expiry;
mod hold;
mod oldest_ready;
mod scheduler;

pub use embedded::{FjallDeliveries, FjallLeased};
pub use oldest_ready::watch_oldest_ready;
pub use scheduler::run_timers;
