//! weir's event: the CloudEvents 1.0 model it stores, and the parsers that
//! read one from an HTTP request (weir's JSON, CloudEvents structured, batch
//! and binary modes). A crate of its own so the parsers can be fuzzed
//! (`fuzz/`) without building the rest of weir. `codec` is how both stores
//! lay an event out in bytes.

mod attributes;
mod binary;
pub mod codec;
pub mod compact;
mod error;
mod event;
mod extension;
mod parse;
mod wire;

pub use attributes::{is_json, is_text};
pub use binary::{is_binary, parse_binary};
pub use error::ParseError;
pub use event::*;
pub use extension::ExtensionValue;
pub use parse::{parse_event, parse_events};
