//! What every event the parsers accept must be: one weir can store and
//! route. A fuzz target that finds an accepted event breaking these has
//! found a hole in validation, not just a panic.

use weir_event::{Event, MAX_ATTRIBUTE_BYTES, MAX_EXTENSIONS, check_tenant};

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
    // Stored events are read back (their data is kept apart).
    let encoded = serde_json::to_vec(event).expect("an event encodes");
    let decoded: Event = serde_json::from_slice(&encoded).expect("an event decodes");
    let without_data = Event {
        data: Vec::new(),
        ..event.clone()
    };
    assert_eq!(decoded, without_data, "an event does not survive storage");
}
