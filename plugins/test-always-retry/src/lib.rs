//! Test fixture: every delivery asks to be retried after 50 ms, so the host's
//! retry schedule and dead-lettering after the last attempt can be observed.

use weir_plugin_sdk::{Event, Outcome, handler};

/// How long the host should wait before the next attempt.
const RETRY_AFTER_MS: u32 = 50;

fn handle(_event: Event) -> Outcome {
    Outcome::RetryLater(RETRY_AFTER_MS)
}

handler!(handle);
