//! From request body to validated events: CloudEvents 1.0 JSON (one event or a
//! batch array) with weir's extensions. Any invalid event rejects the whole
//! request, so a batch is stored entirely or not at all.

use serde_json::{Map, Value};

use crate::ParseError;
use crate::attributes::Attributes;
use crate::event::Event;
use crate::wire::Body;

/// Parses a request body into events. `max_events` bounds a batch; events
/// that name no tenant belong to `default_tenant`.
pub fn parse_events(
    body: &[u8],
    max_events: usize,
    default_tenant: &str,
) -> Result<Vec<Event>, ParseError> {
    match serde_json::from_slice(body).map_err(json_error)? {
        Body::One(attributes) => Ok(vec![
            attributes
                .into_event(default_tenant)
                .map_err(ParseError::InvalidEvent)?,
        ]),
        Body::Batch(items) => {
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
                    item.ok_or_else(|| "is not a JSON object".to_owned())
                        .and_then(|attributes| attributes.into_event(default_tenant))
                        .map_err(|message| {
                            ParseError::InvalidEvent(format!("event {index}: {message}"))
                        })
                })
                .collect()
        }
        Body::Other => Err(ParseError::InvalidEvent(
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
pub fn parse_event(object: Map<String, Value>, default_tenant: &str) -> Result<Event, String> {
    Attributes::from_object(object).into_event(default_tenant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExtensionValue;
    use crate::event::{DEFAULT_TENANT, MAX_ATTRIBUTE_BYTES, Priority};

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
            event
                .extensions
                .get("region")
                .map(|value| value.as_text())
                .as_deref(),
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
    fn keeps_data_as_the_json_text_received() {
        let events = parse(
            r#"[{"source":"s","type":"t","data" :  {"b": 2,  "a": [1, 2.50]}  },
                {"s\u006furce":"s","type":"t","datacontenttype":"text/plain","data":"a\"b\u00e9"},
                {"source":"s","type":"t","data":"quoted"},
                {"source":"s","type":"t","data":null},
                {"source":"s","type":"t","id":"first","id":"last","n":1.5,"flag":true}]"#,
        )
        .expect("valid");
        assert_eq!(events[0].data, br#"{"b": 2,  "a": [1, 2.50]}"#);
        assert_eq!(events[1].source, "s");
        assert_eq!(events[1].data, "a\"b\u{e9}".as_bytes());
        assert_eq!(events[2].data, br#""quoted""#);
        assert_eq!(
            events[2].datacontenttype.as_deref(),
            Some("application/json")
        );
        assert_eq!(events[3].data, b"null");
        assert_eq!(events[4].id, "last");
        let extension = |name: &str| events[4].extensions.get(name).cloned();
        assert_eq!(extension("n"), Some(ExtensionValue::from("1.5")));
        assert_eq!(extension("flag"), Some(ExtensionValue::Boolean(true)));
    }

    #[test]
    fn extensions_keep_their_json_type_and_own_fields_take_strings_only() {
        let events = parse(
            r#"[{"source":"s","type":"t","count":-3,"big":18446744073709551615,"vip":false,"note":"5"},
                {"source":"s","type":"t","stage":3},
                {"source":"s","type":"t","partitionkey":true}]"#,
        );
        let error = events.expect_err("a number as stage");
        assert!(error.contains("event 1: stage must be a string"), "{error}");
        let events = parse(
            r#"{"source":"s","type":"t","count":-3,"big":18446744073709551615,"vip":false,"note":"5"}"#,
        )
        .expect("valid");
        let extension = |name: &str| events[0].extensions.get(name).cloned();
        assert_eq!(extension("count"), Some(ExtensionValue::Integer(-3)));
        assert_eq!(
            extension("big"),
            Some(ExtensionValue::from("18446744073709551615"))
        );
        assert_eq!(extension("vip"), Some(ExtensionValue::Boolean(false)));
        assert_eq!(extension("note"), Some(ExtensionValue::from("5")));
        for number in ["7", "-3.3e35"] {
            let body = format!(r#"{{"source":"s","type":"t","partitionkey":{number}}}"#);
            let error = parse(&body).expect_err(number);
            assert!(error.contains("partitionkey must be a string"), "{error}");
        }
        // Null is the same as leaving the attribute out, as for context attributes.
        let events = parse(r#"{"source":"s","type":"t","x":null,"priority":null,"stage":null}"#)
            .expect("valid");
        assert!(events[0].extensions.is_empty());
        assert_eq!(
            (events[0].priority, &events[0].stage),
            (Priority::Normal, &None)
        );
    }

    #[test]
    fn data_nests_as_deep_as_serde_json_parses_and_no_deeper() {
        for levels in [120, 125, 126, 127, 128, 200] {
            let nested = format!("{}\"[{{\\\"\"{}", "[".repeat(levels), "]".repeat(levels));
            for body in [
                format!(r#"{{"source":"s","type":"t","data":{nested}}}"#),
                format!(r#"[{{"source":"s","type":"t","data":{nested}}}]"#),
            ] {
                let parsed = parse(&body);
                let json_parses = serde_json::from_str::<Value>(&body).is_ok();
                assert_eq!(parsed.is_ok(), json_parses, "{levels} levels: {parsed:?}");
                if let Err(error) = parsed {
                    assert!(error.contains("nested deeper than 128 levels"), "{error}");
                }
            }
        }
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
                "must be a string, number, boolean or null",
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
            (
                r#"[{"source":"s","type":"t"},[{}]]"#,
                "event 1: is not a JSON object",
            ),
            (r#"{"source":1,"type":"t"}"#, "\"source\" must be a string"),
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
