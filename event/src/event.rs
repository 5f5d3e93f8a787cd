//! The event as weir stores it: CloudEvents 1.0 attributes plus weir's own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ExtensionValue;

/// Checks that `tenant` can name a tenant (it becomes part of storage keys).
pub fn check_tenant(tenant: &str) -> Result<(), String> {
    let valid = (1..=64).contains(&tenant.len())
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "tenant {tenant:?} is invalid: use 1 to 64 letters, digits, '.', '-' or '_'"
        ))
    }
}

/// The tenant of events that name none.
pub const DEFAULT_TENANT: &str = "default";

/// Dispatch priority, from the `priority` extension attribute.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Served before every other lane.
    Critical,
    /// Served before normal and low.
    High,
    /// The default.
    #[default]
    Normal,
    /// Served last.
    Low,
}

impl Priority {
    /// Every priority, most urgent first: the order of dispatch lanes.
    pub const ALL: [Priority; 4] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];

    /// What the error for an unknown priority says is expected.
    pub const EXPECTED: &str = "critical, high, normal or low";

    /// Parses `critical`, `high`, `normal` or `low`.
    pub fn parse(text: &str) -> Option<Priority> {
        match text {
            "critical" => Some(Priority::Critical),
            "high" => Some(Priority::High),
            "normal" => Some(Priority::Normal),
            "low" => Some(Priority::Low),
            _ => None,
        }
    }

    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    /// The lane index: 0 for the most urgent.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The priority of lane index `rank`.
    pub fn from_rank(rank: u8) -> Option<Priority> {
        Priority::ALL.get(usize::from(rank)).copied()
    }
}

/// One event, validated. `data` is kept apart from the attributes when stored
/// (see `queue::codec`), so payloads are never re-encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique within weir; generated (UUIDv7) when the producer sent none.
    pub id: String,
    /// Who produced it (a URI reference).
    pub source: String,
    /// What happened, e.g. `booking.webhook`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it is about, e.g. a listing id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<String>,
    /// When it happened, as the producer said (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time: Option<String>,
    /// The media type of `data`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub datacontenttype: Option<String>,
    /// The payload bytes.
    #[serde(skip)]
    pub data: Vec<u8>,
    /// Whose event it is; routes and state are scoped by it.
    pub tenant: String,
    /// Dispatch priority.
    pub priority: Priority,
    /// Workflow stage, free text that routes can match.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stage: Option<String>,
    /// Events with the same key are meant to be handled in order.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub partitionkey: Option<String>,
    /// Other extension attributes, including `causationid` and `correlationid` on
    /// emitted events. Flattened, as CloudEvents JSON writes them.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, ExtensionValue>,
    /// How many plugin emits led to this event (0 for ingested ones).
    #[serde(default)]
    pub hops: u32,
    /// When weir made it durable, in milliseconds since the Unix epoch.
    pub ingested_at_ms: u64,
}

/// The CloudEvents distributed tracing extension's attributes.
pub const TRACE_CONTEXT: [&str; 2] = ["traceparent", "tracestate"];

impl Event {
    /// Whether `other` says the same as this event: every attribute and the
    /// data, whenever each was stored and whichever trace carried it.
    pub fn same_content(&self, other: &Event) -> bool {
        // Trace context says which request carried the event, not what it
        // is: a client's retry may come in a new trace.
        let unstored = |event: &Event| {
            let mut event = Event {
                ingested_at_ms: 0,
                ..event.clone()
            };
            for field in TRACE_CONTEXT {
                event.extensions.remove(field);
            }
            event
        };
        unstored(self) == unstored(other)
    }

    /// An event with these attributes and every optional one empty.
    pub fn new(id: String, source: String, kind: String, tenant: String) -> Event {
        Event {
            id,
            source,
            kind,
            subject: None,
            time: None,
            datacontenttype: None,
            data: Vec::new(),
            tenant,
            priority: Priority::Normal,
            stage: None,
            partitionkey: None,
            extensions: BTreeMap::new(),
            hops: 0,
            ingested_at_ms: 0,
        }
    }

