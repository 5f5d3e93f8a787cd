//! How the `deliveries` keyspace stores a delivery record: a compact binary
//! form, read and written on every lease and ending, where JSON cost an
//! encode or a parse each time and spelled out every field name. The plugin
//! is left out (the key names it). A record an earlier build stored as JSON
//! (it starts with `{`) still reads.

use weir_event::compact::{Malformed, Reader, Writer};

use crate::queue::{Attempt, DeliveryRecord, DeliveryResult, DeliveryState, QueueError};

/// The first byte of the binary form; JSON starts with `{`.
const BINARY_V1: u8 = 1;

/// The stored form of `record`.
pub fn encode(record: &DeliveryRecord) -> Vec<u8> {
    let mut out = Writer::with_capacity(32);
    out.u8(BINARY_V1);
    out.u8(state_code(record.state));
    out.u32(record.attempts);
    out.u32(record.generation);
    out.u32(record.replays);
    out.option(record.next_attempt_at_ms.as_ref(), |out, due| out.u64(*due));
    out.u32(record.history.len() as u32);
    for attempt in &record.history {
        out.u64(attempt.started_at_ms);
        out.u64(attempt.duration_ms);
        out.str(&attempt.outcome);
        out.option(attempt.error.as_deref(), Writer::str);
        out.u64(attempt.fuel_consumed);
        out.option(attempt.version.as_deref(), Writer::str);
    }
    out.option(record.result.as_ref(), |out, result| {
        out.str(&result.outcome);
        out.u32(result.emitted.len() as u32);
        for id in &result.emitted {
            out.str(id);
        }
        out.u32(result.state_writes);
        out.u64(result.committed_at_ms);
    });
    out.option(record.error.as_deref(), Writer::str);
    out.0
}

/// Reads the record of `plugin`'s delivery stored as `bytes`.
pub fn decode(plugin: &str, bytes: &[u8]) -> Result<DeliveryRecord, QueueError> {
    if bytes.first() == Some(&b'{') {
        return Ok(serde_json::from_slice(bytes)?);
    }
    let mut input = Reader(bytes);
    let record = read(plugin, &mut input).and_then(|record| input.finish().map(|()| record));
    record.map_err(|Malformed(why)| {
        QueueError::Corrupt(format!("delivery record of {plugin}: {why}"))
    })
}

fn read(plugin: &str, input: &mut Reader) -> Result<DeliveryRecord, Malformed> {
    if input.u8()? != BINARY_V1 {
        return Err(Malformed("it is in an unknown format"));
    }
    let state = state_of(input.u8()?).ok_or(Malformed("it holds an unknown state"))?;
    let attempts = input.u32()?;
    let generation = input.u32()?;
    let replays = input.u32()?;
    let next_attempt_at_ms = input.option(Reader::u64)?;
    let mut history = Vec::new();
    for _ in 0..input.u32()? {
        history.push(Attempt {
            started_at_ms: input.u64()?,
            duration_ms: input.u64()?,
            outcome: input.string()?,
            error: input.option(Reader::string)?,
            fuel_consumed: input.u64()?,
            version: input.option(Reader::string)?,
        });
    }
    let result = input.option(|input| {
        let outcome = input.string()?;
        let mut emitted = Vec::new();
        for _ in 0..input.u32()? {
            emitted.push(input.string()?);
        }
        Ok(DeliveryResult {
            outcome,
            emitted,
            state_writes: input.u32()?,
            committed_at_ms: input.u64()?,
        })
    })?;
    let error = input.option(Reader::string)?;
    Ok(DeliveryRecord {
        plugin: plugin.to_owned(),
        state,
        attempts,
        next_attempt_at_ms,
        generation,
        replays,
        history,
        result,
        error,
    })
}

/// Each state's byte: stored, so never renumbered (a new state takes the
/// next one).
fn state_code(state: DeliveryState) -> u8 {
    match state {
        DeliveryState::Ready => 0,
        DeliveryState::Waiting => 1,
        DeliveryState::Leased => 2,
        DeliveryState::Held => 3,
        DeliveryState::Scheduled => 4,
        DeliveryState::Done => 5,
        DeliveryState::Dead => 6,
        DeliveryState::Discarded => 7,
    }
}

