//! Any bytes as a stored event (a damaged file, a foreign message on a
//! NATS subject): an event or an error naming the damage, never a panic.
//! What decodes is stored again in both forms and reads back the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_event::codec;
use weir_fuzz::assert_survives_storage;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(event) = codec::decode(bytes) {
        assert_survives_storage(&event);
    }
});
