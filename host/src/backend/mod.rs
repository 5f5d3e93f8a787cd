//! The stores behind weir-core's [`Backend`] seam: [`Fjall`] (the crate
//! `weir-store-fjall`), the embedded store of one node (the default), and
//! [`crate::nats::NatsBackend`] (`weir-store-nats`), a JetStream cluster
//! several nodes share. `[storage] backend` picks one at start-up; the
//! trait and the pages it passes are re-exported here.

pub use weir_core::store::{
    Backend, DeadLetter, DeadLetterPage, DeadListing, EventLetters, EventRef, ReplayLog, Requeue,
    Requeued, Reruns, Revived, StateEntries, StatePage, StoredEvent,
};
pub use weir_store_fjall::Fjall;
