//! What a handler answers: acknowledge, emit events, retry later or fail.

use serde::Serialize;

use crate::{Error, NewEvent, Outcome};

/// The content type of events built by [`NewEvent::json`].
const JSON: &str = "application/json";

impl Outcome {
    /// Emits one event of type `type_` whose data is `value` as JSON.
    pub fn emit_json<T: Serialize + ?Sized>(type_: &str, value: &T) -> Result<Self, Error> {
        Ok(Self::Emit(vec![NewEvent::json(type_, value)?]))
    }
}

impl NewEvent {
    /// An event of type `type_` whose data is `value` as JSON
    /// (`datacontenttype` `application/json`, source chosen by the host).
    pub fn json<T: Serialize + ?Sized>(type_: &str, value: &T) -> Result<Self, Error> {
        let data = serde_json::to_vec(value)
            .map_err(|e| Error::new(format!("cannot serialize {type_} data: {e}")))?;
        Ok(Self {
            type_: type_.to_owned(),
            source: None,
            subject: None,
            datacontenttype: Some(JSON.to_owned()),
            data,
            extensions: Vec::new(),
        })
    }

    /// Sets the subject (what the event is about, such as a listing id).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Adds an extension attribute, such as `partitionkey` to order related events.
    pub fn extension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.push((name.into(), value.into()));
        self
    }
}
