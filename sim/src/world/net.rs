//! gRPC over turmoil's simulated TCP: a client channel whose connector
//! dials through turmoil, and a server accept loop over a turmoil listener.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Uri};

/// A channel to `host:port` inside the simulation. Lazy: it dials on first
/// use and again after a failure. HTTP/2 keepalive is disco's own
/// (`EtcdRegistry::connect`: a ping every 10 s, 5 s to answer), so a
/// silent partition is noticed as late as in production.
pub fn channel(host: &'static str, port: u16) -> Channel {
    Endpoint::from_shared(format!("http://{host}:{port}"))
        .expect("valid uri")
        .connect_timeout(Duration::from_secs(1))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .connect_with_connector_lazy(tower::service_fn(move |_: Uri| async move {
            let s = turmoil::net::TcpStream::connect((host, port)).await?;
            Ok::<_, std::io::Error>(TokioIo::new(s))
        }))
}

/// A turmoil connection as tonic's server wants it.
#[derive(Debug)]
pub struct Conn(pub turmoil::net::TcpStream);

/// Who is at the other end of a connection, in a request's extensions, so
/// that the store can answer each client as its faults say.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<std::net::IpAddr>);

impl Connected for Conn {
    type ConnectInfo = Peer;
    fn connect_info(&self) -> Self::ConnectInfo {
        Peer(self.0.peer_addr().ok().map(|a| a.ip()))
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Accepted connections on `port` of this host, for `serve_with_incoming`.
pub async fn incoming(
    port: u16,
) -> std::io::Result<impl futures_util::Stream<Item = std::io::Result<Conn>>> {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?;
    Ok(futures_util::stream::unfold(listener, |l| async move {
        Some((l.accept().await.map(|(s, _)| Conn(s)), l))
    }))
}
