//! Test fixture: records, per ordering key, the sequence numbers of the events it
//! handled, in the order it handled them, so tests can check that nothing ran
//! twice, nothing was lost, and each key's events ran in ingest order.
//!
//! The event's data is `{"n": <number>, "retry_first": <bool>, "trap": <bool>}`.
//! An event with `retry_first` asks to be retried on its first attempt, holding
//! up its key. An event with `trap` panics on every attempt, the way a handler
//! with a bug traps on the data that triggers it.
//! Events with a `partitionkey` append `n` to the state key `order:<key>`;
//! events without one add 1 to `seen:<n>`.

use serde::Deserialize;
use weir_plugin_sdk::{Error, Event, Outcome, handler, state};

/// How long a `retry_first` event asks the host to wait.
const RETRY_AFTER_MS: u32 = 1000;

#[derive(Deserialize)]
struct Data {
    n: u64,
    #[serde(default)]
    retry_first: bool,
    #[serde(default)]
    trap: bool,
}

fn handle(event: Event) -> Result<Outcome, Error> {
    let data: Data = event.json()?;
    if data.trap {
        panic!("test-recorder traps on event {} on purpose", data.n);
    }
    if data.retry_first && event.attempt == 1 {
        return Ok(Outcome::RetryLater(RETRY_AFTER_MS));
    }
    match event.extension("partitionkey") {
        Some(key) => {
            let key = format!("order:{key}");
            let mut order: Vec<u64> = state::get_json(&key)?.unwrap_or_default();
            order.push(data.n);
            state::set_json(&key, &order)?;
        }
        None => {
            let key = format!("seen:{}", data.n);
            let seen: u64 = state::get_json(&key)?.unwrap_or_default();
            state::set_json(&key, &(seen + 1))?;
        }
    }
    Ok(Outcome::Ack)
}

handler!(handle);
