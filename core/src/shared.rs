//! The parts of one weir node that every store and the delivery engine
//! read, whichever store holds the events: each a handle of its own, so a
//! task keeps only what it uses.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::backlog::Backlog;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::plugins::Plugins;
use crate::route::Routes;
use crate::schedule::Lanes;
use crate::tenant_pauses::TenantPauses;

/// One node's shared parts.
#[derive(Clone)]
pub struct Shared {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Where events go; a reload of the config file swaps the table.
    pub routes: Arc<Routes>,
    /// The loaded plugins; reloads change them.
    pub plugins: Arc<Plugins>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Deliveries not yet done or dead, per tenant, as admission reads them.
    pub backlog: Arc<Backlog>,
    /// Every plugin's dispatch lanes, and the tenants' running deliveries.
    pub lanes: Arc<Lanes>,
    /// The tenants an operator paused.
    pub tenant_pauses: Arc<TenantPauses>,
    /// Cancelled when weir stops, for tasks started while it runs.
    pub stop: CancellationToken,
}

impl Shared {
    /// A node's shared parts for `config`, with no deliveries counted and no
    /// tenant paused yet; `stop` is cancelled when weir stops.
    pub fn new(
        config: Config,
        metrics: Metrics,
        plugins: Plugins,
        stop: CancellationToken,
    ) -> Shared {
        Shared {
            routes: Arc::new(Routes::new(config.routes.clone())),
            lanes: Arc::new(Lanes::new(&config)),
            plugins: Arc::new(plugins),
            metrics: Arc::new(metrics),
            backlog: Arc::default(),
            tenant_pauses: Arc::default(),
            stop,
            config: Arc::new(config),
        }
    }
}
