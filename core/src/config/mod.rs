//! `weir.toml`: the raw file model, its defaults, and the validated [`Config`].
//!
//! Precedence, lowest first: built-in defaults, the config file, `WEIR_*`
//! environment variables and command-line flags (the binary merges those two
//! into [`Overrides`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod auth;
mod exposure;
mod lane_weights;
mod manifest;
mod marks;
mod nats_refusals;
mod plugin_maxima;
mod routes_file;
mod storage;
mod webhooks;

pub use auth::{Auth, Principal, new_token, written_hash};
pub use exposure::{ALLOW_FLAG, unauthenticated_remote};
pub use lane_weights::LaneWeights;
pub use marks::Watermarks;
pub use plugin_maxima::PluginMaxima;
pub use routes_file::ROUTES_FILE;
pub use storage::{NatsAuth, NatsSettings, Storage};
pub use webhooks::{Encoding, EventType, Scheme, Webhook};
pub use weir_runtime::capabilities::{self, Capabilities, HttpGrant};
pub use weir_runtime::settings::{BreakerLimits, PluginLimits, PluginSettings};

use crate::route::{RouteSpec, RouteTable};
use crate::store::Durability;

/// Where weir keeps its data when nothing says otherwise (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "weir-data";
const DAY_MS: u64 = 24 * 3600 * 1000;

/// Loopback only by default: weir's default config lists no tokens, so auth is off.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// A problem with the configuration; the message names the file, key or route.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown or mistyped key.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A plugin manifest (`NAME.toml` beside `NAME.wasm`) is not valid TOML
    /// or has an unknown or mistyped key.
    #[error("invalid plugin manifest {path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid config: {0}")]
    Invalid(String),
    /// A route that does not make sense.
    #[error("invalid config: {0}")]
    Route(#[from] crate::route::RouteError),
}

/// The raw file, exactly as written; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    plugins_dir: Option<PathBuf>,
    #[serde(default)]
    queue: RawQueue,
    #[serde(default)]
    ingest: RawIngest,
    #[serde(default)]
    dispatch: RawDispatch,
    #[serde(default)]
    reload: RawReload,
    #[serde(default)]
    routing: RawRouting,
    #[serde(default)]
    tenant_defaults: RawTenantLimits,
    #[serde(default)]
    tenants: BTreeMap<String, RawTenantLimits>,
    #[serde(default)]
    plugin_limits: plugin_maxima::RawPluginMaxima,
    #[serde(default)]
    plugin_defaults: RawPluginLimits,
    #[serde(default)]
    plugins: BTreeMap<String, RawPluginSection>,
    #[serde(default, rename = "route")]
    routes: Option<Vec<RouteSpec>>,
    #[serde(default)]
    webhooks: BTreeMap<String, webhooks::RawWebhook>,
    #[serde(default)]
    auth: auth::RawAuth,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    storage: storage::RawStorage,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngest {
    max_body_bytes: Option<usize>,
    max_events_per_request: Option<usize>,
    backlog_high_water: Option<u64>,
    backlog_low_water: Option<u64>,
    oldest_ready_high_water_ms: Option<u64>,
    oldest_ready_low_water_ms: Option<u64>,
    header_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    max_body_bytes_in_flight: Option<usize>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenantLimits {
    rate_per_sec: Option<f64>,
    burst: Option<f64>,
    backlog_high_water: Option<u64>,
    backlog_low_water: Option<u64>,
    weight: Option<u32>,
    max_in_flight: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    durability: Option<Durability>,
    retention_ms: Option<u64>,
    dedup_window_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDispatch {
    max_hops: Option<u32>,
    shutdown_grace_ms: Option<u64>,
    lease_grace_ms: Option<u64>,
    retry_in_place_max_ms: Option<u64>,
    #[serde(default)]
    lane_weights: lane_weights::RawLaneWeights,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPluginLimits {
    fuel: Option<u64>,
    memory_bytes: Option<usize>,
    deadline_ms: Option<u64>,
    instances: Option<u32>,
    max_attempts: Option<u32>,
    backoff_initial_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
    poison_after: Option<u32>,
    breaker_window_ms: Option<u64>,
    breaker_min_calls: Option<u32>,
    breaker_failure_rate: Option<f64>,
    breaker_retry_later_rate: Option<f64>,
    breaker_cooldown_ms: Option<u64>,
    breaker_probes: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    unmatched: Option<Unmatched>,
}

/// What becomes of an event no route matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    /// Stored with no deliveries, visible in `GET /v1/events/{id}`.
    #[default]
    Keep,
    /// Refused at ingest with 422 `unrouted`; nothing is stored.
    Reject,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    tenant_series: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReload {
    watch: Option<bool>,
    debounce_ms: Option<u64>,
    spare_instances: Option<u32>,
    ready_wait_ms: Option<u64>,
}

/// A `[plugins.NAME]` section or a plugin manifest: the limits, and the
/// `[config]` and `[capabilities]` tables.
///
/// Read through a table rather than with `#[serde(flatten)]`: serde's error
/// for an unknown key beside a flattened struct names the key but not the
/// keys it expected, and points at the table's first line.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(try_from = "toml::Table")]
struct RawPluginSection {
    limits: RawPluginLimits,
    config: BTreeMap<String, String>,
    capabilities: capabilities::RawCapabilities,
}

impl TryFrom<toml::Table> for RawPluginSection {
    type Error = String;

    fn try_from(mut table: toml::Table) -> Result<Self, String> {
        let config = table
            .remove("config")
            .map(|config| config.try_into())
            .transpose()
            .map_err(|e: toml::de::Error| format!("[config]: {}", e.message()))?;
        let capabilities = table
            .remove("capabilities")
            .map(|capabilities| capabilities.try_into())
            .transpose()
            .map_err(|e: toml::de::Error| format!("[capabilities]: {}", e.message()))?;
        let limits = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                format!("{}, or the tables [config] and [capabilities]", e.message())
            })?;
        Ok(RawPluginSection {
            limits,
            config: config.unwrap_or_default(),
            capabilities: capabilities.unwrap_or_default(),
        })
    }
}

/// Values given on the command line or in `WEIR_*` variables; they win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir` / `WEIR_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--listen` / `WEIR_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `--plugins-dir` / `WEIR_PLUGINS_DIR`.
    pub plugins_dir: Option<PathBuf>,
}

