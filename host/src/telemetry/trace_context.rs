//! W3C trace context (`traceparent`, `tracestate`) from an ingest request's
//! headers: the request's span joins the client's trace, and its events carry
//! it on (`weir_core::trace_context`, the event side).

use axum::http::HeaderMap;
use weir_core::trace_context::{Fields, adopt, fields, put, span_fields};

use crate::event::Event;

/// Makes `span` a child of the trace context in `headers`, if they carry one.
pub fn adopt_from_headers(span: &tracing::Span, headers: &HeaderMap) {
    adopt(span, &header_fields(headers));
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

fn header_fields(headers: &HeaderMap) -> Fields {
    fields(|field| headers.get(field)?.to_str().ok().map(str::to_owned))
}
