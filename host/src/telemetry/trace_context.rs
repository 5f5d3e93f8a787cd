//! W3C trace context (`traceparent`, `tracestate`) in and out of weir: from
//! an ingest request's headers, and on events as the CloudEvents distributed
//! tracing extension, so a delivery's span joins the trace of the request
//! that brought its event, and an emitted event carries the delivery's.

use std::collections::HashMap;

use axum::http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::event::{Event, TRACE_CONTEXT as FIELDS};

/// Makes `span` a child of the trace context in `headers`, if they carry one.
pub fn adopt_from_headers(span: &tracing::Span, headers: &HeaderMap) {
    adopt(span, &header_fields(headers));
}

/// Makes `span` a child of the trace context `event` carries, if any.
pub fn adopt_from_event(span: &tracing::Span, event: &Event) {
    adopt(span, &event_fields(event));
}

fn adopt(span: &tracing::Span, fields: &HashMap<String, String>) {
    if fields.is_empty() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(fields);
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed: nothing to join then.
        let _ = span.set_parent(parent);
    }
}

/// Puts `span`'s trace context on each ingested event that carries none, so
/// its deliveries join the trace; without an exported trace, the context the
/// request's `headers` carried goes on the events as it is. Worked out once
/// per request, not per event.
pub fn stamp_ingested(span: &tracing::Span, headers: &HeaderMap, events: &mut [Event]) {
    let fields = span_fields(span).unwrap_or_else(|| header_fields(headers));
    if fields.is_empty() {
        return;
    }
    for event in events {
        put(event, &fields);
    }
}

/// Puts the current span's trace context on `child`, an event a delivery
/// emitted; without an exported trace, the context `parent` carried goes on.
pub fn hand_down(parent: &Event, child: &mut Event) {
    let fields = span_fields(&tracing::Span::current()).unwrap_or_else(|| event_fields(parent));
    put(child, &fields);
}

/// `span`'s trace context, if it is part of an exported trace.
fn span_fields(span: &tracing::Span) -> Option<HashMap<String, String>> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut fields = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut fields);
    Some(fields)
}

fn header_fields(headers: &HeaderMap) -> HashMap<String, String> {
    fields(|field| headers.get(field)?.to_str().ok().map(str::to_owned))
}

fn event_fields(event: &Event) -> HashMap<String, String> {
    fields(|field| event.extensions.get(field).map(ToString::to_string))
}

/// The trace context's fields that `value` has.
fn fields(value: impl Fn(&str) -> Option<String>) -> HashMap<String, String> {
    FIELDS
        .iter()
        .filter_map(|field| Some((field.to_string(), value(field)?)))
        .collect()
}

/// Sets the trace context `fields` on `event`, unless it carries its own.
fn put(event: &mut Event, fields: &HashMap<String, String>) {
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
