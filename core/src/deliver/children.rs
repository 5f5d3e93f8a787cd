//! The events a handler emitted, made whole: same tenant and priority as
//! the parent unless it says otherwise, one hop further, linked by causation
//! and correlation ids, in the parent's trace.

use crate::event::{Event, now_ms};
use crate::runtime::NewEvent;
use crate::trace_context;

/// Turns what `plugin`'s handler emitted while handling `parent` into
/// events; an error names why the output is invalid (too many hops, a bad
/// extension).
pub fn children_of(
    parent: &Event,
    plugin: &str,
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
        .map(|new| {
            let source = new
                .source
                .unwrap_or_else(|| format!("weir://plugin/{plugin}"));
            let id = uuid::Uuid::now_v7().to_string();
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
