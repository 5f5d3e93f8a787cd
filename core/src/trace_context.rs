//! W3C trace context (`traceparent`, `tracestate`) on events, as the
//! CloudEvents distributed tracing extension: a delivery's span joins the
//! trace of the request that brought its event, and an event a delivery
//! emits carries the delivery's. (The HTTP side, reading it from request
//! headers, is the server's.)

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::event::{Event, TRACE_CONTEXT as FIELDS};

/// Trace context fields by name (`traceparent`, `tracestate`).
pub type Fields = HashMap<String, String>;

/// Makes `span` a child of the trace context `event` carries, if any.
pub fn adopt_from_event(span: &tracing::Span, event: &Event) {
    adopt(span, &event_fields(event));
}

/// Makes `span` a child of the trace context in `fields`, if they hold one.
pub fn adopt(span: &tracing::Span, fields: &Fields) {
    if fields.is_empty() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(fields);
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed: nothing to join then.
        let _ = span.set_parent(parent);
    }
}

/// Puts the current span's trace context on `child`, an event a delivery
/// emitted; without an exported trace, the context `parent` carried goes on.
pub fn hand_down(parent: &Event, child: &mut Event) {
    let fields = span_fields(&tracing::Span::current()).unwrap_or_else(|| event_fields(parent));
    put(child, &fields);
}

/// `span`'s trace context, if it is part of an exported trace.
pub fn span_fields(span: &tracing::Span) -> Option<Fields> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut fields = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut fields);
    Some(fields)
}

fn event_fields(event: &Event) -> Fields {
    fields(|field| event.extensions.get(field).map(ToString::to_string))
}

/// The trace context's fields that `value` has.
pub fn fields(value: impl Fn(&str) -> Option<String>) -> Fields {
    FIELDS
        .iter()
        .filter_map(|field| Some((field.to_string(), value(field)?)))
        .collect()
}

/// Sets the trace context `fields` on `event`, unless it carries its own.
pub fn put(event: &mut Event, fields: &Fields) {
    if FIELDS
        .iter()
        .any(|field| event.extensions.contains_key(*field))
    {
        return;
    }
    event.extensions.extend(
        fields
            .iter()
            .map(|(field, value)| (field.clone(), value.as_str().into())),
    );
}
