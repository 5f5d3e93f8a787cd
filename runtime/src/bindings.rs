//! The host side of the plugin contract in `wit/`, generated once.
#![allow(
    missing_docs,
    reason = "generated from the WIT, whose doc comments it carries"
)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "handler-plugin",
    // Host imports may trap the guest (a state value over its bound, for one).
    imports: { default: trappable },
    // The handler runs asynchronously so a long one yields to tokio at each epoch tick.
    exports: { default: async },
});

pub use self::weir::plugin::types::{Event as WitEvent, NewEvent, Outcome};
