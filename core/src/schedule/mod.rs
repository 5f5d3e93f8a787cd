//! Scheduling policy, pure and unit-tested: which lane goes next (`fair.rs`),
//! how many deliveries a tenant may have running (`tenant_slots.rs`), how many
//! instances a plugin may use now (`concurrency.rs`), which results are health
//! signals (`health.rs`), the circuit breaker over a window of calls
//! (`breaker.rs`, `call_window.rs`), and the backoff before a retry
//! (`retry.rs`), how long a lease holds (`lease_time.rs`); and the state kept with them: every plugin's lanes with
//! their cursors and wake-up (`lanes.rs`) and a plugin's breakers by route
//! and tenant (`breakers.rs`). The delivery loop that applies them does the
//! I/O.

mod breaker;
mod breakers;
mod call_window;
mod concurrency;
mod fair;
mod health;
mod lanes;
mod lease_time;
mod retry;
mod tenant_slots;

pub use breaker::{Breaker, BreakerState, Permission, Status, Trip};
pub use breakers::{Breakers, Scope, Scoped};
pub use concurrency::{AdaptiveLimit, Load};
pub use fair::{Fair, Tenants};
pub use health::{Signal, faults_in_a_row, is_fault, reasons as breaker_reasons};
pub use lanes::{Lanes, LeasedAt, PluginLanes};
pub use lease_time::{AHEAD_WAIT, lease_ms};
pub use retry::retry_delay;
pub use tenant_slots::TenantSlots;
