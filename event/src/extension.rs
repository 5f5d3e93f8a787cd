//! The value of an extension attribute, typed as the CloudEvents JSON format
//! types it: a boolean and a whole number stay what they were sent as, and
//! come back as JSON booleans and numbers; anything else is a string.
//!
//! Stored with its type: as plain JSON values in a JSON header (NATS), and
//! tagged in a compact one (fjall, `codec`). Events stored before the types
//! were kept hold only strings, which read back as strings.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An extension attribute's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExtensionValue {
    /// `true` or `false`.
    Boolean(bool),
    /// A whole number in the signed 64-bit range.
    Integer(i64),
    /// Text; also a number with a fraction or out of range, as its JSON text
    /// (CloudEvents has no such type), and every value of the binary mode,
    /// whose headers carry text only.
    String(String),
}

impl ExtensionValue {
    /// The value as text: how routes match it and plugins receive it.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            ExtensionValue::String(text) => Cow::Borrowed(text),
            ExtensionValue::Boolean(flag) => Cow::Owned(flag.to_string()),
            ExtensionValue::Integer(number) => Cow::Owned(number.to_string()),
        }
    }
}

impl fmt::Display for ExtensionValue {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.as_text())
    }
}

impl From<String> for ExtensionValue {
    fn from(text: String) -> ExtensionValue {
        ExtensionValue::String(text)
    }
}

impl From<&str> for ExtensionValue {
    fn from(text: &str) -> ExtensionValue {
        ExtensionValue::String(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_is_stored_as_its_json_value_and_read_back_as_it() {
        for (value, json) in [
            (ExtensionValue::Boolean(true), "true"),
            (ExtensionValue::Integer(-42), "-42"),
            (ExtensionValue::from("42"), "\"42\""),
        ] {
            assert_eq!(serde_json::to_string(&value).expect("encodes"), json);
            let read: ExtensionValue = serde_json::from_str(json).expect("decodes");
            assert_eq!(read, value);
        }
        assert_eq!(ExtensionValue::Integer(7).as_text(), "7");
    }
}
