//! The routing table in force: ingest and the stores read it while a reload
//! of the config file swaps it.

use std::sync::{Arc, RwLock};

use super::RouteTable;

/// The routing table events are routed by now.
pub struct Routes(RwLock<Arc<RouteTable>>);

impl Routes {
    /// Routes by `table` until [`Routes::set`] changes it.
    pub fn new(table: RouteTable) -> Routes {
        Routes(RwLock::new(Arc::new(table)))
    }

    /// The table in force now; a reload does not change one already taken.
    pub fn current(&self) -> Arc<RouteTable> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Routes by `table` from now on.
    pub fn set(&self, table: RouteTable) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
    }
}