/// Where the routing table in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutesSource {
    /// The file that names the routes: `[[routes]]` in the config file, or
    /// `[[route]]` in the `routes.toml` beside it.
    File(PathBuf),
    /// No file names a route, and the example plugins are installed: the
    /// example pipeline routes to them.
    Examples,
    /// No file names a route, and the example plugins are not installed.
    Nowhere,
}

impl std::fmt::Display for RoutesSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoutesSource::File(path) => write!(f, "{}", path.display()),
            RoutesSource::Examples => f.write_str(
                "the example pipeline (no file names a route, and the example plugins are installed)",
            ),
            RoutesSource::Nowhere => f.write_str("nowhere (no file names a route)"),
        }
    }
}

/// The validated configuration weir runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where fjall keeps the queue, results and state.
    pub data_dir: PathBuf,
    /// The HTTP listen address.
    pub listen: SocketAddr,
    /// The directory of `NAME.wasm` plugin components.
    pub plugins_dir: PathBuf,
    /// True when no one chose a plugin directory: weir then installs its bundled examples there.
    pub plugins_dir_is_default: bool,
    /// What a `202` promises: `fsync` (survives power loss) or `buffered`
    /// (survives a crash of weir only).
    pub durability: Durability,
    /// How long finished events are kept.
    pub retention: Retention,
    /// Limits on what one ingest request may carry, and when ingest sheds load.
    pub ingest: IngestLimits,
    /// Ingest rate limits for tenants without a section of their own.
    pub tenant_defaults: TenantLimits,
    /// Per-tenant ingest rate limits, by tenant.
    pub tenants: BTreeMap<String, TenantLimits>,
    /// Bounds on dispatch.
    pub dispatch: DispatchLimits,
    /// How plugin files are reloaded while weir runs.
    pub reload: Reload,
    /// The most any plugin may run with (`[plugin_limits]`); manifests only narrow it.
    pub plugin_maxima: PluginMaxima,
    /// Limits for plugins without a section of their own.
    pub plugin_defaults: PluginLimits,
    /// Per-plugin limits and config values, by plugin name.
    pub plugins: BTreeMap<String, PluginSettings>,
    /// The routing table.
    pub routes: RouteTable,
    /// Where the routing table came from: a file, or the example pipeline
    /// when no file names any route.
    pub routes_source: RoutesSource,
    /// What becomes of events no route matches.
    pub unmatched: Unmatched,
    /// The file it was read from, if any: a reload reads its routes again.
    pub source: Option<PathBuf>,
    /// Third-party webhook senders, by the name in their URL.
    pub webhooks: BTreeMap<String, Webhook>,
    /// The API's tokens, and whether a request must carry one.
    pub auth: Auth,
    /// How many tenants get series of their own in the per-tenant metrics
    /// (`[metrics] tenant_series`); 0, the default, leaves those metrics out.
    pub tenant_series: usize,
    /// Where deliveries, results and state live: fjall, or a NATS cluster.
    pub storage: Storage,
    /// The `[plugins.NAME]` sections as written, laid over plugin manifests.
    plugin_sections: BTreeMap<String, RawPluginSection>,
}

