//! One of the load generator's connections: HTTP/1.1 to weir (or to the bare
//! handler), or RESP to Redis. Every connection is a task on one client
//! thread, so the client takes as little of the shared cores as it can and
//! the servers are measured rather than the client's thread switches.

use std::ops::Range;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::redis_stream::RedisStream;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What became of one request.
pub enum Answer {
    /// 202 (or Redis's entry ids): the events are stored.
    Accepted,
    /// Any other status; `retry_after` as the server gave it, in seconds.
    Refused { retry_after: Option<u64> },
    /// No answer: the connection failed or timed out.
    Failed,
}

/// A load connection.
pub enum Connection {
    /// To one or more weir nodes: requests alternate between them.
    Http(Vec<Node>),
    /// To Redis.
    Redis(RedisStream),
}

/// One HTTP server, with the connection to it once made.
pub struct Node {
    address: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// A connection to `urls` (`http://HOST:PORT`), or to the Redis of a
    /// single `redis://HOST:PORT`. HTTP connects at the first request.
    pub async fn open(urls: &[String]) -> anyhow::Result<Connection> {
        if let Some(address) = urls[0].strip_prefix("redis://") {
            return Ok(Connection::Redis(RedisStream::connect(address).await?));
        }
        let nodes = urls
            .iter()
            .map(|url| {
                let address = url
                    .strip_prefix("http://")
                    .with_context(|| format!("{url} is not an http:// URL"))?
                    .trim_end_matches('/');
                let address = if address.contains(':') {
                    address.to_owned()
                } else {
                    format!("{address}:80")
                };
                Ok(Node {
                    address,
                    sender: None,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Connection::Http(nodes))
    }

    /// Sends request number `request`: the events numbered `events` of run
    /// `run_id`, as one JSON body (an event or an array) or as one `XADD` each.
    pub async fn send(&mut self, request: usize, events: Range<usize>, run_id: u128) -> Answer {
        match self {
            Connection::Http(nodes) => {
                let count = nodes.len();
                let node = &mut nodes[request % count];
                let body = Bytes::from(crate::body(run_id, events));
                match tokio::time::timeout(REQUEST_TIMEOUT, node.post(body)).await {
                    Ok(Ok(answer)) => answer,
                    Ok(Err(_)) | Err(_) => {
                        // Connect again at the next request.
                        node.sender = None;
                        Answer::Failed
                    }
                }
            }
            Connection::Redis(redis) => {
                let events: Vec<String> = events
                    .map(|n| crate::event(run_id, n).to_string())
                    .collect();
                match tokio::time::timeout(REQUEST_TIMEOUT, redis.append(&events)).await {
                    Ok(Ok(())) => Answer::Accepted,
                    Ok(Err(_)) | Err(_) => Answer::Failed,
                }
            }
        }
    }
}

impl Node {
    /// POSTs `body` to `/v1/events`, connecting first if need be.
    async fn post(&mut self, body: Bytes) -> anyhow::Result<Answer> {
        let sender = match &mut self.sender {
            Some(sender) => sender,
            None => self.sender.insert(connect(&self.address).await?),
        };
        sender.ready().await?;
        let request = hyper::Request::post("/v1/events")
            .header(HOST, &self.address)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok()?.parse().ok());
        // Read to the end, so the connection is free for the next request.
        response.into_body().collect().await?;
        Ok(match status.as_u16() {
            202 => Answer::Accepted,
            _ => Answer::Refused { retry_after },
        })
    }
}

/// An HTTP/1.1 connection to `address`, driven by a task of its own.
async fn connect(address: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot reach {address}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}
