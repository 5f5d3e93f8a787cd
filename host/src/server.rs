//! Start-up, serving and shutdown: the one place where the stages are wired together.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, AppState};
use crate::backend::{Backend, Fjall};
use crate::config::{Config, EventType, Scheme, Storage};
use crate::dispatch;
use crate::egress_transport::Http1Transport;
use crate::error::Error;
use crate::ingest::GroupCommitter;
use crate::metrics::Metrics;
use crate::nats::NatsBackend;
use crate::pipeline::Pipeline;
use crate::plugins::Plugins;
use crate::queue::{PauseScope, Queue, QueueError};
use crate::runtime::{self, engine};

/// wasmtime's compilation cache, under the data directory.
const CACHE_DIR: &str = "cache";

/// Runs weir on `listener` until `shutdown` is cancelled, then stops admitting,
/// lets in-flight deliveries finish (within `dispatch.shutdown_grace`) and syncs.
pub async fn run(
    mut config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    crate::data_dir::prepare(&config.data_dir, &config.data_dir.join(CACHE_DIR))?;
    if config.plugins_dir_is_default
        && crate::examples::install_if_missing(&config.plugins_dir)
            .map_err(io("install example plugins into", &config.plugins_dir))?
    {
        tracing::info!(dir = %config.plugins_dir.display(), "installed the example plugins");
    }

    let queue_dir = config.data_dir.join("queue");
    let queue = Queue::open(&queue_dir, config.durability).map_err(|source| match source {
        QueueError::Locked => Error::Locked {
            dir: config.data_dir.clone(),
        },
        source => Error::Queue {
            path: queue_dir.clone(),
            source,
        },
    })?;
    let events = queue.check_sequence().map_err(|source| Error::Queue {
        path: queue_dir.clone(),
        source,
    })?;
    let (plugins, found) = prepare_plugins(&mut config).await?;
    let startup_plugins = Arc::new(api::StartupPlugins::new(found, config.reload.ready_wait));
    let recovered = queue.recover_leases().map_err(|source| Error::Queue {
        path: queue_dir.clone(),
        source,
    })?;
    let pending = queue.pending_counts().map_err(|source| Error::Queue {
        path: queue_dir.clone(),
        source,
    })?;

    let metrics = Metrics::new();
    // Stops weir on a signal (`shutdown`) or when storage fails (the pipeline cancels it).
    let stop = shutdown.child_token();
    let pipeline = Arc::new(Pipeline::new(config, queue, metrics, plugins, stop.clone()));
    tracing::info!(events, "the event log is intact");
    restore_pauses(&pipeline).map_err(|source| Error::Queue {
        path: queue_dir.clone(),
        source,
    })?;
    for ((plugin, tenant), count) in &pending {
        pipeline.pending_changed(plugin, tenant, *count);
    }
    if !recovered.is_empty() {
        tracing::warn!(
            count = recovered.len(),
            "deliveries leased when weir last stopped will run again"
        );
    }
    let (backend, commit_thread) = open_backend(&pipeline).await?;

    let background = TaskTracker::new();
    let deliveries = TaskTracker::new();
    // Epochs keep ticking until the last delivery is done: they enforce its deadline.
    let stop_ticking = CancellationToken::new();
    tokio::spawn(engine::tick_epochs(
        pipeline.plugins.engine().clone(),
        stop_ticking.clone(),
    ));
    background.spawn(dispatch::run_timers(pipeline.clone(), stop.clone()));
    background.spawn(crate::retention::run_retention(
        pipeline.clone(),
        stop.clone(),
    ));
    let workers = dispatch::Workers {
        pipeline: pipeline.clone(),
        tasks: weir_core::tasks::Tasks {
            stop: stop.clone(),
            background: background.clone(),
            deliveries: deliveries.clone(),
        },
        backend: backend.clone(),
    };
    background.spawn(dispatch::watch_oldest_ready(pipeline.clone(), stop.clone()));
    crate::reload::start(workers)?;

    let address = listener
        .local_addr()
        .map_err(io("read the listen address of", Path::new("socket")))?;
    log_start(&pipeline, address);
    let history = Arc::<crate::dashboard::History>::default();
    background.spawn(crate::dashboard::sample(
        pipeline.shared(),
        history.clone(),
        stop.clone(),
    ));
    let state = AppState {
        history,
        shared: pipeline.shared(),
        backend,
        replays: Arc::default(),
        admission: Arc::default(),
        keys_in_flight: Arc::default(),
        startup_plugins,
        body_budget: Arc::new(api::BodyBudget::new(
            pipeline.config.ingest.max_body_bytes_in_flight,
        )),
    };
    let limits = crate::http_server::Limits {
        header_timeout: pipeline.config.ingest.header_timeout,
        max_connections: pipeline.config.ingest.max_connections,
        grace: pipeline.config.dispatch.shutdown_grace,
    };
    crate::http_server::serve(listener, api::router(state), limits, stop.clone()).await;

    // Stopping: the server no longer admits; workers stopped leasing on the same token.
    background.close();
    background.wait().await;
    deliveries.close();
    let grace = pipeline.config.dispatch.shutdown_grace;
    if tokio::time::timeout(grace, deliveries.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            running = deliveries.len(),
            "deliveries still running after {grace:?}; their leases are released and they run again after a restart"
        );
        if let Err(error) = pipeline.queue.recover_leases() {
            tracing::error!(%error, "cannot release the leases of unfinished deliveries; the next start will");
        }
    }
    stop_ticking.cancel();
    // The router and the workers (and with them the last committer handle)
    // are gone: the commit thread drains and ends.
    if let Some(commit_thread) = commit_thread {
        let _ = tokio::task::spawn_blocking(move || commit_thread.join()).await;
    }
    if !pipeline.storage_ok() {
        return Err(Error::StorageFailed { path: queue_dir });
    }
    pipeline.queue.sync().map_err(|source| Error::Queue {
        path: queue_dir,
        source,
    })?;
    tracing::info!("weir stopped");
    Ok(())
}

