//! How a store lays out an event (a member of a group in fjall's `events`
//! keyspace, a NATS message):
//! a little-endian u32 length, the attributes, then the payload bytes as
//! they came (never re-encoded). The attributes are JSON where builds of
//! weir share what is stored (NATS, during a rolling upgrade), and compact
//! binary (`compact`) where this build alone reads it (fjall): no field
//! names to write, nothing to parse. The length's top bit tells them apart.

use std::collections::BTreeMap;

use crate::compact::{Malformed, Reader, Writer};
use crate::{Event, ExtensionValue, Priority};

/// A stored event that cannot be read back: corruption or a bug, never user input.
#[derive(Debug, thiserror::Error)]
#[error("stored event is unreadable: {0}")]
pub struct CorruptEvent(String);

/// Set in the length of compact attributes: JSON attributes are far under
/// 2 GiB, so their length never has it.
const COMPACT: u32 = 1 << 31;

/// The first byte of the compact attributes, for a later change of them.
const COMPACT_V1: u8 = 1;

/// Encodes `event` as every build of weir reads it: JSON attributes.
pub fn encode(event: &Event) -> Vec<u8> {
    // Serializing a struct of strings and integers to a Vec cannot fail.
    let header = serde_json::to_vec(event).unwrap_or_default();
    let mut bytes = Vec::with_capacity(4 + header.len() + event.data.len());
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&event.data);
    bytes
}

/// Encodes `event` for a store only this build (or a later one) reads:
/// compact attributes.
pub fn encode_compact(event: &Event) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + 128 + event.data.len());
    append_compact(event, &mut bytes);
    bytes
}

/// Appends `event` to `bytes` as [`encode_compact`] encodes it: a group of
/// events is written into one buffer, not a buffer each.
pub fn append_compact(event: &Event, bytes: &mut Vec<u8>) {
    // Written in place: the length first, set once the attributes are.
    let start = bytes.len();
    let mut out = Writer(std::mem::take(bytes));
    out.u32(0);
    out.u8(COMPACT_V1);
    out.str(&event.id);
    out.str(&event.source);
    out.str(&event.kind);
    out.option(event.subject.as_deref(), Writer::str);
    out.option(event.time.as_deref(), Writer::str);
    out.option(event.datacontenttype.as_deref(), Writer::str);
    out.str(&event.tenant);
    out.u8(event.priority.rank());
    out.option(event.stage.as_deref(), Writer::str);
    out.option(event.partitionkey.as_deref(), Writer::str);
    out.u32(event.extensions.len() as u32);
    for (name, value) in &event.extensions {
        out.str(name);
        match value {
            ExtensionValue::Boolean(value) => {
                out.u8(0);
                out.u8(u8::from(*value));
            }
            ExtensionValue::Integer(value) => {
                out.u8(1);
                out.u64(*value as u64);
            }
            ExtensionValue::String(value) => {
                out.u8(2);
                out.str(value);
            }
        }
    }
    out.u32(event.hops);
    out.u64(event.ingested_at_ms);
    *bytes = out.0;
    let length = (bytes.len() - start - 4) as u32 | COMPACT;
    bytes[start..start + 4].copy_from_slice(&length.to_le_bytes());
    bytes.extend_from_slice(&event.data);
}

/// Decodes a stored event, in either form.
pub fn decode(bytes: &[u8]) -> Result<Event, CorruptEvent> {
    let len_bytes: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CorruptEvent("shorter than its length prefix".into()))?;
    let length = u32::from_le_bytes(len_bytes);
    let header_end = 4 + (length & !COMPACT) as usize;
    let header = bytes
        .get(4..header_end)
        .ok_or_else(|| CorruptEvent("header runs past the end".into()))?;
    let mut event = if length & COMPACT == 0 {
        serde_json::from_slice(header).map_err(|e| CorruptEvent(e.to_string()))?
    } else {
        let mut input = Reader(header);
        let event = read_compact(&mut input).and_then(|event| input.finish().map(|()| event));
        event.map_err(|Malformed(why)| CorruptEvent(format!("its attribute header: {why}")))?
    };
    event.data = bytes[header_end..].to_vec();
    Ok(event)
}

