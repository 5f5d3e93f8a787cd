//! Idempotency keys of ingest requests: what a request sent with an
//! `Idempotency-Key` was answered, kept so a retry gets the same answer. The
//! record is written in the batch that stores the request's events, so a key
//! is recorded if and only if its events are. A second keyspace orders the
//! records by time, so expired ones are removed without reading the rest.
//! A record is stored in a compact binary form (`weir_event::compact`); one
//! an earlier build stored as JSON (it starts with `{`) still reads.

use super::{Queue, QueueError, Staging};
use weir_core::store::{Admission, RequestKey, RequestRecord};
use weir_event::compact::{Malformed, Reader, Writer};

/// The first byte of the compact form; JSON starts with `{`.
const COMPACT_V1: u8 = 1;

/// The stored form of `record`.
fn encode(record: &RequestRecord) -> Vec<u8> {
    let mut out = Writer::with_capacity(64);
    out.u8(COMPACT_V1);
    out.str(&record.fingerprint);
    out.u64(record.created_ms);
    out.u32(record.admissions.len() as u32);
    for admission in &record.admissions {
        out.str(&admission.id);
        out.u8(u8::from(admission.duplicate));
    }
    out.0
}

/// Reads a stored record, in either form.
fn decode(bytes: &[u8]) -> Result<RequestRecord, QueueError> {
    let corrupt = |why: String| QueueError::Corrupt(format!("idempotency key record: {why}"));
    if bytes.first() == Some(&b'{') {
        return serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()));
    }
    let mut input = Reader(bytes);
    let record = read(&mut input).and_then(|record| input.finish().map(|()| record));
    record.map_err(|Malformed(why)| corrupt(why.to_owned()))
}

fn read(input: &mut Reader) -> Result<RequestRecord, Malformed> {
    if input.u8()? != COMPACT_V1 {
        return Err(Malformed("it is in an unknown format"));
    }
    let fingerprint = input.string()?;
    let created_ms = input.u64()?;
    let mut admissions = Vec::new();
    for _ in 0..input.u32()? {
        admissions.push(Admission {
            id: input.string()?,
            duplicate: input.u8()? != 0,
        });
    }
    Ok(RequestRecord {
        fingerprint,
        created_ms,
        admissions,
    })
}

/// Tenant names hold no NUL, so the scope ends unambiguously.
fn storage_key(scope: &str, key: &str) -> Vec<u8> {
    [scope.as_bytes(), &[0], key.as_bytes()].concat()
}

/// The time index's key: when, then which record.
fn time_key(created_ms: u64, storage_key: &[u8]) -> Vec<u8> {
    [&created_ms.to_be_bytes()[..], storage_key].concat()
}

impl Queue {
    /// The record of `key` in `scope`, if one was written.
    pub fn request_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<RequestRecord>, QueueError> {
        let Some(bytes) = self.request_keys.get(storage_key(scope, key))? else {
            return Ok(None);
        };
        decode(&bytes).map(Some)
    }

    /// Removes up to `limit` records written before `cutoff_ms`, oldest
    /// first; returns how many index entries it went through. A record
    /// written again since (its key reused after expiry) is kept.
    pub fn remove_expired_request_keys(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<usize, QueueError> {
        let mut staging = self.stage();
        let mut seen = 0;
        for guard in self
            .request_keys_by_time
            .range(..time_key(cutoff_ms, &[]))
            .take(limit)
        {
            let (index_key, _) = guard.into_inner()?;
            let (when, record_key) = index_key.split_at(8);
            let created_ms = u64::from_be_bytes(when.try_into().unwrap_or_default());
            let current = self.request_keys.get(record_key)?;
            let batch = staging.batch();
            if let Some(bytes) = current
                && decode(&bytes).is_ok_and(|record| record.created_ms == created_ms)
            {
                batch.remove(&self.request_keys, record_key.to_vec());
            }
            batch.remove(&self.request_keys_by_time, index_key.to_vec());
            seen += 1;
        }
        if seen > 0 {
            staging.commit()?;
        }
        Ok(seen)
    }
}

impl Staging<'_> {
    /// Records `record` as the answer to `key`, replacing an expired one.
    pub fn put_request_record(&mut self, key: &RequestKey, record: &RequestRecord) {
        let value = encode(record);
        let queue = self.queue();
        let storage_key = storage_key(&key.scope, &key.key);
        let index_key = time_key(record.created_ms, &storage_key);
        self.batch.insert(&queue.request_keys, storage_key, value);
        self.batch
            .insert(&queue.request_keys_by_time, index_key, []);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Durability;

    fn put(queue: &Queue, key: &str, created_ms: u64) {
        let key = RequestKey {
            scope: "acme".into(),
            key: key.into(),
            fingerprint: "f".into(),
        };
        let record = RequestRecord {
            fingerprint: "f".into(),
            created_ms,
            admissions: Vec::new(),
        };
        let mut staging = queue.stage();
        staging.put_request_record(&key, &record);
        staging.commit().expect("commit");
    }

    #[test]
    fn expired_records_go_and_a_record_written_again_stays() {
        let dir = tempfile::tempdir().expect("temp dir");
        let queue = Queue::open(dir.path(), Durability::Buffered).expect("open");
        put(&queue, "old", 100);
        put(&queue, "reused", 200);
        put(&queue, "reused", 5_000);
        put(&queue, "young", 6_000);

        assert_eq!(
            queue.remove_expired_request_keys(1_000, 10).expect("sweep"),
            2
        );
        let created = |key| {
            queue
                .request_record("acme", key)
                .expect("read")
                .map(|r| r.created_ms)
        };
        assert_eq!(created("old"), None);
        assert_eq!(created("reused"), Some(5_000));
        assert_eq!(created("young"), Some(6_000));
        assert_eq!(
            queue.remove_expired_request_keys(1_000, 10).expect("sweep"),
            0
        );
    }

    #[test]
    fn a_record_reads_back_and_an_earlier_builds_json_still_reads() {
        let record = RequestRecord {
            fingerprint: "sha256:ab".into(),
            created_ms: 1_700_000_000_000,
            admissions: vec![
                Admission {
                    id: "e1".into(),
                    duplicate: false,
                },
                Admission {
                    id: "ë2".into(),
                    duplicate: true,
                },
            ],
        };
        let read = decode(&encode(&record)).expect("decodes");
        assert_eq!(
            serde_json::to_value(&read).expect("json"),
            serde_json::to_value(&record).expect("json")
        );
        let earlier = serde_json::to_vec(&record).expect("json");
        let read = decode(&earlier).expect("an earlier build's record decodes");
        assert_eq!(read.admissions.len(), 2);
        assert_eq!(read.created_ms, 1_700_000_000_000);
    }

    #[test]
    fn a_damaged_record_is_refused_naming_the_problem() {
        let record = RequestRecord {
            fingerprint: "f".into(),
            created_ms: 5,
            admissions: Vec::new(),
        };
        let bytes = encode(&record);
        let error = decode(&bytes[..bytes.len() - 1]).expect_err("a cut record");
        assert!(
            error
                .to_string()
                .contains("idempotency key record: it ends early"),
            "{error}"
        );
        let error = decode(&[7]).expect_err("another format");
        assert!(error.to_string().contains("unknown format"), "{error}");
        let error = decode(b"{\"fingerprint\":").expect_err("cut JSON");
        assert!(
            error.to_string().contains("idempotency key record"),
            "{error}"
        );
    }
}
