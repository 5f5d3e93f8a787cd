//! Reloading the routing table: when the config file (or the `routes.toml`
//! beside it) changes, its routes are
//! read and checked as at start-up (and every plugin they name must be
//! loaded) and the table is swapped for new events. Only the routing table is
//! reloaded; other settings take effect at the next restart.

use std::path::Path;

use crate::config::{Config, Overrides};
use weir_core::Shared;

/// The texts the serving table was loaded from (their SHA-256): a write that
/// changes nothing is not a reload.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Loaded(Option<[u8; 32]>);

/// Loads the routes of `file` if they changed since `loaded`, and notes what
/// now serves. Blocking (it reads the file): call it off the async runtime.
pub(super) fn reload(shared: &Shared, file: &Path, loaded: &mut Loaded) {
    use sha2::Digest;
    let text = match std::fs::read(file) {
        Ok(text) => text,
        Err(error) => {
            tracing::warn!(file = %file.display(), %error, "cannot read the config file; the routing table stays as it is");
            return;
        }
    };
    // A routes file that cannot be read now is reported by the load below.
    let routes_text =
        std::fs::read(file.with_file_name(crate::config::ROUTES_FILE)).unwrap_or_default();
    let mut hasher = sha2::Sha256::new();
    hasher.update((text.len() as u64).to_le_bytes());
    hasher.update(&text);
    hasher.update(&routes_text);
    let now = Loaded(Some(hasher.finalize().into()));
    if now == *loaded {
        return;
    }
    match table_of(shared, file) {
        Ok(table) => {
            let routes = table.len();
            shared.routes.set(table);
            // Only what served is remembered: a rejected text is tried again
            // on the next change, when a plugin it names may have arrived.
            *loaded = now;
            count(shared, "loaded");
            tracing::info!(file = %file.display(), routes, "routing table reloaded: new events are routed by it");
        }
        Err(reason) => {
            count(shared, "rejected");
            tracing::error!(file = %file.display(), %reason, "routing table rejected; the table before it keeps serving");
        }
    }
}

/// The routing table of `file`, checked, or why it cannot serve.
fn table_of(shared: &Shared, file: &Path) -> Result<crate::route::RouteTable, String> {
    let mut config = Config::load(Some(file), Overrides::default()).map_err(|e| e.to_string())?;
    let loaded = |plugin: &str| shared.plugins.get(plugin).is_some();
    crate::examples::keep_routes_if_installed(&mut config, loaded);
    if let Some((plugin, route)) = config.routes.first_missing(loaded) {
        return Err(format!(
            "route {route:?} names plugin {plugin:?}, which is not loaded"
        ));
    }
    Ok(config.routes)
}

/// Counts a reload of the routing table in `weir_route_reloads_total`.
fn count(shared: &Shared, result: &str) {
    shared
        .metrics
        .route_reloads
        .get_or_create(&crate::metrics::ResultLabel {
            result: result.to_owned(),
        })
        .inc();
}
