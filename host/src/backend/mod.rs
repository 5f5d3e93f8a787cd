//! The stores behind weir-core's [`Backend`] seam: [`Fjall`], the embedded
//! store of one node (the default), and [`crate::nats::NatsBackend`], a
//! JetStream cluster several nodes share. `[storage] backend` picks one at
//! start-up; the trait and the pages it passes are re-exported here.

mod fjall;
mod fjall_dead;
mod fjall_replay;

pub use fjall::Fjall;
pub use fjall_dead::resolve_id;
pub use weir_core::store::{
    Backend, DeadLetter, DeadLetterPage, DeadListing, EventLetters, ReplayLog, Requeue, Requeued,
    Reruns, Revived, StateEntries, StatePage,
};
