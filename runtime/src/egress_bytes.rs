//! The bytes one delivery's outbound requests carry, request bodies sent and
//! response bodies received together, bounded by
//! [`bounds::HTTP_BODY_BYTES`]. Past it the body in flight ends with the
//! error `wasi:http` has for it (`HTTP-request-body-size` or
//! `HTTP-response-body-size`): a downstream that streams without end, or a
//! guest that uploads without end, holds neither its slot nor the network
//! for the rest of its deadline.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, WasiBody};

use super::context::bounds;

/// Which way a body goes, for the error and the log.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    /// A request body the guest sends.
    Sent,
    /// A response body the guest reads.
    Received,
}

/// The running total of one delivery's body bytes, and whose they are.
#[derive(Clone)]
pub struct Carried {
    /// Bytes so far, shared by every body of the delivery.
    pub bytes: Arc<AtomicU64>,
    /// The plugin, for the log.
    pub plugin: Arc<str>,
}

/// `body`, counted into `carried` and cut off once the total passes the bound.
pub fn count(body: WasiBody, carried: Carried, direction: Direction) -> WasiBody {
    Counted {
        inner: body,
        carried,
        direction,
    }
    .boxed_unsync()
}

struct Counted {
    inner: WasiBody,
    carried: Carried,
    direction: Direction,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            let size = data.len() as u64;
            let total = self.carried.bytes.fetch_add(size, Ordering::Relaxed) + size;
            if total > bounds::HTTP_BODY_BYTES {
                tracing::warn!(plugin = %self.carried.plugin, direction = ?self.direction,
                    limit = bounds::HTTP_BODY_BYTES,
                    "outbound HTTP body cut: the delivery's requests carried more than the most one delivery may (bounds::HTTP_BODY_BYTES)");
                let limit = Some(bounds::HTTP_BODY_BYTES);
                return Poll::Ready(Some(Err(match self.direction {
                    Direction::Sent => Error::HttpRequestBodySize(limit),
                    Direction::Received => Error::HttpResponseBodySize(limit),
                })));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
