//! Test fixture: a throttling downstream. The first two attempts of every
//! delivery ask to be retried after 50 ms; the third acks. The benchmark of a
//! plugin that slows weir down without stopping it (`benches/retry.sh`).

use weir_plugin_sdk::{Event, Outcome, handler};

/// How long the host should wait before the next attempt.
const RETRY_AFTER_MS: u32 = 50;
/// The attempt that succeeds (the event's `attempt` is 1 on the first).
const ACKED_ON_ATTEMPT: u32 = 3;

fn handle(event: Event) -> Outcome {
    if event.attempt < ACKED_ON_ATTEMPT {
        Outcome::RetryLater(RETRY_AFTER_MS)
    } else {
        Outcome::Ack
    }
}

handler!(handle);
