//! Attribute predicates of a route, written as
//! `match.attributes = { NAME = "value", NAME = { exists = true }, NAME = { one_of = ["a", "b"] } }`.
//! NAME is any CloudEvents attribute of the event: a context attribute
//! (`subject`, `datacontenttype`, ...) or an extension (`region`, `plan`, ...).

use std::borrow::Cow;

use crate::event::Event;

/// One condition on one attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// The attribute has exactly this value.
    Equals(String),
    /// The attribute is present (`true`) or absent (`false`).
    Exists(bool),
    /// The attribute has one of these values.
    OneOf(Vec<String>),
}

impl Predicate {
    /// Reads the predicate written for attribute `name`; the error says what
    /// shapes are accepted.
    pub fn parse(name: &str, written: &toml::Value) -> Result<Predicate, String> {
        let expected = || {
            format!(
                "match.attributes.{name} must be a string, {{ exists = true|false }} or {{ one_of = [\"...\"] }}"
            )
        };
        match written {
            toml::Value::String(value) => Ok(Predicate::Equals(value.clone())),
            toml::Value::Table(table) if table.len() == 1 => {
                match (table.get("exists"), table.get("one_of")) {
                    (Some(toml::Value::Boolean(exists)), None) => Ok(Predicate::Exists(*exists)),
                    (None, Some(toml::Value::Array(values))) if !values.is_empty() => values
                        .iter()
                        .map(|value| value.as_str().map(str::to_owned).ok_or_else(expected))
                        .collect::<Result<_, _>>()
                        .map(Predicate::OneOf),
                    _ => Err(expected()),
                }
            }
            _ => Err(expected()),
        }
    }

    /// Whether the attribute's `value` (`None`: absent) satisfies it.
    pub fn holds(&self, value: Option<&str>) -> bool {
        match self {
            Predicate::Equals(expected) => value == Some(expected.as_str()),
            Predicate::Exists(exists) => value.is_some() == *exists,
            Predicate::OneOf(values) => value.is_some_and(|v| values.iter().any(|e| e == v)),
        }
    }
}

/// The value of the attribute `name` of `event`, if it has one, as text:
/// routes match a typed extension by its text (`true`, `42`).
pub fn attribute<'a>(event: &'a Event, name: &str) -> Option<Cow<'a, str>> {
    let field = match name {
        "id" => Some(event.id.as_str()),
        "source" => Some(event.source.as_str()),
        "type" => Some(event.kind.as_str()),
        "tenant" => Some(event.tenant.as_str()),
        "priority" => Some(event.priority.as_str()),
        "subject" => event.subject.as_deref(),
        "time" => event.time.as_deref(),
        "datacontenttype" => event.datacontenttype.as_deref(),
        "stage" => event.stage.as_deref(),
        "partitionkey" => event.partitionkey.as_deref(),
        extension => return event.extensions.get(extension).map(|value| value.as_text()),
    };
    field.map(Cow::Borrowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(written: &str) -> Result<Predicate, String> {
        let value: toml::Value = toml::from_str(&format!("v = {written}")).expect("toml");
        Predicate::parse("region", &value["v"])
    }

    #[test]
    fn each_shape_reads_and_holds() {
        assert!(parse("\"eu\"").expect("equals").holds(Some("eu")));
        assert!(!parse("\"eu\"").expect("equals").holds(Some("us")));
        assert!(parse("{ exists = true }").expect("exists").holds(Some("")));
        assert!(!parse("{ exists = true }").expect("exists").holds(None));
        assert!(parse("{ exists = false }").expect("absent").holds(None));
        let one_of = parse("{ one_of = [\"eu\", \"uk\"] }").expect("one of");
        assert!(one_of.holds(Some("uk")) && !one_of.holds(Some("us")) && !one_of.holds(None));
    }

    #[test]
    fn other_shapes_are_refused_with_the_attribute_named() {
        for bad in [
            "3",
            "{ exists = \"yes\" }",
            "{ one_of = [] }",
            "{ one_of = [1] }",
            "{ equals = \"eu\" }",
        ] {
            let error = parse(bad).expect_err(bad);
            assert!(error.contains("match.attributes.region"), "{bad}: {error}");
        }
    }
}