/// How long weir keeps what it has finished with.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Events whose deliveries are all finished (done, dead or discarded) are
    /// removed this long after ingest, with their results, dead letters and
    /// idempotency records.
    pub retention: Duration,
    /// The least time a re-sent event id is recognized as a duplicate, and a
    /// commit's idempotency record kept; `retention` may not be shorter.
    pub dedup_window: Duration,
}

/// Limits on ingest requests.
#[derive(Debug, Clone)]
pub struct IngestLimits {
    /// Largest request body accepted; larger ones get 413 before anything is parsed.
    pub max_body_bytes: usize,
    /// Most events in one batch request; each batch is one write and one fsync.
    pub max_events_per_request: usize,
    /// Pending deliveries at which ingest starts answering 503, and below
    /// which it accepts again.
    pub backlog: Watermarks,
    /// How long (ms) the oldest ready delivery of a running plugin may wait for
    /// a slot before ingest answers 503; `None`: no limit.
    pub oldest_ready_ms: Option<Watermarks>,
    /// How long a connection may take to send a request's headers (and an
    /// idle keep-alive connection may wait for its next request).
    pub header_timeout: Duration,
    /// How long a request may take to send its whole body.
    pub body_timeout: Duration,
    /// Most client connections open at once; further ones wait, unaccepted.
    pub max_connections: usize,
    /// Most bytes of request bodies being received at once, all connections
    /// together; a body that would pass it gets 503.
    pub max_body_bytes_in_flight: usize,
}

/// How much one tenant may ingest: a token bucket and a backlog quota.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantLimits {
    /// Events per second on average; `None`: unlimited.
    pub rate_per_sec: Option<f64>,
    /// Events accepted at once above the average rate.
    pub burst: f64,
    /// The tenant's pending deliveries at which its requests get 429, and
    /// below which they are accepted again; `None`: only the global mark.
    pub backlog: Option<Watermarks>,
    /// The tenant's share of dispatches within a lane, against other tenants'.
    pub weight: u32,
    /// Most of the tenant's deliveries running at once, over all plugins;
    /// `None`: no cap of its own.
    pub max_in_flight: Option<u32>,
}

/// How the plugin directory is watched.
#[derive(Debug, Clone)]
pub struct Reload {
    /// Whether changes to the plugin directory are loaded while weir runs.
    pub watch: bool,
    /// How long the directory must be quiet before a change is loaded.
    pub debounce: Duration,
    /// Instance slots the pool keeps beyond the plugins present at start,
    /// for plugins added later; a plugin that does not fit waits for a restart.
    pub spare_instances: u32,
    /// The longest `/readyz` answers not-ready while plugins found at
    /// start-up are still compiling; after it, ready with a warning.
    pub ready_wait: Duration,
}

/// Bounds on dispatch.
#[derive(Debug, Clone)]
pub struct DispatchLimits {
    /// How many plugin-to-plugin hops an event chain may take before it is dead-lettered.
    pub max_hops: u32,
    /// How long shutdown waits for in-flight deliveries before leaving them to be redelivered.
    pub shutdown_grace: Duration,
    /// How long past a plugin's deadline a lease holds before the delivery is
    /// presumed lost and handed out again.
    pub lease_grace: Duration,
    /// The longest a retry waits in place: leased to the node that ran it,
    /// in memory, instead of scheduled in the store (zero: never).
    pub retry_in_place_max: Duration,
    /// Each priority's share of a plugin's dispatches.
    pub lane_weights: LaneWeights,
}