/// The state stored as `code` by [`state_code`].
fn state_of(code: u8) -> Option<DeliveryState> {
    Some(match code {
        0 => DeliveryState::Ready,
        1 => DeliveryState::Waiting,
        2 => DeliveryState::Leased,
        3 => DeliveryState::Held,
        4 => DeliveryState::Scheduled,
        5 => DeliveryState::Done,
        6 => DeliveryState::Dead,
        7 => DeliveryState::Discarded,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_record() -> DeliveryRecord {
        DeliveryRecord {
            plugin: "pricing".into(),
            state: DeliveryState::Done,
            attempts: 3,
            next_attempt_at_ms: Some(1_700_000_000_123),
            generation: 2,
            replays: 1,
            history: vec![
                Attempt {
                    started_at_ms: 1_700_000_000_000,
                    duration_ms: 12,
                    outcome: "out_of_fuel".into(),
                    error: Some("fuel ran out".into()),
                    fuel_consumed: 1_000_000,
                    version: Some("sha256:ab".into()),
                },
                Attempt {
                    outcome: "ack".into(),
                    ..Attempt::default()
                },
            ],
            result: Some(DeliveryResult {
                outcome: "emit".into(),
                emitted: vec!["child-1".into(), "child-2".into()],
                state_writes: 4,
                committed_at_ms: 1_700_000_000_200,
            }),
            error: Some("ünïcode".into()),
        }
    }

    #[test]
    fn every_field_and_state_reads_back() {
        let mut record = full_record();
        assert_eq!(
            decode("pricing", &encode(&record)).expect("decodes"),
            record
        );
        for state in [
            DeliveryState::Ready,
            DeliveryState::Waiting,
            DeliveryState::Leased,
            DeliveryState::Held,
            DeliveryState::Scheduled,
            DeliveryState::Done,
            DeliveryState::Dead,
            DeliveryState::Discarded,
        ] {
            record.state = state;
            assert_eq!(
                decode("pricing", &encode(&record)).expect("decodes"),
                record
            );
        }
        let ready = DeliveryRecord::ready("pricing");
        let bytes = encode(&ready);
        assert_eq!(decode("pricing", &bytes).expect("decodes"), ready);
        assert!(bytes.len() < 24, "a ready record is {} bytes", bytes.len());
    }

    /// Records an earlier build stored are JSON, and still read.
    #[test]
    fn a_json_record_of_an_earlier_build_reads() {
        let stored =
            br#"{"plugin":"pricing","state":"dead","attempts":2,"history":[],"error":"boom"}"#;
        let record = decode("pricing", stored).expect("decodes");
        assert_eq!(record.state, DeliveryState::Dead);
        assert_eq!(record.attempts, 2);
        assert_eq!(record.error.as_deref(), Some("boom"));
    }

    #[test]
    fn a_damaged_json_record_is_refused() {
        let error = decode("pricing", br#"{"plugin":"pricing","sta"#).expect_err("cut JSON");
        assert!(matches!(error, QueueError::Corrupt(_)), "{error}");
    }

    #[test]
    fn a_damaged_record_is_refused_naming_the_problem() {
        let bytes = encode(&full_record());
        for cut in [1, 5, bytes.len() - 1] {
            let error = decode("pricing", &bytes[..cut]).expect_err("a cut record");
            assert!(
                error
                    .to_string()
                    .contains("delivery record of pricing: it ends"),
                "{error}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let error = decode("pricing", &longer).expect_err("a longer record");
        assert!(error.to_string().contains("past its end"), "{error}");
        let error = decode("pricing", &[9]).expect_err("another format");
        assert!(error.to_string().contains("unknown format"), "{error}");
        let mut bad_state = bytes;
        bad_state[1] = 200;
        let error = decode("pricing", &bad_state).expect_err("a bad state");
        assert!(error.to_string().contains("unknown state"), "{error}");
    }
}
