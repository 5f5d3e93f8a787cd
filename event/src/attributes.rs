//! One event's attributes as JSON gave them, before they are validated: what
//! the request body reader (`wire.rs`, borrowing from the body) and the
//! callers that build a JSON object (binary mode, webhooks) have in common.

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::ExtensionValue;
use crate::event::{Event, MAX_ATTRIBUTE_BYTES, OWN_EXTENSIONS, check_tenant};

/// Longest event id: ids are storage keys.
const MAX_ID_BYTES: usize = 256;

/// An attribute's value, by its JSON type.
#[derive(Debug)]
pub enum Attribute {
    /// `null`: the same as leaving the attribute out.
    Null,
    /// A string.
    Text(String),
    /// A boolean.
    Flag(bool),
    /// A whole number in the signed 64-bit range.
    Integer(i64),
    /// Any other number, as its JSON text.
    Number(String),
    /// An object or an array.
    Structured,
}

impl From<Value> for Attribute {
    fn from(value: Value) -> Attribute {
        match value {
            Value::Null => Attribute::Null,
            Value::String(text) => Attribute::Text(text),
            Value::Number(number) => match number.as_i64() {
                Some(whole) => Attribute::Integer(whole),
                None => Attribute::Number(number.to_string()),
            },
            Value::Bool(flag) => Attribute::Flag(flag),
            Value::Array(_) | Value::Object(_) => Attribute::Structured,
        }
    }
}

/// An event's attributes by name. `data` is its JSON text as received, so a
/// JSON payload is stored without being parsed into a tree and written again.
#[derive(Debug, Default)]
pub struct Attributes<'a> {
    specversion: Option<Attribute>,
    id: Option<Attribute>,
    source: Option<Attribute>,
    kind: Option<Attribute>,
    tenant: Option<Attribute>,
    subject: Option<Attribute>,
    time: Option<Attribute>,
    datacontenttype: Option<Attribute>,
    data_base64: Option<Attribute>,
    data: Option<Cow<'a, str>>,
    extensions: Vec<(String, Attribute)>,
}

impl<'a> Attributes<'a> {
    /// The attributes of a JSON object.
    pub fn from_object(object: Map<String, Value>) -> Attributes<'static> {
        let mut attributes = Attributes::default();
        for (name, value) in object {
            if name == "data" {
                // Serializing a JSON value to a string cannot fail.
                attributes.set_data(Cow::Owned(value.to_string()));
            } else {
                attributes.set(Cow::Owned(name), value.into());
            }
        }
        attributes
    }

    /// Sets the attribute `name` (not `data`); a later value replaces an
    /// earlier one, as in a JSON object.
    pub fn set(&mut self, name: Cow<'_, str>, value: Attribute) {
        let slot = match name.as_ref() {
            "specversion" => &mut self.specversion,
            "id" => &mut self.id,
            "source" => &mut self.source,
            "type" => &mut self.kind,
            "tenant" => &mut self.tenant,
            "subject" => &mut self.subject,
            "time" => &mut self.time,
            "datacontenttype" => &mut self.datacontenttype,
            "data_base64" => &mut self.data_base64,
            _ => {
                self.extensions.push((name.into_owned(), value));
                return;
            }
        };
        *slot = Some(value);
    }

    /// Sets `data` to the JSON text of its value.
    pub fn set_data(&mut self, json: Cow<'a, str>) {
        self.data = Some(json);
    }

    /// The event these attributes describe, validated; the message names the
    /// problem. Events that name no tenant belong to `default_tenant`.
    pub fn into_event(self, default_tenant: &str) -> Result<Event, String> {
        if let Some(version) = text("specversion", self.specversion)?
            && version != "1.0"
        {
            return Err(format!(
                "specversion is {version:?}; weir reads CloudEvents 1.0"
            ));
        }
        let id = match text("id", self.id)? {
            Some(id) if id.len() > MAX_ID_BYTES => {
                return Err(format!("id is longer than {MAX_ID_BYTES} bytes"));
            }
            // Ids are storage keys, with 0x00 as their separator.
            Some(id) if id.contains('\0') => {
                return Err("id must not contain the NUL character (U+0000)".into());
            }
            Some(id) => id,
            None => uuid::Uuid::now_v7().to_string(),
        };
        let source = required("source", self.source)?;
        let kind = required("type", self.kind)?;
        let tenant = text("tenant", self.tenant)?.unwrap_or_else(|| default_tenant.to_owned());
        check_tenant(&tenant)?;
        let mut datacontenttype = text("datacontenttype", self.datacontenttype)?;
        let data_base64 = text("data_base64", self.data_base64)?;
        let data = payload(self.data, data_base64, &mut datacontenttype)?;
        let mut event = Event::new(id, source, kind, tenant);
        event.subject = text("subject", self.subject)?;
        event.time = text("time", self.time)?;
        event.datacontenttype = datacontenttype;
        event.data = data;
        for (name, value) in self.extensions {
            let value = match value {
                // A number kept as text must not pass for a string.
                Attribute::Number(_) if OWN_EXTENSIONS.contains(&name.as_str()) => {
                    return Err(format!("{name} must be a string"));
                }
                Attribute::Text(text) | Attribute::Number(text) => ExtensionValue::String(text),
                Attribute::Flag(flag) => ExtensionValue::Boolean(flag),
                Attribute::Integer(whole) => ExtensionValue::Integer(whole),
                // As for every attribute: null is the same as leaving it out.
                Attribute::Null => continue,
                Attribute::Structured => {
                    return Err(format!(
                        "extension attribute {name:?} must be a string, number, boolean or null"
                    ));
                }
            };
            event.set_extension(&name, value)?;
        }
        Ok(event)
    }
}