/// The attributes [`encode_compact`] wrote; the data is read after them.
fn read_compact(input: &mut Reader) -> Result<Event, Malformed> {
    if input.u8()? != COMPACT_V1 {
        return Err(Malformed("it is in an unknown format"));
    }
    let (id, source, kind) = (input.string()?, input.string()?, input.string()?);
    let subject = input.option(Reader::string)?;
    let time = input.option(Reader::string)?;
    let datacontenttype = input.option(Reader::string)?;
    let tenant = input.string()?;
    let priority =
        Priority::from_rank(input.u8()?).ok_or(Malformed("it holds an unknown priority"))?;
    let stage = input.option(Reader::string)?;
    let partitionkey = input.option(Reader::string)?;
    let mut extensions = BTreeMap::new();
    for _ in 0..input.u32()? {
        let name = input.string()?;
        let value = match input.u8()? {
            0 => ExtensionValue::Boolean(input.u8()? != 0),
            1 => ExtensionValue::Integer(input.u64()? as i64),
            2 => ExtensionValue::String(input.string()?),
            _ => return Err(Malformed("it holds an extension of an unknown type")),
        };
        extensions.insert(name, value);
    }
    Ok(Event {
        id,
        source,
        kind,
        subject,
        time,
        datacontenttype,
        data: Vec::new(),
        tenant,
        priority,
        stage,
        partitionkey,
        extensions,
        hops: input.u32()?,
        ingested_at_ms: input.u64()?,
    })
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
                ("lowest".to_owned(), ExtensionValue::Integer(i64::MIN)),
                ("highest".to_owned(), ExtensionValue::Integer(i64::MAX)),
            ]
            .into(),
            hops: 2,
            ingested_at_ms: 5,
        };
        assert_eq!(decode(&encode(&event)).expect("decodes"), event);
        assert_eq!(decode(&encode_compact(&event)).expect("decodes"), event);
        let mut appended = b"earlier bytes".to_vec();
        append_compact(&event, &mut appended);
        assert_eq!(
            decode(&appended[13..]).expect("decodes"),
            event,
            "appended after others"
        );
        assert!(decode(&[1, 0]).is_err());
        assert!(decode(&[200, 0, 0, 0, b'{']).is_err());
    }

    #[test]
    fn compact_attributes_keep_every_priority_and_an_empty_event() {
        for priority in Priority::ALL {
            let mut event = Event::new("e".into(), "s".into(), "t".into(), "acme".into());
            event.priority = priority;
            assert_eq!(decode(&encode_compact(&event)).expect("decodes"), event);
        }
        let event = Event::new(String::new(), String::new(), String::new(), String::new());
        let bytes = encode_compact(&event);
        assert!(bytes.len() < encode(&event).len(), "compact is smaller");
        assert_eq!(decode(&bytes).expect("decodes"), event);
    }

    #[test]
    fn damaged_compact_attributes_are_refused_naming_the_problem() {
        let mut event = Event::new("e1".into(), "s".into(), "t".into(), "acme".into());
        event
            .extensions
            .insert("n".into(), ExtensionValue::Integer(-3));
        event.data = b"payload".to_vec();
        let bytes = encode_compact(&event);
        let header_len =
            (u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) & !COMPACT) as usize;
        // The length says the header is shorter than it is.
        let mut short = bytes.clone();
        short[..4].copy_from_slice(&((header_len as u32 - 1) | COMPACT).to_le_bytes());
        let error = decode(&short).expect_err("a cut header");
        assert!(
            error
                .to_string()
                .contains("its attribute header: it ends early"),
            "{error}"
        );
        // An unknown format, priority and extension type.
        // After the length, the version, id, source, type, three absent
        // options and the tenant.
        let priority_at = 4 + 1 + (4 + 2) + (4 + 1) + (4 + 1) + 3 + (4 + 4);
        // After the priority, two absent options, the count and the name.
        let extension_type_at = priority_at + 1 + 2 + 4 + (4 + 1);
        for (at, why) in [
            (4, "unknown format"),
            (priority_at, "unknown priority"),
            (extension_type_at, "unknown type"),
        ] {
            let mut bad = bytes.clone();
            bad[at] = 99;
            let error = decode(&bad).expect_err(why);
            assert!(error.to_string().contains(why), "{error}");
        }
        let mut longer = bytes;
        longer[..4].copy_from_slice(&((header_len as u32 + 100) | COMPACT).to_le_bytes());
        let error = decode(&longer).expect_err("a header past the end");
        assert!(error.to_string().contains("runs past the end"), "{error}");
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
