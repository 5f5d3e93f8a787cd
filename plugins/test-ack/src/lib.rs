//! Test fixture: acknowledges every event without reading it, the least work a
//! handler can do, so that a benchmark of it measures the runtime around it.

use weir_plugin_sdk::{Event, Outcome, handler};

fn handle(_event: Event) -> Outcome {
    Outcome::Ack
}

handler!(handle);
