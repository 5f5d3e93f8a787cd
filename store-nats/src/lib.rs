//! weir's JetStream store, the crate `weir-store-nats` (`[storage] backend =
//! "nats"`; re-exported as `weir::nats`): several weir nodes share one
//! cluster. It implements weir-core's `Backend` seam and answers the one
//! delivery engine through `deliver::Deliveries` (`pulled.rs`); it knows no
//! HTTP and no other store. Ingest publishes each (event, plugin)
//! delivery to a work-queue stream; every node pulls from the durable
//! consumers of each plugin's feeds (one per priority, one per key
//! partition), with the ack wait as the lease; a finished delivery's commit
//! record and its state writes go to a key/value bucket in one atomic batch
//! that fails if the record exists or the state it read changed, so two
//! nodes racing on a delivery apply its effects once.

mod atomic;
mod backend;
mod backlog;
mod commit;
mod connect;
mod dead;
mod dead_actions;
mod events;
mod faults;
mod feed_pull;
mod held;
mod ingest;
mod names;
mod pauses;
mod pulled;
mod replay;
mod requests;
mod server_version;
mod state;
mod waits;
mod window;
mod worker;

use std::time::Duration;

use async_nats::jetstream::{self, kv};

pub use backend::NatsBackend;
pub use connect::connect;
use names::Names;

use weir_core::config::NatsSettings;
use weir_core::store::StoreError;

/// Why the NATS backend could not do something; each names what it tried.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// No server of the cluster answered before `connect_timeout_ms`.
    #[error("cannot reach NATS at {servers} within {timeout:?}: {message}")]
    Connect {
        /// The servers tried.
        servers: String,
        /// How long weir tried.
        timeout: Duration,
        /// The last error.
        message: String,
    },
    /// The `credentials` file cannot be read or is not a `.creds` file.
    #[error("cannot use the NATS credentials file {path}: {message}")]
    Credentials {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// A stream, consumer or bucket could not be set up.
    #[error("cannot set up JetStream {what}: {message}")]
    Setup {
        /// What weir was setting up.
        what: String,
        /// JetStream's answer.
        message: String,
    },
    /// The server weir connected to is older than the oldest it runs on.
    #[error(
        "nats-server {found} is older than weir runs on ({minimum}; earlier releases lack fixes to the atomic batches weir commits with): upgrade every server of the cluster"
    )]
    ServerTooOld {
        /// The version the server gave.
        found: String,
        /// The oldest weir accepts.
        minimum: &'static str,
    },
    /// A publish, read or acknowledgement failed.
    #[error("JetStream {action} failed: {message}")]
    Request {
        /// What weir was doing.
        action: &'static str,
        /// Why.
        message: String,
    },
}

impl From<NatsError> for StoreError {
    /// Every failure of the cluster is one to retry: nothing it refused was
    /// stored.
    fn from(error: NatsError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

impl NatsError {
    /// A failed request: what weir was doing, and why it failed.
    fn request(action: &'static str, error: impl std::fmt::Display) -> NatsError {
        NatsError::Request {
            action,
            message: error.to_string(),
        }
    }
}

/// A connection to the cluster, with the streams and bucket set up.
pub struct Nats {
    /// What `[storage.nats]` says.
    pub settings: NatsSettings,
    names: Names,
    client: async_nats::Client,
    jetstream: jetstream::Context,
    deliveries: jetstream::stream::Stream,
    /// Every event, kept for replay.
    events: jetstream::stream::Stream,
    /// The dead deliveries.
    dead: jetstream::stream::Stream,
    /// The deliveries of paused tenants.
    held: jetstream::stream::Stream,
    /// Taken to hold a delivery, and to mark a tenant resumed: a resume
    /// that has marked its tenant then finds every delivery this node held.
    holding: tokio::sync::Mutex<()>,
    records: kv::Store,
    /// Operators' pauses, which every node follows.
    pauses: kv::Store,
    /// The answers to keyed requests, for `[queue] dedup_window_ms`.
    requests: kv::Store,
    /// How long a commit record, or a delivery's kept faults, is kept: as
    /// long as its event (`[queue] retention_ms`), past which no redelivery
    /// or replay can meet it.
    record_ttl: Duration,
    /// What this node has pulled, for how long ready deliveries wait.
    windows: waits::Windows,
    /// Turns to have an ingest batch in flight on the events stream.
    ingest_batches: tokio::sync::Semaphore,
    /// Turns to have a batch of deliveries in flight on the deliveries
    /// stream.
    delivery_batches: tokio::sync::Semaphore,
    /// Held while this node sets the events stream up again to take atomic
    /// batches, so that the requests refused meanwhile do not each do it;
    /// when it last failed to.
    restoring_batches: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Nats {
    /// This node's name.
    pub fn node(&self) -> &str {
        &self.settings.node
    }

    /// The `Nats-TTL` of a record that expires with its event: whole
    /// seconds, at least one, as the header takes them.
    fn record_ttl_header(&self) -> String {
        self.record_ttl.as_secs().max(1).to_string()
    }

    /// The subject of the records bucket's key `key`, to publish it with
    /// headers the key/value API does not set.
    fn record_subject(&self, key: &str) -> String {
        format!("{}{key}", self.records.prefix)
    }

    /// Whether the client is connected to a server of the cluster now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}