impl Config {
    /// Reads `path` (if any), applies `overrides`, and validates the result.
    /// Routes may be in a `routes.toml` beside `path` instead.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
        let (raw, routes_origin) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let mut raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
                let origin = routes_file::read_routes(&mut raw, path, text)?;
                (raw, Some(origin))
            }
            None => (RawConfig::default(), None),
        };
        let mut config = Config::from_raw(raw, overrides).map_err(|error| {
            // Name the file (and for a route, the line) the invalid value is in.
            match (error, path, &routes_origin) {
                (ConfigError::Route(error), _, Some(origin)) => origin.locate(error),
                (ConfigError::Invalid(message), Some(path), _) => ConfigError::Parse {
                    path: path.to_owned(),
                    message,
                },
                (error, _, _) => error,
            }
        })?;
        config.source = path.map(Path::to_owned);
        let mut lines = BTreeMap::new();
        if let (RoutesSource::File(file), Some(origin)) =
            (&mut config.routes_source, &routes_origin)
        {
            *file = origin.path().to_owned();
            lines = origin.lines(config.routes.names());
        }
        let source = config.routes_source.to_string();
        config.routes.set_origin(source, lines);
        Ok(config)
    }

    /// The configuration from a TOML string, for tests and tools.
    pub fn from_toml(text: &str, overrides: Overrides) -> Result<Config, ConfigError> {
        let raw = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            message: e.to_string(),
        })?;
        Config::from_raw(raw, overrides)
    }

    fn from_raw(raw: RawConfig, overrides: Overrides) -> Result<Config, ConfigError> {
        let data_dir = overrides
            .data_dir
            .or(raw.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        // Absolute, so logs say exactly where and wasmtime's cache (which insists) accepts it.
        let data_dir = std::path::absolute(&data_dir)
            .map_err(|e| ConfigError::Invalid(format!("data_dir {}: {e}", data_dir.display())))?;
        let explicit_plugins_dir = overrides.plugins_dir.or(raw.plugins_dir);
        let plugins_dir_is_default = explicit_plugins_dir.is_none();
        let plugins_dir = explicit_plugins_dir.unwrap_or_else(|| data_dir.join("plugins"));
        let listen = match overrides.listen.or(raw.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| ConfigError::Invalid("bad built-in listen address".into()))?,
        };

        let plugin_maxima = PluginMaxima::resolve(&raw.plugin_limits)?;
        let plugin_defaults = resolve_limits(
            &plugin_maxima.narrow(PluginLimits::default()),
            &raw.plugin_defaults,
            "plugin_defaults",
        )?;
        if let Some(excess) = plugin_maxima.excesses(&plugin_defaults).first() {
            return Err(ConfigError::Invalid(format!(
                "[plugin_defaults] {}",
                excess.refusal()
            )));
        }
        let mut plugins = BTreeMap::new();
        for (name, section) in &raw.plugins {
            let settings = manifest::resolve_settings(
                (&plugin_maxima, &plugin_defaults),
                name,
                None,
                Some(section),
            )?;
            plugins.insert(name.clone(), settings);
        }

        // No routes anywhere: the example pipeline, kept only if its plugins
        // are installed (`keep_examples_if_installed`).
        let (route_specs, routes_source) = match raw.routes {
            Some(routes) => (routes, RoutesSource::File(PathBuf::from("<inline>"))),
            None => (crate::examples::default_routes(), RoutesSource::Examples),
        };
        let routes = RouteTable::new(route_specs)?;

        let ingest = IngestLimits {
            // Big enough for a 1,000-event batch of small events; webhooks are far smaller.
            max_body_bytes: raw.ingest.max_body_bytes.unwrap_or(4 << 20),
            max_events_per_request: raw.ingest.max_events_per_request.unwrap_or(1000),
            // The backlog lives on disk, so the mark bounds disk use and catch-up
            // time, not memory: a million deliveries is minutes of work, a few GB.
            backlog: Watermarks::resolve(
                raw.ingest.backlog_high_water.unwrap_or(1_000_000),
                raw.ingest.backlog_low_water,
                "ingest",
                "backlog",
            )?,
            // Off by default: how long a wait is too long depends on the workload.
            oldest_ready_ms: raw
                .ingest
                .oldest_ready_high_water_ms
                .map(|high| {
                    Watermarks::resolve(
                        high,
                        raw.ingest.oldest_ready_low_water_ms,
                        "ingest",
                        "oldest_ready",
                    )
                })
                .transpose()?,
            // Generous for a slow mobile client, short enough that holding
            // connections open costs an attacker a steady stream of them.
            header_timeout: Duration::from_millis(raw.ingest.header_timeout_ms.unwrap_or(10_000)),
            body_timeout: Duration::from_millis(raw.ingest.body_timeout_ms.unwrap_or(30_000)),
            // Each connection is a file descriptor and a task; a process's
            // usual soft limit is 1024 descriptors, and clients that need
            // more should pool their connections.
            max_connections: raw.ingest.max_connections.unwrap_or(1024),
            // Without it, max_connections bodies of max_body_bytes each
            // (4 GiB with the defaults) could be held at once by clients that
            // send slowly; 256 MiB still lets 64 bodies of the largest size
            // arrive together.
            max_body_bytes_in_flight: raw.ingest.max_body_bytes_in_flight.unwrap_or(256 << 20),
        };
        let unlimited = TenantLimits {
            rate_per_sec: None,
            burst: 0.0,
            backlog: None,
            weight: 1,
            max_in_flight: None,
        };
        let tenant_defaults = resolve_tenant(&unlimited, &raw.tenant_defaults, "tenant_defaults")?;
        let tenants = raw
            .tenants
            .iter()
            .map(|(name, limits)| {
                let resolved =
                    resolve_tenant(&tenant_defaults, limits, &format!("tenants.{name}"))?;
                Ok((name.clone(), resolved))
            })
            .collect::<Result<_, ConfigError>>()?;
        // Judged before `storage` takes its part of `raw`, applied once it says NATS.
        let unscheduled =
            nats_refusals::refuse_what_nats_cannot_schedule((&raw.tenant_defaults, &raw.tenants));
        let undecided = nats_refusals::refuse_what_nats_servers_decide(&raw.queue);
        let oversized =
            nats_refusals::refuse_requests_past_one_batch(raw.ingest.max_events_per_request);
        let storage = raw.storage.resolve(listen)?;
        if matches!(storage, Storage::Nats(_)) {
            unscheduled?;
            undecided?;
            oversized?;
        }
        if ingest.max_body_bytes == 0 || ingest.max_events_per_request == 0 {
            return Err(ConfigError::Invalid(
                "ingest.max_body_bytes and ingest.max_events_per_request must be positive".into(),
            ));
        }
        if ingest.header_timeout.is_zero() || ingest.body_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "[ingest] header_timeout_ms and body_timeout_ms must be positive".into(),
            ));
        }
        if ingest.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "[ingest] max_connections must be positive".into(),
            ));
        }
        if ingest.max_body_bytes_in_flight < ingest.max_body_bytes {
            return Err(ConfigError::Invalid(format!(
                "[ingest] max_body_bytes_in_flight ({}) must be at least max_body_bytes ({}), \
                 or a body of the largest size could never be received",
                ingest.max_body_bytes_in_flight, ingest.max_body_bytes
            )));
        }
        let retention = Retention {
            // A week: time to inspect results and replay dead letters after an incident.
            retention: Duration::from_millis(raw.queue.retention_ms.unwrap_or(7 * DAY_MS)),
            // A day covers producers that retry for hours after an outage.
            dedup_window: Duration::from_millis(raw.queue.dedup_window_ms.unwrap_or(DAY_MS)),
        };
        if retention.retention < retention.dedup_window || retention.dedup_window.is_zero() {
            return Err(ConfigError::Invalid(format!(
                "[queue] retention_ms ({}) must be at least dedup_window_ms ({}), which must be positive: \
                 duplicates are recognized by the events kept",
                retention.retention.as_millis(),
                retention.dedup_window.as_millis()
            )));
        }
        let dispatch = DispatchLimits {
            // Deep enough for real workflows, shallow enough to stop an emit loop quickly.
            max_hops: raw.dispatch.max_hops.unwrap_or(16),
            shutdown_grace: Duration::from_millis(raw.dispatch.shutdown_grace_ms.unwrap_or(10_000)),
            // A commit takes milliseconds; half a minute covers a stalled disk
            // without leaving a lost delivery waiting long.
            lease_grace: Duration::from_millis(raw.dispatch.lease_grace_ms.unwrap_or(30_000)),
            // The first backoffs (from half a second) and a throttled
            // downstream's usual hints: long enough that those retries cost
            // no store writes, short enough that a restart in the middle
            // delays nothing noticeably.
            retry_in_place_max: Duration::from_millis(
                raw.dispatch.retry_in_place_max_ms.unwrap_or(2_000),
            ),
            lane_weights: LaneWeights::resolve(&raw.dispatch.lane_weights)?,
        };
        let reload = Reload {
            watch: raw.reload.watch.unwrap_or(true),
            // Long enough that a file copied in several writes is read once, whole.
            debounce: Duration::from_millis(raw.reload.debounce_ms.unwrap_or(200)),
            // Room for a few plugins of the default size without a restart.
            spare_instances: raw.reload.spare_instances.unwrap_or(32),
            // Python and JavaScript components take seconds each to compile on
            // two cores; two minutes covers a directory of them, and a compile
            // stuck longer should not keep the node out of its load balancer.
            ready_wait: Duration::from_millis(raw.reload.ready_wait_ms.unwrap_or(120_000)),
        };
        let webhooks = raw
            .webhooks
            .iter()
            .map(|(name, section)| Ok((name.clone(), Webhook::resolve(name, section)?)))
            .collect::<Result<_, ConfigError>>()?;

        Ok(Config {
            data_dir,
            listen,
            plugins_dir,
            plugins_dir_is_default,
            // fsync: a 202 must survive power loss unless the operator says otherwise.
            durability: raw.queue.durability.unwrap_or_default(),
            retention,
            ingest,
            tenant_defaults,
            tenants,
            dispatch,
            reload,
            plugin_maxima,
            plugin_defaults,
            plugins,
            routes,
            routes_source,
            // Kept: an event nobody handles yet is still worth having.
            unmatched: raw.routing.unmatched.unwrap_or_default(),
            source: None,
            webhooks,
            auth: Auth::resolve(&raw.auth)?,
            // Off: a label per tenant is a series per tenant, and there may be thousands.
            tenant_series: raw.metrics.tenant_series.unwrap_or(0),
            storage,
            plugin_sections: raw.plugins,
        })
    }

    /// The ingest rate limits of `tenant`.
    pub fn tenant_limits(&self, tenant: &str) -> &TenantLimits {
        self.tenants.get(tenant).unwrap_or(&self.tenant_defaults)
    }

    /// The limits `plugin` runs under.
    pub fn limits_for(&self, plugin: &str) -> &PluginLimits {
        self.plugins
            .get(plugin)
            .and_then(|settings| settings.limits.as_ref())
            .unwrap_or(&self.plugin_defaults)
    }

    /// The config values `plugin` reads through its `config` import.
    pub fn values_for(&self, plugin: &str) -> BTreeMap<String, String> {
        self.plugins
            .get(plugin)
            .map(|settings| settings.values.clone())
            .unwrap_or_default()
    }
}

