//! Reading the incoming event.

use serde::de::DeserializeOwned;

use crate::{Error, Event};

impl Event {
    /// Deserializes `data` as JSON; the error names the event type and what was wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.data)
            .map_err(|e| Error::new(format!("invalid {} data: {e}", self.type_)))
    }

    /// The value of the extension attribute `name` (such as `partitionkey`), if present.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
