//! The HTTP server: axum's router on hyper's HTTP/1 connections, with the
//! header read timeout `axum::serve` leaves off. Without it, a client that
//! sends half a request line and goes quiet holds a connection (and a file
//! descriptor) forever; with it, hyper closes the connection. At
//! `[ingest] max_connections` open connections it stops accepting until one
//! closes: the next clients wait in the kernel's backlog rather than take
//! the descriptors and memory the open ones need.

use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long to wait before accepting again after `accept` failed (out of file
/// descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How often, at most, the log says that the connection limit was reached.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(60);

/// The server's bounds.
pub struct Limits {
    /// How long a connection may take to send a request's headers.
    pub header_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long requests in flight may take to finish once stopping.
    pub grace: Duration,
}

/// Serves `app` on `listener` until `stop` is cancelled, then lets the
/// requests in flight finish, for at most `limits.grace`, and closes idle
/// connections.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, stop: CancellationToken) {
    let mut builder = http1::Builder::new();
    // hyper ignores the header timeout unless it has a timer.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connections = GracefulShutdown::new();
    // The connection tasks, so those still open after the grace can be ended:
    // each holds the router, and with it the handles the commit thread waits on.
    let mut tasks = tokio::task::JoinSet::new();
    let mut warned_full: Option<Instant> = None;
    loop {
        while tasks.try_join_next().is_some() {}
        if tasks.len() >= limits.max_connections {
            if warned_full.is_none_or(|at| at.elapsed() >= FULL_WARNING_EVERY) {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "all connections allowed are open ([ingest] max_connections); \
                     new ones wait until one closes"
                );
                warned_full = Some(Instant::now());
            }
            tokio::select! {
                _ = tasks.join_next() => continue,
                () = stop.cancelled() => break,
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Answers are small and latency-bound: send them at once.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = connections.watch(builder.serve_connection(TokioIo::new(stream), service));
        tasks.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    // A client that never finishes its request must not hold up the stop.
    let grace = limits.grace;
    if tokio::time::timeout(grace, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after {grace:?}; closing them");
    }
    tasks.shutdown().await;
}