/// The payload: `data_base64` decoded, `data` as a string for non-JSON media
/// types, otherwise the JSON text of `data` as received (and typed
/// application/json when no type was given).
fn payload(
    data: Option<Cow<'_, str>>,
    data_base64: Option<String>,
    datacontenttype: &mut Option<String>,
) -> Result<Vec<u8>, String> {
    match (data, data_base64) {
        (Some(_), Some(_)) => Err("an event has either data or data_base64, not both".into()),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("data_base64 is not valid base64: {e}")),
        (Some(json), None)
            if json.starts_with('"')
                && datacontenttype.as_deref().is_some_and(|ct| !is_json(ct)) =>
        {
            serde_json::from_str::<String>(&json)
                .map(String::into_bytes)
                .map_err(|e| format!("data cannot be read as a string: {e}"))
        }
        (Some(json), None) => {
            datacontenttype.get_or_insert_with(|| "application/json".to_owned());
            Ok(json.into_owned().into_bytes())
        }
        (None, None) => Ok(Vec::new()),
    }
}

/// Whether a media type is JSON (`application/json`, `*+json`, `text/json`).
pub fn is_json(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// Whether data of a media type is text: `text/*`, XML, a form
/// (`application/x-www-form-urlencoded`, as webhooks send), or a type that
/// names its charset. Data of any other type that is not JSON is binary.
pub fn is_text(media_type: &str) -> bool {
    let lowered = media_type.to_ascii_lowercase();
    let essence = lowered.split(';').next().unwrap_or_default().trim();
    essence.starts_with("text/")
        || essence == "application/xml"
        || essence.ends_with("+xml")
        || essence == "application/x-www-form-urlencoded"
        || lowered.contains("charset=")
}

/// The attribute `name` as a non-empty string of bounded length, if given.
fn text(name: &str, value: Option<Attribute>) -> Result<Option<String>, String> {
    match value {
        None | Some(Attribute::Null) => Ok(None),
        Some(Attribute::Text(s)) if s.is_empty() => {
            Err(format!("attribute {name:?} must not be empty"))
        }
        Some(Attribute::Text(s)) if s.len() > MAX_ATTRIBUTE_BYTES => Err(format!(
            "attribute {name:?} is longer than {MAX_ATTRIBUTE_BYTES} bytes"
        )),
        Some(Attribute::Text(s)) => Ok(Some(s)),
        Some(_) => Err(format!("attribute {name:?} must be a string")),
    }
}

fn required(name: &str, value: Option<Attribute>) -> Result<String, String> {
    text(name, value)?.ok_or_else(|| format!("missing required attribute {name:?}"))
}