/// Names each hmac webhook sender: its scheme signs the body only, with no
/// time, so a captured request resent later is not refused by age.
fn warn_of_unprotected_webhooks(config: &Config) {
    for (name, webhook) in &config.webhooks {
        if !matches!(webhook.scheme, Scheme::Hmac { .. }) {
            continue;
        }
        let unsigned_type = match &webhook.event_type {
            EventType::Header(header) => format!(
                "; its type comes from the unsigned {header} header, so a body weir has not seen \
                 yet can arrive under another type"
            ),
            EventType::Fixed(_) | EventType::BodyField(_) => String::new(),
        };
        tracing::warn!(
            webhook = %name,
            "webhook sender {name:?} (scheme = \"hmac\") signs no timestamp: resends are not \
             refused by age; a resent body is a duplicate only within queue.dedup_window_ms{unsigned_type}"
        );
    }
}

/// The backend `[storage]` names: on fjall, with the group-commit thread
/// that writes it, which ends once the backend is dropped.
async fn open_backend(
    pipeline: &Arc<Pipeline>,
) -> Result<(Arc<dyn Backend>, Option<std::thread::JoinHandle<()>>), Error> {
    match &pipeline.config.storage {
        Storage::Fjall => {
            let (committer, commit_thread) =
                GroupCommitter::start(pipeline.clone()).map_err(io(
                    "start the group-commit thread in",
                    &pipeline.config.data_dir,
                ))?;
            let backend = Fjall::new(pipeline.clone(), committer);
            Ok((Arc::new(backend), Some(commit_thread)))
        }
        Storage::Nats(settings) => {
            let nats = crate::nats::connect(settings, &pipeline.config.retention).await?;
            let backend = NatsBackend::start(pipeline.shared(), nats).await?;
            Ok((Arc::new(backend), None))
        }
    }
}

/// Applies the pauses operators made before the last stop (a plugin's pause
/// reaches the plugin when it is loaded). On NATS the embedded queue holds
/// none: the cluster's plugin pauses arrive through `NatsBackend`.
fn restore_pauses(pipeline: &Pipeline) -> Result<(), crate::queue::QueueError> {
    for tenant in pipeline.queue.paused(PauseScope::Tenant)? {
        pipeline.tenant_pauses.set(&tenant, true);
        tracing::warn!(%tenant, "tenant paused by an operator before the last stop; still paused");
    }
    for plugin in pipeline.queue.paused(PauseScope::Plugin)? {
        pipeline
            .plugins
            .set_paused(&plugin, true, &pipeline.metrics);
    }
    Ok(())
}

/// Maps an I/O error to [`Error::Io`] naming `action` and `path`.
fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Reads the plugins' manifests into `config`, checks that each route names
/// a plugin in the plugin directory, and builds the engine and linker with
/// the instance pool sized for them. The plugins themselves are compiled in
/// the background once weir serves (`reload::start`). Returns the registry
/// and the names of the plugins found.
async fn prepare_plugins(config: &mut Config) -> Result<(Plugins, Vec<String>), Error> {
    let found = runtime::discover(&config.plugins_dir)?;
    for refused in config.apply_manifests(&found) {
        tracing::warn!(error = %refused, "a plugin's manifest is refused; the plugin will not load");
    }
    crate::examples::keep_routes_if_installed(config, |plugin| found.contains_key(plugin));
    crate::route_check::missing_plugin(config, &found)?;
    let pool = engine::PoolSize {
        instances: found
            .keys()
            .map(|name| config.limits_for(name).instances)
            .sum::<u32>()
            + config.reload.spare_instances,
        // Plugins added later with the default limits must fit too.
        max_memory_bytes: found
            .keys()
            .map(|name| config.limits_for(name).memory_bytes)
            .chain([config.plugin_defaults.memory_bytes])
            .max()
            .unwrap_or_default(),
    };
    let cache = config.data_dir.join(CACHE_DIR);
    let names: Vec<String> = found.keys().cloned().collect();
    let plugins = tokio::task::spawn_blocking(move || {
        let engine = engine::build(pool, &cache).map_err(|e| Error::Engine(format!("{e:#}")))?;
        let linker = runtime::linker(&engine, Arc::new(Http1Transport))
            .map_err(|e| Error::Engine(format!("{e:#}")))?;
        let plugins = Plugins::new(engine, linker, pool, BTreeMap::new());
        // `loading` in `GET /v1/plugins` from the first request on.
        for name in found.keys() {
            plugins.compiling(name);
        }
        Ok::<_, Error>(plugins)
    })
    .await
    .map_err(|e| Error::Engine(format!("building the engine panicked: {e}")))??;
    Ok((plugins, names))
}

fn log_start(pipeline: &Pipeline, address: std::net::SocketAddr) {
    let config = &pipeline.config;
    let routes = pipeline.routes();
    tracing::info!(
        data_dir = %config.data_dir.display(),
        plugins_dir = %config.plugins_dir.display(),
        routes = routes.len(),
        "weir is listening on http://{address}"
    );
    warn_of_unprotected_webhooks(config);
    if routes.is_empty() {
        tracing::warn!(
            "no routes are configured: events are stored but go to no plugin; add [[routes]] \
             to a config file (weir serve --config FILE) or [[route]] to the routes.toml beside \
             it, and check them with `weir routes check FILE`"
        );
    } else {
        tracing::info!(
            from = %config.routes_source,
            routes = %routes.names().collect::<Vec<_>>().join(", "),
            "routes in force"
        );
    }
}
