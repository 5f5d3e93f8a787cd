//! The CloudEvents HTTP binary mode: the attributes travel as `ce-*` headers
//! (values percent-encoded), the body is the event's data as it is, and
//! `Content-Type` is its `datacontenttype`. One event per request, as the
//! binding defines it; the same validation as the JSON forms.

use http::{HeaderMap, header};
use serde_json::{Map, Value};

use crate::event::Event;
use crate::{ParseError, parse_event};

/// The prefix of the attribute headers.
const PREFIX: &str = "ce-";

/// Whether a request is in binary mode: it carries `ce-specversion`.
pub fn is_binary(headers: &HeaderMap) -> bool {
    headers.contains_key("ce-specversion")
}

/// The event of a binary-mode request.
pub fn parse_binary(
    headers: &HeaderMap,
    body: &[u8],
    default_tenant: &str,
) -> Result<Event, ParseError> {
    let invalid = |message: String| ParseError::InvalidEvent(message);
    let mut attributes = Map::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix(PREFIX) else {
            continue;
        };
        let value = value
            .to_str()
            .map_err(|_| invalid(format!("header {name} is not visible ASCII")))?;
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| invalid(format!("header {name} does not decode to UTF-8")))?;
        if attributes
            .insert(attribute.to_owned(), Value::String(value.into_owned()))
            .is_some()
        {
            return Err(invalid(format!("header {name} appears twice")));
        }
    }
    for attribute in ["data", "data_base64", "datacontenttype"] {
        if attributes.contains_key(attribute) {
            return Err(invalid(format!(
                "header ce-{attribute} is not allowed in binary mode: the body is the data and Content-Type its type"
            )));
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| invalid("Content-Type is not visible ASCII".into()))
        })
        .transpose()?;
    let mut event = parse_event(attributes, default_tenant).map_err(invalid)?;
    event.datacontenttype = content_type.map(str::to_owned);
    event.data = body.to_vec();
    Ok(event)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::event::DEFAULT_TENANT;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn attributes_come_from_headers_and_data_from_the_body() {
        let headers = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "b-1"),
            ("ce-source", "https://example.com/shop"),
            ("ce-type", "order.created"),
            ("ce-subject", "order%2042%20%E2%82%AC"),
            ("ce-region", "eu"),
            ("content-type", "text/plain; charset=utf-8"),
            ("x-other", "ignored"),
        ]);
        let event = parse_binary(&headers, b"raw bytes", DEFAULT_TENANT).expect("valid");
        assert_eq!(
            (event.id.as_str(), event.kind.as_str()),
            ("b-1", "order.created")
        );
        assert_eq!(
            event.subject.as_deref(),
            Some("order 42 €"),
            "percent-decoded"
        );
        assert_eq!(
            event
                .extensions
                .get("region")
                .map(|value| value.as_text())
                .as_deref(),
            Some("eu")
        );
        assert_eq!(
            event.datacontenttype.as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(event.data, b"raw bytes");
    }

    #[test]
    fn a_missing_or_misplaced_attribute_is_named() {
        let missing = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "s"),
        ]);
        let error = parse_binary(&missing, b"", DEFAULT_TENANT)
            .expect_err("no type")
            .to_string();
        assert!(error.contains("type"), "{error}");
        let misplaced = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-source", "s"),
            ("ce-type", "t"),
            ("ce-datacontenttype", "text/plain"),
        ]);
        let error = parse_binary(&misplaced, b"", DEFAULT_TENANT)
            .expect_err("datacontenttype header")
            .to_string();
        assert!(error.contains("ce-datacontenttype"), "{error}");
        let old = headers(&[
            ("ce-specversion", "0.3"),
            ("ce-source", "s"),
            ("ce-type", "t"),
        ]);
        let error = parse_binary(&old, b"", DEFAULT_TENANT)
            .expect_err("0.3")
            .to_string();
        assert!(
            error.contains("CloudEvents 1.0"),
            "only 1.0 is read: {error}"
        );
    }
}
