//! Write weir handler plugins in Rust.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2` from a
//! `cdylib` crate. Its handler is a plain function, exported with one macro:
//!
//! ```no_run
//! use serde::Deserialize;
//! use weir_plugin_sdk::{handler, log, state, Error, Event, NewEvent, Outcome};
//!
//! #[derive(Deserialize)]
//! struct Signup {
//!     user: String,
//! }
//!
//! fn handle(event: Event) -> Result<Outcome, Error> {
//!     let signup: Signup = event.json()?;
//!     let seen: u64 = state::get_json("signups")?.unwrap_or(0);
//!     state::set_json("signups", &(seen + 1))?;
//!     log::info(format!("welcome {}", signup.user));
//!     let welcome = NewEvent::json("email.welcome", &signup.user)?.subject(&signup.user);
//!     Ok(Outcome::Emit(vec![welcome]))
//! }
//!
//! handler!(handle);
//! ```
//!
//! A handler returns an [`Outcome`], or a `Result<Outcome, E>` whose error
//! becomes [`Outcome::Fail`] with the error's message, so `?` sends a bad event
//! to the dead letters. Emitted events and state writes are buffered by the host
//! and committed together with the delivery, so they take effect exactly once.
//!
//! The crate, in the order a delivery flows through it:
//!
//! - [`handler!`] (`handler.rs`): exports the function as the component's handler.
//! - [`Event`] (`event.rs`): the incoming event and its typed JSON payload.
//! - [`config`], [`state`], [`log`]: the host's imports, with typed helpers.
//! - [`Outcome`], [`NewEvent`] (`outcome.rs`): what the handler answers.
//! - [`Error`] (`error.rs`): a message that becomes [`Outcome::Fail`].
//!
//! The contract itself is `wit/plugin.wit`; [`bindings`] is what wit-bindgen
//! generates from it. Off wasm the crate still compiles (so a workspace can be
//! checked natively) but calling an import there panics.

mod error;
mod event;
mod handler;
mod outcome;

pub mod config;
pub mod log;
pub mod state;

/// The bindings wit-bindgen generates from `wit/plugin.wit` (world `handler-plugin`).
///
/// Plugins normally need nothing from here: the crate root re-exports the types.
#[allow(unsafe_code, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "handler-plugin",
        path: "../wit",
        // Lets `handler!` expand `export!` inside the plugin's crate.
        pub_export_macro: true,
        default_bindings_module: "weir_plugin_sdk::bindings",
    });
}

pub use bindings::weir::plugin::types::{Event, NewEvent, Outcome};
pub use error::Error;
pub use handler::IntoOutcome;

/// Used by [`handler!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::export;
    pub use crate::bindings::exports::weir::plugin::handler::Guest;
}
