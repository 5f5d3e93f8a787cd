//! `Idempotency-Key` on `POST /v1/events`, after the IETF httpapi draft and
//! Stripe's practice. The first request with a key is answered as usual and
//! its answer recorded by the store (on fjall with its events,
//! `queue/request_keys.rs`; on NATS in a bucket every node reads). A repeat
//! with the same request gets that answer again, marked `Idempotent-Replayed`;
//! a repeat with a different request gets 422; a repeat while the first is
//! still being answered gets 409. Keys belong to the caller's tenant and are
//! kept for `[queue] dedup_window_ms`. An answer that was an error is not
//! recorded, so the client may try again with the same key.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::api::{ApiError, AppState, Caller};
use crate::event::now_ms;
use weir_core::store::Admission;
use weir_core::store::RequestKey;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The answer header that marks a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// Longest key accepted, as Stripe allows.
const MAX_KEY_BYTES: usize = 255;

/// Keys whose first request is still being answered, by (tenant, key).
#[derive(Debug, Default)]
pub struct KeysInFlight(Mutex<HashSet<(String, String)>>);

/// A key held while its first request is answered.
pub struct Held {
    keys: Arc<KeysInFlight>,
    /// The key, to record with the request's events.
    pub key: RequestKey,
}

impl Drop for Held {
    fn drop(&mut self) {
        let entry = (self.key.scope.clone(), self.key.key.clone());
        self.keys
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&entry);
    }
}

/// Holds the request's key, if it sent one, before its body is read: 400 for
/// a key that is empty, too long or not visible ASCII, 409 while another
/// request holds it.
pub fn hold(
    app: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<Option<Held>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| {
            (1..=MAX_KEY_BYTES).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_BYTES} visible ASCII characters"
            ))
        })?;
    let keys = app.keys_in_flight.clone();
    let entry = (caller.key_scope().to_owned(), key.to_owned());
    if !keys
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(entry.clone())
    {
        return Err(ApiError::Conflict(format!(
            "a request with Idempotency-Key {key:?} is still being answered; retry once it is"
        )));
    }
    let (scope, key) = entry;
    Ok(Some(Held {
        keys,
        key: RequestKey {
            scope,
            key,
            fingerprint: String::new(),
        },
    }))
}

impl Held {
    /// Fingerprints the request, then looks for an earlier answer to its key:
    /// that answer to replay, 422 if the key was used for a different request.
    pub async fn answered_before(
        &mut self,
        app: &AppState,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Option<Vec<Admission>>, ApiError> {
        self.key.fingerprint = fingerprint(headers, body);
        let shared = &app.shared;
        let window_ms = shared.config.retention.dedup_window.as_millis() as u64;
        let record = (app.backend)
            .request_record(&self.key.scope, &self.key.key)
            .await?;
        match record {
            // An expired record frees the key: the new answer replaces it.
            Some(record) if now_ms().saturating_sub(record.created_ms) < window_ms => {
                if record.fingerprint == self.key.fingerprint {
                    Ok(Some(record.admissions))
                } else {
                    Err(ApiError::KeyReused(format!(
                        "Idempotency-Key {:?} was used for a different request; \
                         use a new key for a new request",
                        self.key.key
                    )))
                }
            }
            _ => Ok(None),
        }
    }
}

/// What identifies the request: its media type, its CloudEvents headers
/// (the binary mode's attributes) and its body.
fn fingerprint(headers: &HeaderMap, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    let mut attributes: Vec<(&str, &[u8])> = headers
        .iter()
        .filter(|(name, _)| name.as_str() == "content-type" || name.as_str().starts_with("ce-"))
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    attributes.sort();
    for (name, value) in attributes {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(value);
        hash.update([0]);
    }
    hash.update(body);
    hex::encode(hash.finalize())
}
