//! `Idempotency-Key`s on NATS: the answer to a keyed request is kept in the
//! requests bucket, which every node reads, for `[queue] dedup_window_ms`
//! (the bucket's age limit), so a repeat is answered the same on any node.

use sha2::{Digest, Sha256};

use super::{Nats, NatsError};
use weir_core::store::{Admission, RequestKey, RequestRecord};
use weir_event::now_ms;

/// What a failed step was doing.
const RECORD: &str = "record a request's answer";
const READ: &str = "read a request's answer";

impl Nats {
    /// Records `admissions` as the answer to the request with `key`.
    pub async fn record_request(
        &self,
        key: &RequestKey,
        admissions: &[Admission],
    ) -> Result<(), NatsError> {
        let record = RequestRecord {
            fingerprint: key.fingerprint.clone(),
            created_ms: now_ms(),
            admissions: admissions.to_vec(),
        };
        let value = serde_json::to_vec(&record).map_err(|e| NatsError::request(RECORD, e))?;
        self.requests
            .put(bucket_key(&key.scope, &key.key), value.into())
            .await
            .map_err(|e| NatsError::request(RECORD, e))?;
        Ok(())
    }

    /// The answer recorded for the request with the key `key` in `scope`.
    pub async fn request_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<RequestRecord>, NatsError> {
        let Some(value) = (self.requests.get(bucket_key(scope, key)).await)
            .map_err(|e| NatsError::request(READ, e))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&value)
            .map(Some)
            .map_err(|e| NatsError::request(READ, e))
    }
}

/// The bucket key of `key` in `scope`: a digest, since a key may hold any
/// visible character and bucket keys may not.
fn bucket_key(scope: &str, key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(scope.as_bytes())
        .chain_update([0])
        .chain_update(key.as_bytes())
        .finalize();
    hex::encode(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_belongs_to_its_scope() {
        assert_eq!(bucket_key("acme", "k"), bucket_key("acme", "k"));
        assert_ne!(bucket_key("acme", "k"), bucket_key("beta", "k"));
        assert_ne!(bucket_key("ac", "mek"), bucket_key("acme", "k"));
        assert!(
            bucket_key("acme", "a key/with.dots")
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
    }
}
