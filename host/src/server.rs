//! Start-up, serving and shutdown: the one place where the stages are wired together.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weir_core::Shared;
use weir_core::tasks::Tasks;
use weir_store_fjall::open as fjall;

use crate::api::{self, AppState};
use crate::backend::Backend;
use crate::config::{Config, EventType, Scheme, Storage};
use crate::dispatch;
use crate::egress_transport::Http1Transport;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::nats::NatsBackend;
use crate::plugins::Plugins;
use crate::queue::QueueError;
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

    let (plugins, found) = prepare_plugins(&mut config).await?;
    let startup_plugins = Arc::new(api::StartupPlugins::new(found, config.reload.ready_wait));
    // Stops weir on a signal (`shutdown`) or when storage fails (the store cancels it).
    let stop = shutdown.child_token();
    let shared = Shared::new(config, Metrics::new(), plugins, stop.clone());
    let background = TaskTracker::new();
    let deliveries = TaskTracker::new();
    let tasks = Tasks {
        stop: stop.clone(),
        background: background.clone(),
        deliveries: deliveries.clone(),
    };
    let (backend, embedded) = open_backend(&shared, &tasks).await?;

    // Epochs keep ticking until the last delivery is done: they enforce its deadline.
    let stop_ticking = CancellationToken::new();
    tokio::spawn(engine::tick_epochs(
        shared.plugins.engine().clone(),
        stop_ticking.clone(),
    ));
    crate::reload::start(dispatch::Workers {
        shared: shared.clone(),
        tasks,
        backend: backend.clone(),
    })?;

    let address = listener
        .local_addr()
        .map_err(io("read the listen address of", Path::new("socket")))?;
    log_start(&shared, address);
    let history = Arc::<crate::dashboard::History>::default();
    background.spawn(crate::dashboard::sample(
        shared.clone(),
        history.clone(),
        stop.clone(),
    ));
    let config = shared.config.clone();
    let state = AppState::new(api::App {
        history,
        shared,
        backend,
        replays: Arc::default(),
        admission: Arc::default(),
        keys_in_flight: Arc::default(),
        startup_plugins,
        body_budget: Arc::new(api::BodyBudget::new(config.ingest.max_body_bytes_in_flight)),
    });
    let limits = crate::http_server::Limits {
        header_timeout: config.ingest.header_timeout,
        max_connections: config.ingest.max_connections,
        grace: config.dispatch.shutdown_grace,
    };
    crate::http_server::serve(listener, api::router(state), limits, stop.clone()).await;

    // Stopping: the server no longer admits; workers stopped leasing on the same token.
    background.close();
    background.wait().await;
    deliveries.close();
    let grace = config.dispatch.shutdown_grace;
    let unfinished = tokio::time::timeout(grace, deliveries.wait())
        .await
        .is_err();
    if unfinished {
        tracing::warn!(
            running = deliveries.len(),
            "deliveries still running after {grace:?}; they run again after a restart"
        );
    }
    stop_ticking.cancel();
    // The router and the workers (and with them the last committer handle)
    // are gone: the embedded store's commit thread drains and ends.
    if let Some(embedded) = embedded {
        embedded
            .close()
            .await
            .map_err(|source| store_error(&config, source))?;
    }
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

/// The backend `[storage]` names: on fjall, with the embedded store to
/// close once weir has stopped.
async fn open_backend(
    shared: &Shared,
    tasks: &Tasks,
) -> Result<(Arc<dyn Backend>, Option<fjall::Running>), Error> {
    match &shared.config.storage {
        Storage::Fjall => {
            let (backend, running) = fjall::open(shared.clone(), tasks)
                .map_err(|source| store_error(&shared.config, source))?;
            Ok((Arc::new(backend), Some(running)))
        }
        Storage::Nats(settings) => {
            let nats = crate::nats::connect(settings, &shared.config.retention).await?;
            let backend = NatsBackend::start(shared.clone(), nats).await?;
            Ok((Arc::new(backend), None))
        }
    }
}

/// The start-up error of an embedded store that cannot open or close.
fn store_error(config: &Config, error: fjall::OpenError) -> Error {
    let path = fjall::queue_dir(&config.data_dir);
    match error {
        fjall::OpenError::Queue(QueueError::Locked) => Error::Locked {
            dir: config.data_dir.clone(),
        },
        fjall::OpenError::Queue(source) => Error::Queue { path, source },
        fjall::OpenError::CommitThread(source) => Error::Io {
            action: "start the group-commit thread in",
            path: config.data_dir.clone(),
            source,
        },
        fjall::OpenError::StorageFailed => Error::StorageFailed { path },
    }
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

fn log_start(shared: &Shared, address: std::net::SocketAddr) {
    let config = &shared.config;
    let routes = shared.routes.current();
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
