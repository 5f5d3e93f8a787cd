//! Test fixture: sends `GET http://<authority><path>` through `wasi:http`, as
//! a handler calling a downstream API would. The event's data is
//! `{"authority": "127.0.0.1:8080", "path": "/hook"}`, optionally with
//! `"times": N` to send the request N times, and `"read_body": true` to read
//! each response body to its end. A 2xx answer acks; any other status, a
//! request the host refuses or a body it cuts, fails the delivery with the
//! reason.
//!
//! With `{"hoard": {"count": N, "bytes": B}}` instead it creates N header
//! maps of one B-byte header each and keeps every handle, as a guest would
//! that tries to grow the host's memory outside its own limits.

use serde::Deserialize;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme, http_error_code,
};
use wasi::io::streams::StreamError;
use weir_plugin_sdk::{Error, Event, Outcome, handler};

#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    authority: String,
    #[serde(default)]
    path: String,
    #[serde(default = "once")]
    times: u32,
    #[serde(default)]
    read_body: bool,
    hoard: Option<Hoard>,
}

#[derive(Deserialize)]
struct Hoard {
    count: u32,
    bytes: usize,
}

fn once() -> u32 {
    1
}

fn handle(event: Event) -> Result<Outcome, Error> {
    let target: Target = event.json()?;
    if let Some(hoard) = target.hoard {
        return hoard_fields(&hoard);
    }
    for _ in 0..target.times {
        let response = get(&target.authority, &target.path)?;
        let status = response.status();
        if !(200..=299).contains(&status) {
            return Ok(Outcome::Fail(format!("the downstream answered {status}")));
        }
        if target.read_body
            && let Err(reason) = read_to_end(response)
        {
            return Ok(Outcome::Fail(reason));
        }
    }
    Ok(Outcome::Ack)
}

/// Creates `hoard.count` header maps and keeps them all.
fn hoard_fields(hoard: &Hoard) -> Result<Outcome, Error> {
    let entry = [("x-hoard".to_owned(), vec![b'a'; hoard.bytes])];
    let mut kept = Vec::new();
    for n in 0..hoard.count {
        let fields = Fields::from_list(&entry)
            .map_err(|error| Error::new(format!("header map {n} refused: {error:?}")))?;
        kept.push(fields);
    }
    Ok(Outcome::Ack)
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

/// Reads `response`'s body to its end; the error names what the host said.
fn read_to_end(response: IncomingResponse) -> Result<u64, String> {
    let body = response
        .consume()
        .map_err(|()| "the body was already taken".to_owned())?;
    let stream = body
        .stream()
        .map_err(|()| "the body stream was already taken".to_owned())?;
    let mut read = 0u64;
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => read += chunk.len() as u64,
            Err(StreamError::Closed) => return Ok(read),
            Err(StreamError::LastOperationFailed(error)) => {
                let code = http_error_code(&error);
                let detail = error.to_debug_string();
                return Err(format!(
                    "reading the body failed after {read} bytes: {code:?} ({detail})"
                ));
            }
        }
    }
}

handler!(handle);
