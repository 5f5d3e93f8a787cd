//! The transport of plugins' outbound requests: what
//! `wasmtime_wasi_http::default_send_request` does (TLS with the web PKI
//! roots, HTTP/1.1 through hyper), but to an address the runtime has already
//! resolved and checked (`weir_runtime::Transport`), never to a name.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types::ServerName};
use wasmtime_wasi_http::{Error, WasiBody};

use crate::runtime::{Sent, Target, Timeouts, Transport};

/// HTTP/1.1, over TLS for `https`, to the first checked address that answers.
pub struct Http1Transport;

impl Transport for Http1Transport {
    fn send(
        &self,
        request: http::Request<WasiBody>,
        target: Target,
        addresses: Vec<SocketAddr>,
        timeouts: Timeouts,
    ) -> Pin<Box<dyn Future<Output = Sent> + Send>> {
        Box::pin(async move { send(request, &target, &addresses, timeouts).await })
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Sends `request` to the first of `addresses` that accepts a connection.
async fn send(
    mut request: http::Request<WasiBody>,
    target: &Target,
    addresses: &[SocketAddr],
    timeouts: Timeouts,
) -> Sent {
    let tcp = tokio::time::timeout(timeouts.connect, connect_any(addresses))
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    let stream: Box<dyn Stream> = if target.tls {
        let name = ServerName::try_from(target.bare_host())?.to_owned();
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = tokio::time::timeout(timeouts.connect, tls.connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Tls)?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = tokio::time::timeout(
        timeouts.connect,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    // Scheme and authority go in the Host header, not the request line.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;

    // Drive the connection while waiting for the response head; hand what
    // is left of it to wasmtime, which drives it while the body is read.
    let mut connection = Box::pin(connection);
    let mut ended = false;
    let response = tokio::time::timeout(timeouts.first_byte, async {
        let send = sender.send_request(request);
        tokio::pin!(send);
        tokio::select! {
            response = &mut send => response.map_err(Error::from),
            closed = &mut connection => {
                ended = true;
                closed.map_err(Error::from)?;
                send.await.map_err(Error::from)
            }
        }
    })
    .await
    .map_err(|_| Error::ConnectionReadTimeout)??;
    let io = async move {
        if ended {
            return Ok(());
        }
        connection.await.map_err(Error::from)
    };
    Ok((
        response.map(|body| body.map_err(Error::from).boxed_unsync()),
        Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
    ))
}

/// A connection to the first address that accepts one.
async fn connect_any(addresses: &[SocketAddr]) -> Result<TcpStream, Error> {
    let mut last = Error::DestinationNotFound;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = Error::Connect(error),
        }
    }
    Err(last)
}
