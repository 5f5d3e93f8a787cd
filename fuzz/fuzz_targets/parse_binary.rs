//! Any `ce-*` headers, Content-Type and body as a CloudEvents binary-mode
//! request: an event or an error, never a panic, and every event accepted is
//! storable with the body as its data, byte for byte.

#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use weir_event::{DEFAULT_TENANT, parse_binary};
use weir_fuzz::assert_storable;

/// Attribute headers (name after `ce-`, value), Content-Type, body.
type Request = (Vec<(String, Vec<u8>)>, Option<Vec<u8>>, Vec<u8>);

fuzz_target!(|request: Request| {
    let (attributes, content_type, body) = request;
    let mut headers = HeaderMap::new();
    for (name, value) in attributes {
        // Only what HTTP can carry: a header that cannot exist is skipped.
        let (Ok(name), Ok(value)) = (
            HeaderName::try_from(format!("ce-{name}")),
            HeaderValue::from_bytes(&value),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    if let Some(Ok(value)) = content_type.map(|bytes| HeaderValue::from_bytes(&bytes)) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(event) = parse_binary(&headers, &body, DEFAULT_TENANT) {
        assert_eq!(event.data, body, "the body is the data as it is");
        assert_storable(&event);
    }
});
