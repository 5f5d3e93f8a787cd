//! The tools behind `weir plugin`, for people writing plugins: scaffold one in
//! any of its languages, build it with that language's toolchain, check a
//! component against weir's WIT world, and run one event through it.
//!
//! - [`Language`] (`language.rs`): which languages, and how a folder says which it is.
//! - [`scaffold`] (`scaffold.rs`): `weir plugin new`, from the templates in `templates/`.
//! - [`build`] (`toolchain.rs`): `weir plugin build`, one toolchain per language;
//!   C's (`c_toolchain.rs`) writes the bindings and makes the component itself.
//! - [`Workbench`] (`workbench.rs`): one component loaded as weir loads it.
//! - [`check`] (`check.rs`): `weir plugin check`, what a component imports and exports.
//! - [`trial`] (`trial.rs`): `weir plugin test`, one event through the handler.
//! - [`run_vectors`] (`vectors.rs`): `weir plugin test --vectors`, a file of cases, each checked.

mod c_toolchain;
mod check;
mod error;
mod language;
mod scaffold;
mod toolchain;
mod trial;
mod vectors;
mod workbench;

pub use check::{Report, check};
pub use error::AuthoringError;
pub use language::Language;
pub use scaffold::scaffold;
pub use toolchain::{Built, build};
pub use trial::{Trial, trial};
pub use vectors::{Case, run_vectors};
pub use workbench::{Workbench, cache_dir};

/// weir's WIT contract, written beside a plugin's sources when it is built.
pub const WIT: &str = include_str!("../../../wit/plugin.wit");
