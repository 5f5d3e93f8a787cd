//! From request body to validated events: CloudEvents 1.0 JSON (one event or a
//! batch array) with weir's extensions. Any invalid event rejects the whole
//! request, so a batch is stored entirely or not at all.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::ParseError;
use crate::event::{Event, MAX_ATTRIBUTE_BYTES, check_tenant};

/// Longest event id: ids are storage keys.
const MAX_ID_BYTES: usize = 256;

/// Parses a request body into events. `max_events` bounds a batch; events
/// that name no tenant belong to `default_tenant`.
pub fn parse_events(
    body: &[u8],
    max_events: usize,
    default_tenant: &str,
) -> Result<Vec<Event>, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(json_error)?;
    match value {
        Value::Object(object) => Ok(vec![
            parse_event(object, default_tenant).map_err(ParseError::InvalidEvent)?,
        ]),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ParseError::InvalidEvent(
                    "the batch is empty: send at least one event".into(),
                ));
            }
            if items.len() > max_events {
                return Err(ParseError::TooManyEvents(format!(
                    "the batch has {} events; at most {max_events} are accepted per request",
                    items.len()
                )));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(index, item)| {
                    match item {
                        Value::Object(object) => parse_event(object, default_tenant),
                        _ => Err("is not a JSON object".to_owned()),
                    }
                    .map_err(|message| {
                        ParseError::InvalidEvent(format!("event {index}: {message}"))
                    })
                })
                .collect()
        }
        _ => Err(ParseError::InvalidEvent(
            "the body must be an event object or an array of events".into(),
        )),
    }
}

/// serde_json stops at 128 levels of nesting, so a deep body cannot exhaust
/// the stack; its message for that is made plain here.
fn json_error(error: serde_json::Error) -> ParseError {
    if error.to_string().starts_with("recursion limit exceeded") {
        return ParseError::InvalidJson(format!(
            "the body is nested deeper than 128 levels (line {}, column {})",
            error.line(),
            error.column()
        ));
    }
    ParseError::InvalidJson(format!("body is not valid JSON: {error}"))
}

/// One event from its attributes as a JSON object; the message names the problem.
pub fn parse_event(mut object: Map<String, Value>, default_tenant: &str) -> Result<Event, String> {
    if let Some(version) = take_string(&mut object, "specversion")?
        && version != "1.0"
    {
        return Err(format!(
            "specversion is {version:?}; weir reads CloudEvents 1.0"
        ));
    }
    let id = match take_string(&mut object, "id")? {
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
    let source = take_required(&mut object, "source")?;
    let kind = take_required(&mut object, "type")?;
    let tenant = take_string(&mut object, "tenant")?.unwrap_or_else(|| default_tenant.to_owned());
    check_tenant(&tenant)?;
    let mut datacontenttype = take_string(&mut object, "datacontenttype")?;
    let data = take_data(&mut object, &mut datacontenttype)?;
    let mut event = Event::new(id, source, kind, tenant);
    event.subject = take_string(&mut object, "subject")?;
    event.time = take_string(&mut object, "time")?;
    event.datacontenttype = datacontenttype;
    event.data = data;
    for (name, value) in object {
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(format!(
                    "extension attribute {name:?} must be a string, number or boolean"
                ));
            }
        };
        event.set_extension(&name, value)?;
    }
    Ok(event)
}

/// The payload: `data_base64` decoded, `data` as a string for non-JSON media
/// types, otherwise `data` re-serialized as JSON (and typed application/json).
fn take_data(
    object: &mut Map<String, Value>,
    datacontenttype: &mut Option<String>,
) -> Result<Vec<u8>, String> {
    let data = object.remove("data");
    let data_base64 = take_string(object, "data_base64")?;
    match (data, data_base64) {
        (Some(_), Some(_)) => Err("an event has either data or data_base64, not both".into()),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("data_base64 is not valid base64: {e}")),
        (Some(Value::String(text)), None)
            if datacontenttype.as_deref().is_some_and(|ct| !is_json(ct)) =>
        {
            Ok(text.into_bytes())
        }
        (Some(value), None) => {
            datacontenttype.get_or_insert_with(|| "application/json".to_owned());
            serde_json::to_vec(&value).map_err(|e| format!("data cannot be encoded: {e}"))
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

fn take_string(object: &mut Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match object.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(format!("attribute {name:?} must not be empty"))
        }
        Some(Value::String(s)) if s.len() > MAX_ATTRIBUTE_BYTES => Err(format!(
            "attribute {name:?} is longer than {MAX_ATTRIBUTE_BYTES} bytes"
        )),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("attribute {name:?} must be a string")),
    }
}

