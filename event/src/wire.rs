//! A request body read in one pass, borrowing from it: no JSON tree is built
//! for the events, and each `data` stays the text it came as.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::attributes::{Attribute, Attributes};

/// What a request body holds.
pub enum Body<'a> {
    /// One event object.
    One(Box<Attributes<'a>>),
    /// An array; `None` where an item is not an object.
    Batch(Vec<Option<Attributes<'a>>>),
    /// Any other JSON value.
    Other,
}

impl<'de> Deserialize<'de> for Body<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BodyVisitor { top: true })
    }
}

/// Reads the body (`top`) or one item of a batch, where an array is not an event.
struct BodyVisitor {
    top: bool,
}

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an event object or an array of events")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body<'de>, A::Error> {
        let level = if self.top { 1 } else { 2 };
        read_attributes(map, level).map(|attributes| Body::One(Box::new(attributes)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body<'de>, A::Error> {
        if !self.top {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Body::Other);
        }
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Item(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Body::Batch(items))
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Body<'de>, E> {
        Ok(Body::Other)
    }

    fn visit_i64<E: Error>(self, _: i64) -> Result<Body<'de>, E> {
        Ok(Body::Other)
    }

    fn visit_u64<E: Error>(self, _: u64) -> Result<Body<'de>, E> {
        Ok(Body::Other)
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<Body<'de>, E> {
        Ok(Body::Other)
    }

    fn visit_str<E: Error>(self, _: &str) -> Result<Body<'de>, E> {
        Ok(Body::Other)
    }

    fn visit_unit<E: Error>(self) -> Result<Body<'de>, E> {
        Ok(Body::Other)
    }
}

/// One item of a batch: its attributes if it is an object.
struct Item<'a>(Option<Attributes<'a>>);

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_any(BodyVisitor { top: false })? {
            Body::One(attributes) => Ok(Item(Some(*attributes))),
            Body::Batch(_) | Body::Other => Ok(Item(None)),
        }
    }
}

/// An object's members (the object nested `level` deep in the body): `data`
/// kept as its raw JSON text, the rest typed.
fn read_attributes<'de, A: MapAccess<'de>>(
    mut map: A,
    level: usize,
) -> Result<Attributes<'de>, A::Error> {
    let mut attributes = Attributes::default();
    while let Some(Name(name)) = map.next_key()? {
        if name == "data" {
            let json: &'de RawValue = map.next_value()?;
            if level + depth(json.get()) > MAX_DEPTH {
                // serde_json's own words, so the error reads as for any other deep body.
                return Err(A::Error::custom("recursion limit exceeded"));
            }
            attributes.set_data(Cow::Borrowed(json.get()));
        } else {
            attributes.set(name, map.next_value()?);
        }
    }
    Ok(attributes)
}

/// The deepest nesting serde_json parses. Skipping over `data` as raw text
/// has no such limit, so `data` is held to it here: every payload a plugin
/// gets parses as JSON again.
const MAX_DEPTH: usize = 127;

/// How deeply `json`, valid JSON text, nests arrays and objects.
fn depth(json: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json.as_bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A member's name, borrowed from the body unless it has escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a member name")
    }

    fn visit_borrowed_str<E: Error>(self, name: &'de str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Borrowed(name)))
    }

    fn visit_str<E: Error>(self, name: &str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(name.to_owned())))
    }
}

impl<'de> Deserialize<'de> for Attribute {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AttributeVisitor)
    }
}

struct AttributeVisitor;

impl<'de> Visitor<'de> for AttributeVisitor {
    type Value = Attribute;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an attribute value")
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Attribute, E> {
        Ok(Attribute::Text(text.to_owned()))
    }

    fn visit_string<E: Error>(self, text: String) -> Result<Attribute, E> {
        Ok(Attribute::Text(text))
    }

    fn visit_bool<E: Error>(self, flag: bool) -> Result<Attribute, E> {
        Ok(Attribute::Flag(flag))
    }

    fn visit_i64<E: Error>(self, number: i64) -> Result<Attribute, E> {
        Ok(Attribute::Integer(number))
    }

    fn visit_u64<E: Error>(self, number: u64) -> Result<Attribute, E> {
        Ok(i64::try_from(number).map_or_else(
            |_| Attribute::Number(number.to_string()),
            Attribute::Integer,
        ))
    }

    fn visit_f64<E: Error>(self, number: f64) -> Result<Attribute, E> {
        // As serde_json writes the number: JSON has no NaN or infinity.
        Ok(Attribute::Number(
            serde_json::Number::from_f64(number).map_or_else(String::new, |n| n.to_string()),
        ))
    }

    fn visit_unit<E: Error>(self) -> Result<Attribute, E> {
        Ok(Attribute::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Attribute, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Attribute::Structured)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attribute, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Attribute::Structured)
    }
}
