//! How a store lays out an event (fjall's `events` keyspace, a NATS message):
//! a little-endian u32 length, the attributes as JSON, then the payload bytes
//! as they came (never re-encoded).

use crate::Event;

/// A stored event that cannot be read back: corruption or a bug, never user input.
#[derive(Debug, thiserror::Error)]
#[error("stored event is unreadable: {0}")]
pub struct CorruptEvent(String);

/// Encodes `event` for storage.
pub fn encode(event: &Event) -> Vec<u8> {
    // Serializing a struct of strings and integers to a Vec cannot fail.
    let header = serde_json::to_vec(event).unwrap_or_default();
    let mut bytes = Vec::with_capacity(4 + header.len() + event.data.len());
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&event.data);
    bytes
}

/// Decodes a stored event.
pub fn decode(bytes: &[u8]) -> Result<Event, CorruptEvent> {
    let len_bytes: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CorruptEvent("shorter than its length prefix".into()))?;
    let header_end = 4 + u32::from_le_bytes(len_bytes) as usize;
    let header = bytes
        .get(4..header_end)
        .ok_or_else(|| CorruptEvent("header runs past the end".into()))?;
    let mut event: Event =
        serde_json::from_slice(header).map_err(|e| CorruptEvent(e.to_string()))?;
    event.data = bytes[header_end..].to_vec();
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExtensionValue, Priority};

    #[test]
    fn round_trip_keeps_payload_bytes() {
        let event = Event {
            id: "e1".into(),
            source: "s".into(),
            kind: "t".into(),
            subject: Some("sub".into()),
            time: None,
            datacontenttype: Some("application/octet-stream".into()),
            data: vec![0, 159, 146, 150, 255],
            tenant: "acme".into(),
            priority: Priority::High,
            stage: None,
            partitionkey: Some("k".into()),
            extensions: [
                ("x".to_owned(), "1".into()),
                ("n".to_owned(), ExtensionValue::Integer(7)),
                ("vip".to_owned(), ExtensionValue::Boolean(true)),
            ]
            .into(),
            hops: 2,
            ingested_at_ms: 5,
        };
        assert_eq!(decode(&encode(&event)).expect("decodes"), event);
        assert!(decode(&[1, 0]).is_err());
        assert!(decode(&[200, 0, 0, 0, b'{']).is_err());
    }

    /// Before extensions kept their JSON types, every value was stored as a
    /// string; such an event still reads, its values as the strings they were.
    #[test]
    fn reads_an_event_stored_with_extensions_as_strings() {
        let header = br#"{"id":"e1","source":"s","type":"t","tenant":"acme","priority":"normal","n":"7","vip":"true","hops":0,"ingested_at_ms":5}"#;
        let mut bytes = (header.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(b"payload");
        let event = decode(&bytes).expect("an event of the previous build decodes");
        assert_eq!(event.extensions["n"], ExtensionValue::from("7"));
        assert_eq!(event.extensions["vip"], ExtensionValue::from("true"));
        assert_eq!(event.data, b"payload");
    }
}