fn take_required(object: &mut Map<String, Value>, name: &str) -> Result<String, String> {
    take_string(object, name)?.ok_or_else(|| format!("missing required attribute {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DEFAULT_TENANT, Priority};

    fn parse(body: &str) -> Result<Vec<Event>, String> {
        parse_events(body.as_bytes(), 10, DEFAULT_TENANT).map_err(|e| format!("{e:?} {e}"))
    }

    #[test]
    fn reads_attributes_extensions_and_data() {
        let events = parse(
            r#"{"specversion":"1.0","id":"e1","source":"/s","type":"t","tenant":"acme",
                "priority":"high","partitionkey":"L1","region":"eu","data":{"a":1}}"#,
        )
        .expect("valid");
        let event = &events[0];
        assert_eq!((event.id.as_str(), event.tenant.as_str()), ("e1", "acme"));
        assert_eq!(event.priority, Priority::High);
        assert_eq!(event.partitionkey.as_deref(), Some("L1"));
        assert_eq!(
            event.extensions.get("region").map(String::as_str),
            Some("eu")
        );
        assert_eq!(event.data, br#"{"a":1}"#);
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
    }

    #[test]
    fn generates_ids_and_decodes_binary_and_text_data() {
        let events = parse(
            r#"[{"source":"s","type":"t","data_base64":"AAEC"},
                {"source":"s","type":"t","datacontenttype":"text/plain","data":"hi"}]"#,
        )
        .expect("valid");
        assert!(!events[0].id.is_empty());
        assert_eq!(events[0].data, [0, 1, 2]);
        assert_eq!(events[1].data, b"hi");
    }

    #[test]
    fn names_the_problem() {
        let cases = [
            ("{", "InvalidJson"),
            (r#"{"source":"s"}"#, "missing required attribute \"type\""),
            (
                r#"[{"source":"s","type":"t"},{"type":"t"}]"#,
                "event 1: missing required attribute \"source\"",
            ),
            (r#"{"source":"s","type":""}"#, "must not be empty"),
            (r#"{"id":"a\u0000b","source":"s","type":"t"}"#, "NUL"),
            (
                r#"{"source":"s","type":"t","specversion":"0.3"}"#,
                "CloudEvents 1.0",
            ),
            (
                r#"{"source":"s","type":"t","priority":"urgent"}"#,
                "expected critical, high, normal or low",
            ),
            (r#"{"source":"s","type":"t","Bad_Name":"x"}"#, "is invalid"),
            (
                r#"{"source":"s","type":"t","ext":{"x":1}}"#,
                "must be a string, number or boolean",
            ),
            (r#"{"source":"s","type":"t","tenant":"a b"}"#, "tenant"),
            (
                r#"{"source":"s","type":"t","data":1,"data_base64":"AA=="}"#,
                "not both",
            ),
            (
                r#"{"source":"s","type":"t","data_base64":"@@"}"#,
                "not valid base64",
            ),
            ("[]", "empty"),
            ("42", "event object or an array"),
            ("[1]", "event 0: is not a JSON object"),
        ];
        for (body, expected) in cases {
            let error = parse(body).expect_err(body);
            assert!(error.contains(expected), "{body} -> {error}");
        }
        let long = "x".repeat(MAX_ATTRIBUTE_BYTES + 1);
        let long_source = format!(r#"{{"source":"{long}","type":"t"}}"#);
        assert!(
            parse(&long_source)
                .expect_err("long source")
                .contains("longer than")
        );
        let long_extension = format!(r#"{{"source":"s","type":"t","region":"{long}"}}"#);
        assert!(
            parse(&long_extension)
                .expect_err("long extension")
                .contains("longer than")
        );
        let many: Vec<String> = (0..=crate::MAX_EXTENSIONS)
            .map(|n| format!(r#""x{n}":"v""#))
            .collect();
        let crowded = format!(r#"{{"source":"s","type":"t",{}}}"#, many.join(","));
        assert!(
            parse(&crowded)
                .expect_err("too many extensions")
                .contains("at most")
        );
        let eleven = format!("[{}]", [r#"{"source":"s","type":"t"}"#; 11].join(","));
        assert!(
            parse(&eleven)
                .expect_err("too many")
                .starts_with("TooManyEvents")
        );
    }
}