    /// Sets an extension attribute: `priority`, `stage` and `partitionkey` (each
    /// a string) go to their fields, anything else to `extensions`. CloudEvents
    /// names are 1 to 20 lowercase letters or digits.
    pub fn set_extension(&mut self, name: &str, value: ExtensionValue) -> Result<(), String> {
        if !is_valid_attribute_name(name) {
            return Err(format!(
                "extension attribute name {name:?} is invalid: use 1 to 20 lowercase letters or digits"
            ));
        }
        if RESERVED_NAMES.contains(&name) {
            return Err(format!(
                "{name:?} cannot be set as an extension attribute here"
            ));
        }
        let own_field = OWN_EXTENSIONS.contains(&name);
        let value = match value {
            ExtensionValue::String(text) if own_field => text,
            _ if own_field => return Err(format!("{name} must be a string")),
            value => return self.set_other_extension(name, value),
        };
        match name {
            "priority" => {
                self.priority = Priority::parse(&value).ok_or_else(|| {
                    format!("priority is {value:?}; expected {}", Priority::EXPECTED)
                })?;
            }
            "stage" => self.stage = Some(value),
            _ => {
                if value.is_empty() || value.len() > MAX_PARTITION_KEY_BYTES || value.contains('\0')
                {
                    return Err(format!(
                        "partitionkey must be 1 to {MAX_PARTITION_KEY_BYTES} bytes without NUL characters"
                    ));
                }
                self.partitionkey = Some(value);
            }
        }
        Ok(())
    }

    /// Sets an extension attribute that has no field of its own.
    fn set_other_extension(&mut self, name: &str, value: ExtensionValue) -> Result<(), String> {
        if value.as_text().len() > MAX_ATTRIBUTE_BYTES {
            return Err(format!(
                "extension attribute {name:?} is longer than {MAX_ATTRIBUTE_BYTES} bytes"
            ));
        }
        if self.extensions.len() >= MAX_EXTENSIONS && !self.extensions.contains_key(name) {
            return Err(format!(
                "an event may carry at most {MAX_EXTENSIONS} extension attributes"
            ));
        }
        self.extensions.insert(name.to_owned(), value);
        Ok(())
    }

    /// Extension attributes as the plugin contract passes them: weir's own
    /// (priority, stage, partitionkey) first, then the rest.
    pub fn extension_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![("priority".to_owned(), self.priority.as_str().to_owned())];
        if let Some(stage) = &self.stage {
            pairs.push(("stage".to_owned(), stage.clone()));
        }
        if let Some(key) = &self.partitionkey {
            pairs.push(("partitionkey".to_owned(), key.clone()));
        }
        pairs.extend(
            self.extensions
                .iter()
                .map(|(name, value)| (name.clone(), value.to_string())),
        );
        pairs
    }
}

/// weir's extension attributes, kept in fields of their own; each is a string.
pub const OWN_EXTENSIONS: [&str; 3] = ["priority", "stage", "partitionkey"];

/// Longest ordering key: it is part of a storage key.
const MAX_PARTITION_KEY_BYTES: usize = 256;

/// Longest value of an attribute: attributes are metadata, kept with every
/// event and matched by routes; payloads belong in `data`.
pub const MAX_ATTRIBUTE_BYTES: usize = 4096;

/// Most extension attributes on one event, for the same reason.
pub const MAX_EXTENSIONS: usize = 64;

/// Names of weir's own fields and of context attributes: an extension attribute
/// by one of these names would collide with them.
pub const RESERVED_NAMES: [&str; 13] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "data",
    "tenant",
    "hops",
    "sequence",
    "deliveries",
    "dataschema",
];

/// Whether `name` is a valid CloudEvents attribute name.
pub fn is_valid_attribute_name(name: &str) -> bool {
    (1..=20).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A time in ms since the Unix epoch as RFC 3339, the way the API shows times.
pub fn rfc3339(ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_event_in_another_trace_has_the_same_content() {
        let event = Event::new("e1".into(), "shop".into(), "order".into(), "acme".into());
        let mut traced = event.clone();
        traced.extensions.insert(
            "traceparent".into(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        );
        assert!(event.same_content(&traced));
        let mut other = traced.clone();
        other.extensions.insert("region".into(), "eu".into());
        assert!(!event.same_content(&other));
    }

    #[test]
    fn plugins_receive_typed_extensions_as_text() {
        let mut event = Event::new("e1".into(), "shop".into(), "order".into(), "acme".into());
        event
            .extensions
            .insert("vip".into(), ExtensionValue::Boolean(true));
        event
            .extensions
            .insert("seats".into(), ExtensionValue::Integer(-2));
        let pairs = event.extension_pairs();
        assert!(pairs.contains(&("vip".into(), "true".into())), "{pairs:?}");
        assert!(pairs.contains(&("seats".into(), "-2".into())), "{pairs:?}");
    }
}
