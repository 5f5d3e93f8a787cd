//! Test fixture: sends `GET http://<authority><path>` through `wasi:http`, as
//! a handler calling a downstream API would. The event's data is
//! `{"authority": "127.0.0.1:8080", "path": "/hook"}`. A 2xx answer acks; any
//! other status, or a request the host refuses, fails the delivery with the reason.

use serde::Deserialize;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme};
use weir_plugin_sdk::{Error, Event, Outcome, handler};

#[derive(Deserialize)]
struct Target {
    authority: String,
    path: String,
}

fn handle(event: Event) -> Result<Outcome, Error> {
    let target: Target = event.json()?;
    let response = get(&target.authority, &target.path)?;
    match response.status() {
        200..=299 => Ok(Outcome::Ack),
        status => Ok(Outcome::Fail(format!("the downstream answered {status}"))),
    }
}

/// Sends the request and waits for the response head.
fn get(authority: &str, path: &str) -> Result<IncomingResponse, Error> {
    let refused = |what: &str| Error::new(format!("cannot set the request's {what}"));
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&Method::Get)
        .map_err(|()| refused("method"))?;
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| refused("path"))?;
    let body = request.body().map_err(|()| refused("body"))?;
    let pending = outgoing_handler::handle(request, None)
        .map_err(|error| Error::new(format!("request refused: {error:?}")))?;
    OutgoingBody::finish(body, None)
        .map_err(|error| Error::new(format!("cannot finish the request: {error:?}")))?;
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(error))) => Err(Error::new(format!("request failed: {error:?}"))),
        Some(Err(())) | None => Err(Error::new("the response was already taken")),
    }
}

handler!(handle);