fn resolve_tenant(
    base: &TenantLimits,
    raw: &RawTenantLimits,
    section: &str,
) -> Result<TenantLimits, ConfigError> {
    let rate_per_sec = raw.rate_per_sec.or(base.rate_per_sec);
    // A second's worth by default: short bursts pass, a sustained flood does not.
    let burst = raw
        .burst
        .unwrap_or(rate_per_sec.map_or(0.0, |rate| rate.max(1.0)));
    if rate_per_sec.is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
        || !(burst >= 1.0 || rate_per_sec.is_none())
    {
        return Err(ConfigError::Invalid(format!(
            "[{section}] rate_per_sec must be positive and burst at least 1"
        )));
    }
    let backlog = match raw.backlog_high_water {
        Some(high) => Some(Watermarks::resolve(
            high,
            raw.backlog_low_water,
            section,
            "backlog",
        )?),
        None => base.backlog,
    };
    if raw.max_in_flight == Some(0) {
        return Err(ConfigError::Invalid(format!(
            "[{section}] max_in_flight must be at least 1 (leave it out for no cap)"
        )));
    }
    Ok(TenantLimits {
        rate_per_sec,
        burst,
        backlog,
        weight: match raw.weight {
            Some(weight) => lane_weights::tenant_weight(weight, section)?,
            None => base.weight,
        },
        max_in_flight: raw.max_in_flight.or(base.max_in_flight),
    })
}

