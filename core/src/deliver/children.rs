//! The events a handler emitted, made whole: same tenant and priority as
//! the parent unless it says otherwise, one hop further, linked by causation
//! and correlation ids, in the parent's trace, each with an id derived from
//! where it came from.

use sha2::{Digest, Sha256};

use crate::event::{Event, now_ms};
use crate::runtime::NewEvent;
use crate::trace_context;

/// Turns what `plugin`'s handler emitted while handling `parent` (in replay
/// generation `generation`) into events; an error names why the output is
/// invalid (too many hops, a bad extension).
pub fn children_of(
    parent: &Event,
    plugin: &str,
    generation: u32,
    emitted: Vec<NewEvent>,
    max_hops: u32,
) -> Result<Vec<Event>, String> {
    if emitted.is_empty() {
        return Ok(Vec::new());
    }
    let hops = parent.hops + 1;
    if hops > max_hops {
        return Err(format!(
            "hop limit {max_hops} exceeded: this event is {} emits deep (an emit loop?)",
            parent.hops
        ));
    }
    let correlation = parent
        .extensions
        .get("correlationid")
        .map_or_else(|| parent.id.clone(), ToString::to_string);
    emitted
        .into_iter()
        .enumerate()
        .map(|(index, new)| {
            let source = new
                .source
                .unwrap_or_else(|| format!("weir://plugin/{plugin}"));
            let id = child_id(parent, plugin, generation, index);
            let mut child = Event::new(id, source, new.type_, parent.tenant.clone());
            child.subject = new.subject;
            child.datacontenttype = new.datacontenttype;
            child.data = new.data;
            child.priority = parent.priority;
            child.hops = hops;
            child.ingested_at_ms = now_ms();
            for (name, value) in new.extensions {
                child.set_extension(&name, value.into())?;
            }
            child
                .extensions
                .insert("causationid".to_owned(), parent.id.as_str().into());
            child
                .extensions
                .insert("correlationid".to_owned(), correlation.as_str().into());
            trace_context::hand_down(parent, &mut child);
            Ok(child)
        })
        .collect()
}

/// The id of the `index`-th event `plugin` emitted while handling `parent`
/// in replay generation `generation`: derived from those, not drawn, so an
/// attempt run again after its commit was lost emits the same ids, and what
/// they are sent on to (an `Idempotency-Key`, a `Nats-Msg-Id`) stays the
/// same; a replay's re-run emits new ones. A version 8 UUID of the first
/// 16 bytes of a SHA-256 over the four, each field ended by a 0 byte.
fn child_id(parent: &Event, plugin: &str, generation: u32, index: usize) -> String {
    let digest = Sha256::new()
        .chain_update(&parent.tenant)
        .chain_update([0])
        .chain_update(&parent.source)
        .chain_update([0])
        .chain_update(&parent.id)
        .chain_update([0])
        .chain_update(plugin)
        .chain_update([0])
        .chain_update(generation.to_be_bytes())
        .chain_update((index as u64).to_be_bytes())
        .finalize();
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}
