//! Any bytes as a stored event (a damaged file, a foreign message on a
//! NATS subject): an event or an error naming the damage, never a panic.
//! What decodes is stored again in both forms and reads back the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_event::codec;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(event) = codec::decode(bytes) {
        for encoded in [codec::encode(&event), codec::encode_compact(&event)] {
            let again = codec::decode(&encoded).expect("a decoded event encodes and decodes");
            assert_eq!(again, event, "an event does not survive storage");
        }
    }
});
