//! Test fixture: waits `{"sleep_ms": N}` milliseconds before acking, the way a
//! handler waits on a slow downstream. The wait is a host call (a WASI clock),
//! so it burns no fuel and the instance yields to other work meanwhile.

use serde::Deserialize;
use weir_plugin_sdk::{Error, Event, Outcome, handler};

#[derive(Deserialize)]
struct Data {
    sleep_ms: u64,
}

fn handle(event: Event) -> Result<Outcome, Error> {
    let data: Data = event.json()?;
    std::thread::sleep(std::time::Duration::from_millis(data.sleep_ms));
    Ok(Outcome::Ack)
}

handler!(handle);