fn resolve_limits(
    base: &PluginLimits,
    raw: &RawPluginLimits,
    section: &str,
) -> Result<PluginLimits, ConfigError> {
    let ms = Duration::from_millis;
    let limits = PluginLimits {
        fuel: raw.fuel.unwrap_or(base.fuel),
        memory_bytes: raw.memory_bytes.unwrap_or(base.memory_bytes),
        deadline: raw.deadline_ms.map(ms).unwrap_or(base.deadline),
        instances: raw.instances.unwrap_or(base.instances),
        max_attempts: raw.max_attempts.unwrap_or(base.max_attempts),
        backoff_initial: raw
            .backoff_initial_ms
            .map(ms)
            .unwrap_or(base.backoff_initial),
        backoff_max: raw.backoff_max_ms.map(ms).unwrap_or(base.backoff_max),
        poison_after: raw.poison_after.unwrap_or(base.poison_after),
        breaker: BreakerLimits {
            window: raw.breaker_window_ms.map(ms).unwrap_or(base.breaker.window),
            min_calls: raw.breaker_min_calls.unwrap_or(base.breaker.min_calls),
            failure_rate: raw
                .breaker_failure_rate
                .unwrap_or(base.breaker.failure_rate),
            retry_later_rate: raw
                .breaker_retry_later_rate
                .unwrap_or(base.breaker.retry_later_rate),
            cooldown: raw
                .breaker_cooldown_ms
                .map(ms)
                .unwrap_or(base.breaker.cooldown),
            probes: raw.breaker_probes.unwrap_or(base.breaker.probes),
        },
    };
    let positive = [
        ("fuel", limits.fuel == 0),
        ("memory_bytes", limits.memory_bytes < (64 << 10)),
        ("deadline_ms", limits.deadline.is_zero()),
        ("instances", limits.instances == 0),
        ("max_attempts", limits.max_attempts == 0),
        ("poison_after", limits.poison_after == 0),
        ("breaker_window_ms", limits.breaker.window.is_zero()),
        ("breaker_min_calls", limits.breaker.min_calls == 0),
        ("breaker_probes", limits.breaker.probes == 0),
        (
            "breaker_failure_rate",
            !is_share(limits.breaker.failure_rate),
        ),
        (
            "breaker_retry_later_rate",
            !is_share(limits.breaker.retry_later_rate),
        ),
    ];
    if let Some((key, _)) = positive.iter().find(|(_, bad)| *bad) {
        return Err(ConfigError::Invalid(format!(
            "[{section}] {key} is out of range (memory_bytes needs at least one 64 KiB page, the breaker rates are in (0, 1], the others must be positive)"
        )));
    }
    if limits.instances > 1024 {
        return Err(ConfigError::Invalid(format!(
            "[{section}] instances must be at most 1024"
        )));
    }
    Ok(limits)
}

