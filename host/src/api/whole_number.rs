//! Integer fields of request bodies. JSON Schema counts `147.0` as an integer,
//! as the OpenAPI document's readers do, so these fields take a number with no
//! fraction in either spelling.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// For `#[serde(default, deserialize_with = "whole_number::optional")]` on an
/// `Option` of an unsigned integer.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    number
        .as_u64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|n| n.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(n))
                .map(|n| n as u64)
        })
        .and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{number} is not a whole number in range")))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::optional")]
        n: Option<u32>,
    }

    fn n(json: &str) -> Result<Option<u32>, String> {
        serde_json::from_str::<Body>(json)
            .map(|body| body.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn takes_whole_numbers_in_either_spelling_and_refuses_the_rest() {
        assert_eq!(n(r#"{"n": 147}"#), Ok(Some(147)));
        assert_eq!(n(r#"{"n": 147.0}"#), Ok(Some(147)));
        assert_eq!(n(r#"{"n": null}"#), Ok(None));
        assert_eq!(n("{}"), Ok(None));
        for bad in ["1.5", "-1", "4294967296", "\"7\""] {
            let error = n(&format!(r#"{{"n": {bad}}}"#)).expect_err(bad);
            assert!(
                error.contains("whole number") || error.contains("invalid type"),
                "{error}"
            );
        }
    }
}
