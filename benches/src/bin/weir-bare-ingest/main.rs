//! `weir-bare-ingest`: the ceiling weir's ingest is measured against. An axum
//! server on the same stack (tokio, hyper, axum) that reads each
//! `POST /v1/events` body and answers 202 without parsing, storing or syncing
//! anything. `benches/ingest.sh` drives it and weir with the same client.

use clap::Parser;

/// A bare HTTP endpoint that accepts everything.
#[derive(Parser, Debug)]
#[command(name = "weir-bare-ingest")]
struct Args {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:18182")]
    listen: std::net::SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "weir-bare-ingest only listens on loopback, not {}",
        args.listen
    );
    let app = axum::Router::new()
        .route(
            "/v1/events",
            axum::routing::post(|_body: axum::body::Bytes| async {
                (axum::http::StatusCode::ACCEPTED, "{}")
            }),
        )
        .route("/readyz", axum::routing::get(|| async { "ready" }));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
