//! Start-up: reach the cluster and make sure weir's streams and bucket exist,
//! retrying until `connect_timeout_ms` (a cluster that is still electing its
//! JetStream leader answers errors for a few seconds).

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv, stream};
use tokio::sync::Semaphore;

use super::ingest::INGEST_BATCHES;
use super::{Names, Nats, NatsError, server_version};
use weir_core::config::{NatsAuth, NatsSettings, Retention};

/// How long start-up waits between tries.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// How long the deliveries stream remembers a `Nats-Msg-Id`: a client's resend
/// (or a child published again after a crash) within it is stored once.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Connects to the cluster and sets up the streams and the bucket.
pub async fn connect(settings: &NatsSettings, retention: &Retention) -> Result<Nats, NatsError> {
    // A credentials file that cannot be read will not become readable by
    // trying again: say so at once.
    options(settings).await?;
    let started = Instant::now();
    let mut last_error;
    loop {
        last_error = match try_connect(settings, retention).await {
            Ok(nats) => return Ok(nats),
            // Trying again reaches the same server.
            Err(too_old @ NatsError::ServerTooOld { .. }) => return Err(too_old),
            Err(error) => error,
        };
        if started.elapsed() + RETRY_PAUSE >= settings.connect_timeout {
            break;
        }
        tracing::warn!(error = %last_error, "NATS is not ready yet; trying again");
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    Err(match last_error {
        // The cluster answered, and refused what weir asked for.
        setup @ NatsError::Setup { .. } => setup,
        other => NatsError::Connect {
            servers: settings.servers.join(", "),
            timeout: settings.connect_timeout,
            message: other.to_string(),
        },
    })
}

async fn try_connect(settings: &NatsSettings, retention: &Retention) -> Result<Nats, NatsError> {
    let options = options(settings).await?;
    let client = options
        .connect(settings.servers.as_slice())
        .await
        .map_err(|e| NatsError::request("connect", e))?;
    server_version::check(&client.server_info().version)?;
    let jetstream = jetstream::new(client.clone());
    let names = Names::new(&settings.prefix);
    jetstream
        .create_or_update_stream(stream::Config {
            name: names.deliveries_stream(),
            subjects: vec![names.deliveries_subjects()],
            // A delivery leaves the stream once a node acknowledges it.
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: settings.replicas,
            duplicate_window: DUPLICATE_WINDOW,
            // Ingest stores a request's new deliveries as one atomic batch.
            allow_atomic_publish: true,
            ..Default::default()
        })
        .await
        .map_err(setup(names.deliveries_stream()))?;
    let deliveries = jetstream
        .get_stream(names.deliveries_stream())
        .await
        .map_err(setup(names.deliveries_stream()))?;
    // Kept until their tenant is resumed, however long that takes.
    jetstream
        .create_or_update_stream(stream::Config {
            name: names.held_stream(),
            subjects: vec![names.held_subjects()],
            storage: stream::StorageType::File,
            num_replicas: settings.replicas,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await
        .map_err(setup(names.held_stream()))?;
    let held = jetstream
        .get_stream(names.held_stream())
        .await
        .map_err(setup(names.held_stream()))?;
    // Kept until retention removes them: the dead letters to look into,
    // the events to replay.
    let dead = kept_stream(
        &jetstream,
        settings,
        retention,
        names.dead_stream(),
        vec![names.dead_subjects()],
    )
    .await?;
    let events = kept_stream(
        &jetstream,
        settings,
        retention,
        names.events_stream(),
        names.events_subjects(),
    )
    .await?;
    let records = records_bucket(&jetstream, &names, settings).await?;
    let pauses = bucket(&jetstream, names.pauses_bucket(), settings, None, None).await?;
    // A keyed request's answer is replayed within the dedup window only.
    let requests = bucket(
        &jetstream,
        names.requests_bucket(),
        settings,
        Some(retention.dedup_window),
        None,
    )
    .await?;
    tracing::info!(
        node = %settings.node,
        servers = %settings.servers.join(", "),
        prefix = %settings.prefix,
        "connected to NATS JetStream"
    );
    Ok(Nats {
        settings: settings.clone(),
        names,
        client,
        jetstream,
        deliveries,
        events,
        dead,
        held,
        holding: tokio::sync::Mutex::default(),
        records,
        pauses,
        requests,
        record_ttl: retention.retention,
        windows: Default::default(),
        ingest_batches: Semaphore::new(INGEST_BATCHES),
        delivery_batches: Semaphore::new(INGEST_BATCHES),
        restoring_batches: tokio::sync::Mutex::new(None),
    })
}

/// A stream that keeps its messages for `retention`.
async fn kept_stream(
    jetstream: &jetstream::Context,
    settings: &NatsSettings,
    retention: &Retention,
    name: String,
    subjects: Vec<String>,
) -> Result<stream::Stream, NatsError> {
    jetstream
        .create_or_update_stream(stream::Config {
            name: name.clone(),
            subjects,
            storage: stream::StorageType::File,
            num_replicas: settings.replicas,
            max_age: retention.retention,
            // JetStream refuses a window longer than what the stream keeps.
            duplicate_window: DUPLICATE_WINDOW.min(retention.retention),
            // A read by subject (ingest's of an identity's event) is answered by any replica.
            allow_direct: true,
            // Ingest stores a request's new events as one atomic batch.
            allow_atomic_publish: true,
            ..Default::default()
        })
        .await
        .map_err(setup(name.clone()))?;
    jetstream.get_stream(&name).await.map_err(setup(name))
}

async fn options(settings: &NatsSettings) -> Result<async_nats::ConnectOptions, NatsError> {
    let options = async_nats::ConnectOptions::new()
        .name(format!("weir {}", settings.node))
        .connection_timeout(settings.connect_timeout.min(Duration::from_secs(5)));
    Ok(match &settings.auth {
        NatsAuth::None => options,
        NatsAuth::Credentials(file) => {
            options
                .credentials_file(file)
                .await
                .map_err(|e| NatsError::Credentials {
                    path: file.clone(),
                    message: e.to_string(),
                })?
        }
        NatsAuth::UserPassword { user, password } => {
            options.user_and_password(user.clone(), password.clone())
        }
        NatsAuth::Token(token) => options.token(token.clone()),
    })
}

/// The bucket of commit records and state, with atomic batches allowed on
/// its stream (the key/value API does not set that flag itself).
async fn records_bucket(
    jetstream: &jetstream::Context,
    names: &Names,
    settings: &NatsSettings,
) -> Result<kv::Store, NatsError> {
    // Commit records expire once their events have (`Nats-TTL`); an expired
    // key leaves a delete marker for a second.
    let markers = Some(Duration::from_secs(1));
    let store = bucket(jetstream, names.records_bucket(), settings, None, markers).await?;
    allow_atomic_batches(jetstream, &format!("KV_{}", names.records_bucket())).await?;
    Ok(store)
}

/// Sets the stream `stream_name` up to take atomic batches, if it does not
/// yet: the key/value API leaves the flag out, and so does an older weir
/// that sets the events stream up again at its start. True if it did not
/// (and now does). The stream's other settings are written back as read:
/// every node sets them alike.
pub(crate) async fn allow_atomic_batches(
    jetstream: &jetstream::Context,
    stream_name: &str,
) -> Result<bool, NatsError> {
    let mut stream = jetstream
        .get_stream(stream_name)
        .await
        .map_err(setup(stream_name.to_owned()))?;
    let mut config = (stream.info().await)
        .map_err(setup(stream_name.to_owned()))?
        .config
        .clone();
    if config.allow_atomic_publish {
        return Ok(false);
    }
    config.allow_atomic_publish = true;
    jetstream
        .update_stream(config)
        .await
        .map_err(setup(stream_name.to_owned()))?;
    Ok(true)
}

/// The key/value bucket `name`, keeping each key's latest value on file, for
/// `max_age` if given, with per-key expiry (`Nats-TTL`) where `limit_markers`
/// gives how long an expired key's delete marker stays.
async fn bucket(
    jetstream: &jetstream::Context,
    name: String,
    settings: &NatsSettings,
    max_age: Option<Duration>,
    limit_markers: Option<Duration>,
) -> Result<kv::Store, NatsError> {
    jetstream
        .create_or_update_key_value(kv::Config {
            bucket: name.clone(),
            history: 1,
            storage: stream::StorageType::File,
            num_replicas: settings.replicas,
            max_age: max_age.unwrap_or_default(),
            limit_markers,
            ..Default::default()
        })
        .await
        .map_err(setup(name))
}

fn setup<E: std::fmt::Display>(what: String) -> impl FnOnce(E) -> NatsError {
    move |error| NatsError::Setup {
        what,
        message: error.to_string(),
    }
}
