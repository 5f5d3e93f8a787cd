//! Test fixture: tries to pass data from one delivery to the next. Each
//! delivery reads what an earlier one would have left in a static counter and
//! on the heap (both in the instance's linear memory), records what it found
//! in state under `found:<event id>`, then leaves its own tenant and event id
//! behind. With a fresh instance per delivery it always finds nothing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use weir_plugin_sdk::{Error, Event, Outcome, handler, state};

/// Deliveries this instance has handled before the current one.
static EARLIER_DELIVERIES: AtomicU64 = AtomicU64::new(0);
/// The tenant and id of the event this instance handled last, on the heap.
static LAST_EVENT: Mutex<Option<String>> = Mutex::new(None);

fn handle(event: Event) -> Result<Outcome, Error> {
    let earlier = EARLIER_DELIVERIES.fetch_add(1, Ordering::Relaxed);
    let mine = format!("{}/{}", event.tenant, event.id);
    let left = LAST_EVENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .replace(mine);
    state::set_json(
        &format!("found:{}", event.id),
        &json!({"earlier_deliveries": earlier, "left_behind": left}),
    )?;
    Ok(Outcome::Ack)
}

handler!(handle);
