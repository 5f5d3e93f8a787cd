//! `[storage]`: the embedded fjall store (the default) or a NATS JetStream
//! cluster that several weir nodes share (`[storage.nats]`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// Stream, bucket and consumer names start with the prefix; NATS allows
/// these characters in all of them.
const PREFIX_CHARS: &str = "letters, digits, '-' and '_'";
const MAX_PREFIX_LEN: usize = 32;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    backend: Option<Backend>,
    nats: Option<RawNats>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    #[default]
    Fjall,
    Nats,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNats {
    #[serde(default)]
    servers: Vec<String>,
    credentials: Option<PathBuf>,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
    replicas: Option<usize>,
    prefix: Option<String>,
    node: Option<String>,
    connect_timeout_ms: Option<u64>,
}

/// Where deliveries, results and plugin state live.
#[derive(Debug, Clone, Default)]
pub enum Storage {
    /// The embedded fjall store under `data_dir`: one node.
    #[default]
    Fjall,
    /// A NATS JetStream cluster shared by every weir node that names it.
    Nats(NatsSettings),
}

/// How to reach the NATS cluster and how weir names what it keeps there.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    /// Server URLs; the client learns the rest of the cluster from any one.
    pub servers: Vec<String>,
    /// How weir proves who it is.
    pub auth: NatsAuth,
    /// Copies JetStream keeps of each stream and bucket (3 survives one lost server).
    pub replicas: usize,
    /// The start of every stream, bucket and consumer name: nodes with the
    /// same prefix share their work.
    pub prefix: String,
    /// This node's name in `GET /v1/plugins` and the logs.
    pub node: String,
    /// How long start-up keeps trying to reach the cluster.
    pub connect_timeout: Duration,
}

/// Credentials for the NATS cluster.
#[derive(Clone)]
pub enum NatsAuth {
    /// None: a cluster without authentication.
    None,
    /// A `.creds` file (a user JWT and its NKey seed).
    Credentials(PathBuf),
    /// A user name and password.
    UserPassword {
        /// The user.
        user: String,
        /// Its password.
        password: String,
    },
    /// A token.
    Token(String),
}

/// Names the kind of credentials only: a logged config shows no secret.
impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatsAuth::None => f.write_str("None"),
            NatsAuth::Credentials(file) => f.debug_tuple("Credentials").field(file).finish(),
            NatsAuth::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .finish_non_exhaustive(),
            NatsAuth::Token(_) => f.write_str("Token(..)"),
        }
    }
}

impl RawStorage {
    /// Validates the section; `listen` names the node when `node` is not set.
    pub(super) fn resolve(self, listen: SocketAddr) -> Result<Storage, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid(message);
        match (self.backend.unwrap_or_default(), self.nats) {
            (Backend::Fjall, None) => Ok(Storage::Fjall),
            (Backend::Fjall, Some(_)) => Err(invalid(
                "[storage.nats] is set but [storage] backend is \"fjall\" (the default); \
                 set backend = \"nats\" to use it, or remove the section"
                    .to_owned(),
            )),
            (Backend::Nats, None) => Err(invalid(
                "[storage] backend = \"nats\" needs a [storage.nats] section with \
                 servers = [\"nats://HOST:4222\", ...]"
                    .to_owned(),
            )),
            (Backend::Nats, Some(raw)) => Ok(Storage::Nats(raw.resolve(listen)?)),
        }
    }
}

impl RawNats {
    fn resolve(self, listen: SocketAddr) -> Result<NatsSettings, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid(format!("[storage.nats] {message}"));
        if self.servers.is_empty() {
            return Err(invalid(
                "servers is empty: list at least one, e.g. [\"nats://127.0.0.1:4222\"]".to_owned(),
            ));
        }
        for server in &self.servers {
            check_server(server)
                .map_err(|e| invalid(format!("servers: {server:?} is not a NATS URL: {e}")))?;
        }
        let auth = match (self.credentials, self.user, self.password, self.token) {
            (None, None, None, None) => NatsAuth::None,
            (Some(file), None, None, None) => NatsAuth::Credentials(file),
            (None, Some(user), Some(password), None) => NatsAuth::UserPassword { user, password },
            (None, None, None, Some(token)) => NatsAuth::Token(token),
            (None, Some(_), None, None) => {
                return Err(invalid("user needs a password".to_owned()));
            }
            (None, None, Some(_), None) => {
                return Err(invalid("password needs a user".to_owned()));
            }
            _ => {
                return Err(invalid(
                    "give one of credentials, user and password, or token".to_owned(),
                ));
            }
        };
        let replicas = self.replicas.unwrap_or(3);
        if !(1..=5).contains(&replicas) {
            return Err(invalid(format!(
                "replicas must be 1 to 5 (JetStream's limit), got {replicas}"
            )));
        }
        let prefix = self.prefix.unwrap_or_else(|| "weir".to_owned());
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN || !prefix.chars().all(allowed) {
            return Err(invalid(format!(
                "prefix {prefix:?} must be 1 to {MAX_PREFIX_LEN} of {PREFIX_CHARS}"
            )));
        }
        let node = self.node.unwrap_or_else(|| default_node(listen));
        if node.is_empty() {
            return Err(invalid("node must not be empty".to_owned()));
        }
        let connect_timeout = Duration::from_millis(self.connect_timeout_ms.unwrap_or(30_000));
        if connect_timeout.is_zero() {
            return Err(invalid("connect_timeout_ms must be at least 1".to_owned()));
        }
        Ok(NatsSettings {
            servers: self.servers,
            auth,
            replicas,
            prefix,
            node,
            connect_timeout,
        })
    }
}

/// The host's name and the listen port: unique even for several nodes on one machine.
fn default_node(listen: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "weir".to_owned());
    format!("{host}:{}", listen.port())
}

/// Whether `server` is an address the NATS client connects to: `host:port` or
/// a URL with the scheme nats, tls, ws or wss (the client's own rules).
fn check_server(server: &str) -> Result<(), String> {
    let url = if server.contains("://") {
        url::Url::parse(server)
    } else {
        url::Url::parse(&format!("nats://{server}"))
    }
    .map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "nats" | "tls" | "ws" | "wss") {
        return Err(format!(
            "the scheme {:?} is not nats, tls, ws or wss",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".to_owned());
    }
    Ok(())
}
