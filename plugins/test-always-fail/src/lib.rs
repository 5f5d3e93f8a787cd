//! Test fixture: every delivery fails at once, so the event goes straight to
//! the dead letters with a known reason.

use weir_plugin_sdk::{Event, Outcome, handler};

fn handle(_event: Event) -> Outcome {
    Outcome::Fail("rejected by test-always-fail".to_owned())
}

handler!(handle);
