//! Any bytes as the body of `POST /v1/events`: the parser answers with
//! events or an error naming the problem, never a panic, and every event it
//! accepts is storable.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_event::{DEFAULT_TENANT, parse_events};
use weir_fuzz::assert_storable;

fuzz_target!(|body: &[u8]| {
    if let Ok(events) = parse_events(body, 100, DEFAULT_TENANT) {
        assert!(!events.is_empty() && events.len() <= 100);
        events.iter().for_each(assert_storable);
    }
});