/// Whether `rate` is a share in (0, 1].
fn is_share(rate: f64) -> bool {
    rate > 0.0 && rate <= 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        Config::from_toml(text, Overrides::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn the_readme_configuration_loads_as_pasted() {
        let readme = include_str!("../../../README.md");
        let block = readme
            .split("```toml\n")
            .find(|block| block.starts_with("data_dir"))
            .and_then(|block| block.split("```").next())
            .expect("the README has the full configuration example");
        let config = load(block).expect("the README's configuration is valid");
        assert_eq!(config.reload.debounce, Duration::from_millis(200));
        assert_eq!(config.limits_for("price-calculator").instances, 2);
        assert!(config.auth.enabled, "the example lists tokens");
    }

    #[test]
    fn ingest_bounds_must_be_positive() {
        for (setting, says) in [
            (
                "header_timeout_ms = 0",
                "header_timeout_ms and body_timeout_ms",
            ),
            (
                "body_timeout_ms = 0",
                "header_timeout_ms and body_timeout_ms",
            ),
            ("max_connections = 0", "max_connections must be positive"),
            (
                "max_body_bytes_in_flight = 1000",
                "max_body_bytes_in_flight (1000) must be at least max_body_bytes (4194304)",
            ),
        ] {
            let error = load(&format!("[ingest]\n{setting}\n")).expect_err(setting);
            assert!(error.contains(says), "{setting}: {error}");
        }
        assert_eq!(
            load("").expect("valid").ingest.max_connections,
            1024,
            "the default"
        );
    }

    #[test]
    fn defaults_and_overrides_resolve_per_plugin() {
        let config = load(
            "[plugin_defaults]\ninstances = 2\n[plugins.slow]\ndeadline_ms = 100\n[plugins.slow.config]\nk = \"v\"\n",
        )
        .expect("valid");
        assert_eq!(config.limits_for("other").instances, 2);
        assert_eq!(
            config.limits_for("slow").instances,
            2,
            "a plugin section starts from the defaults"
        );
        assert_eq!(
            config.limits_for("slow").deadline,
            Duration::from_millis(100)
        );
        assert_eq!(
            config.values_for("slow").get("k").map(String::as_str),
            Some("v")
        );
        assert!(config.data_dir.is_absolute());
        assert_eq!(
            config.routes_source,
            RoutesSource::Examples,
            "a config file without routes falls back to the example pipeline"
        );
        let mut without_examples = config.clone();
        crate::examples::keep_routes_if_installed(&mut without_examples, |_| false);
        assert!(
            without_examples.routes.is_empty(),
            "the example routes go when their plugins are not installed"
        );
        assert_eq!(without_examples.routes_source, RoutesSource::Nowhere);
        let mut with_examples = config.clone();
        crate::examples::keep_routes_if_installed(&mut with_examples, |_| true);
        assert_eq!(with_examples.routes.len(), 3, "and stay when they are");

        let overrides = Overrides {
            data_dir: Some("/tmp/x".into()),
            ..Overrides::default()
        };
        let config = Config::load(None, overrides).expect("defaults");
        assert_eq!(config.plugins_dir, Path::new("/tmp/x/plugins"));
        assert!(config.plugins_dir_is_default);
        assert_eq!(config.routes.len(), 3, "no file: the example routes");
    }

    #[test]
    fn tenants_inherit_the_default_backlog_quota() {
        let config = load(
            "[tenant_defaults]\nbacklog_high_water = 100\n[tenants.big]\nbacklog_high_water = 1000\nbacklog_low_water = 10\n[tenants.fast]\nrate_per_sec = 5\n",
        )
        .expect("valid");
        let quota = |tenant| config.tenant_limits(tenant).backlog;
        assert_eq!(quota("other"), Some(Watermarks { high: 100, low: 90 }));
        assert_eq!(quota("fast"), Some(Watermarks { high: 100, low: 90 }));
        assert_eq!(
            quota("big"),
            Some(Watermarks {
                high: 1000,
                low: 10
            })
        );
        assert_eq!(load("").expect("valid").tenant_limits("x").backlog, None);
    }

    #[test]
    fn bad_values_name_their_section_and_key() {
        let cases = [
            (
                "[plugin_defaults]\ninstances = 0\n",
                "[plugin_defaults] instances",
            ),
            ("[plugins.p]\nfuel = 0\n", "[plugins.p] fuel"),
            ("[plugins.p]\nmemory_bytes = 100\n", "memory_bytes"),
            ("[plugins.p]\ninstances = 5000\n", "at most 1024"),
            ("[ingest]\nmax_body_bytes = 0\n", "max_body_bytes"),
            ("[plugins.p]\nfuell = 1\n", "fuell"),
            ("listen = \"not an address\"\n", "listen"),
            ("[queue]\ndurability = \"sometimes\"\n", "fsync"),
            ("[queue]\nretention_ms = 1000\n", "at least dedup_window_ms"),
            (
                "[tenants.acme]\nrate_per_sec = 0\n",
                "[tenants.acme] rate_per_sec",
            ),
            (
                "[ingest]\nbacklog_high_water = 10\nbacklog_low_water = 20\n",
                "backlog_low_water",
            ),
            (
                "[tenants.acme]\nbacklog_high_water = 0\n",
                "[tenants.acme] backlog_high_water",
            ),
            (
                "[ingest]\noldest_ready_high_water_ms = 100\noldest_ready_low_water_ms = 200\n",
                "[ingest] oldest_ready_high_water",
            ),
            (
                "[plugins.p]\nbreaker_failure_rate = 1.5\n",
                "[plugins.p] breaker_failure_rate",
            ),
            (
                "[plugins.p]\nbreaker_retry_later_rate = 0\n",
                "[plugins.p] breaker_retry_later_rate",
            ),
            (
                "[plugin_defaults]\nbreaker_min_calls = 0\n",
                "[plugin_defaults] breaker_min_calls",
            ),
            (
                "[plugins.p]\nbreaker_window_ms = 0\n",
                "[plugins.p] breaker_window_ms",
            ),
            (
                "[plugins.p]\npoison_after = 0\n",
                "[plugins.p] poison_after",
            ),
            (
                "[plugins.p]\nbreaker_window = 20\n",
                "unknown field `breaker_window`",
            ),
            (
                "[storage]\nbackend = \"nats\"\n",
                "needs a [storage.nats] section",
            ),
            (
                "[storage.nats]\nservers = [\"nats://a:4222\"]\n",
                "backend is \"fjall\"",
            ),
            ("[storage]\nbackend = \"redis\"\n", "fjall"),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = []\n",
                "[storage.nats] servers is empty",
            ),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"nats://a:notaport\"]\n",
                "is not a NATS URL",
            ),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"http://a:4222\"]\n",
                "the scheme \"http\" is not nats, tls, ws or wss",
            ),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\nreplicas = 7\n",
                "replicas must be 1 to 5",
            ),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\nprefix = \"a.b\"\n",
                "prefix \"a.b\" must be",
            ),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\nuser = \"u\"\n",
                "user needs a password",
            ),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\ntoken = \"t\"\nuser = \"u\"\npassword = \"p\"\n",
                "give one of credentials",
            ),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\n[tenant_defaults]\nmax_in_flight = 4\n",
                "[tenant_defaults] max_in_flight is not available with [storage] backend = \"nats\": each node counts only",
            ),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\n[tenants.acme]\nweight = 2\nmax_in_flight = 1\n",
                "[tenants.acme] max_in_flight is not available",
            ),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\n[queue]\ndurability = \"buffered\"\n",
                "[queue] durability is not available with [storage] backend = \"nats\": what an acknowledged event survives is the servers' JetStream `sync_interval`",
            ),
            (
                "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\n[ingest]\nmax_events_per_request = 1001\n",
                "[ingest] max_events_per_request = 1001 is more than [storage] backend = \"nats\" stores at once",
            ),
        ];
        for (text, expected) in cases {
            let error = load(text).expect_err(text);
            assert!(error.contains(expected), "{text:?} -> {error}");
        }
        // What NATS applies as fjall does.
        let breaker = "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\n\
                       [plugins.p]\nbreaker_cooldown_ms = 10\npoison_after = 2\n";
        assert!(load(breaker).is_ok(), "{breaker:?}");
        let lanes = "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\n\
                     [dispatch]\nlane_weights = { low = 2 }\n";
        assert!(load(lanes).is_ok(), "{lanes:?}");
        let one_batch = "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\n\
                         [ingest]\nmax_events_per_request = 1000\n";
        assert!(load(one_batch).is_ok(), "{one_batch:?}");
        let tenants = "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"a:4222\"]\n\
                       [tenant_defaults]\nbacklog_high_water = 10\n[tenants.acme]\nweight = 2\n\
                       [ingest]\noldest_ready_high_water_ms = 500\n";
        assert!(load(tenants).is_ok(), "{tenants:?}");
    }

    #[test]
    fn the_nats_backend_resolves_its_servers_and_defaults() {
        let config = load(
            "listen = \"127.0.0.1:9001\"\n[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"nats://127.0.0.1:4222\", \"127.0.0.1:4223\"]\n",
        )
        .expect("valid");
        let Storage::Nats(nats) = config.storage else {
            panic!("expected the NATS backend");
        };
        assert_eq!(nats.servers.len(), 2);
        assert_eq!(nats.replicas, 3);
        assert_eq!(nats.prefix, "weir");
        assert!(nats.node.ends_with(":9001"), "{}", nats.node);
        assert!(matches!(nats.auth, NatsAuth::None));
        assert!(matches!(load("").expect("valid").storage, Storage::Fjall));
    }
}
