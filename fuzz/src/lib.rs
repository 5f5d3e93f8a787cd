//! What every event the parsers accept must be: one weir can store and
//! route. A fuzz target that finds an accepted event breaking these has
//! found a hole in validation, not just a panic.

use weir_event::{Event, MAX_ATTRIBUTE_BYTES, MAX_EXTENSIONS, check_tenant, codec};

/// Panics, naming the broken rule, unless `event` is storable.
pub fn assert_storable(event: &Event) {
    assert!(!event.id.is_empty() && event.id.len() <= 256, "id length");
    assert!(
        !event.id.contains('\0'),
        "NUL in an id: ids are storage keys"
    );
    assert!(!event.source.is_empty(), "empty source");
    assert!(!event.kind.is_empty(), "empty type");
    assert!(check_tenant(&event.tenant).is_ok(), "invalid tenant");
    assert!(
        event.extensions.len() <= MAX_EXTENSIONS,
        "too many extensions"
    );
    for (name, value) in &event.extensions {
        assert!(
            weir_event::is_valid_attribute_name(name),
            "extension {name:?}"
        );
        assert!(
            value.as_text().len() <= MAX_ATTRIBUTE_BYTES,
            "long extension {name:?}"
        );
    }
    assert_survives_storage(event);
}

/// Panics unless `event` reads back the same from both stored forms: JSON
/// attributes (NATS) and compact ones (fjall).
pub fn assert_survives_storage(event: &Event) {
    for encoded in [codec::encode(event), codec::encode_compact(event)] {
        let decoded = codec::decode(&encoded).expect("an event decodes");
        assert_eq!(&decoded, event, "an event does not survive storage");
    }
}
