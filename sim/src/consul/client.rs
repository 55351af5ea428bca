//! disco's Consul backend speaking HTTP/1 over turmoil's simulated TCP,
//! keeping idle connections for the next request as the real client's pool
//! does (a connection per request would cost every request a handshake
//! round trip a real client does not pay), the whole exchange under the
//! request's deadline on the simulated clock.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use disco::backend::http::{consul_index, HttpClient, HttpRequest, HttpResponse};

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// [`HttpClient`] over turmoil; clones share one pool of idle connections.
#[derive(Clone, Default)]
pub struct TurmoilHttp {
    idle: Arc<Mutex<Vec<(String, Sender)>>>,
}

impl std::fmt::Debug for TurmoilHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().map(|i| i.len()).unwrap_or(0);
        f.debug_struct("TurmoilHttp").field("idle", &idle).finish()
    }
}

impl TurmoilHttp {
    /// An idle connection to `authority` that can take a request now.
    fn take(&self, authority: &str) -> Option<Sender> {
        let mut idle = self.idle.lock().expect("pool lock");
        idle.retain(|(_, s)| !s.is_closed());
        let i = idle
            .iter()
            .position(|(a, s)| a == authority && s.is_ready())?;
        Some(idle.swap_remove(i).1)
    }

    fn keep(&self, authority: &str, sender: Sender) {
        let mut idle = self.idle.lock().expect("pool lock");
        idle.push((authority.to_string(), sender));
    }
}

async fn exchange(pool: &TurmoilHttp, req: HttpRequest) -> Result<HttpResponse, String> {
    let rest = req
        .url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{}: only http:// is simulated", req.url))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("{}: no host:port", req.url))?;
    let mut send = match pool.take(authority) {
        Some(send) => send,
        None => {
            let stream = turmoil::net::TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| format!("connect {authority}: {e}"))?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake {authority}: {e}"))?;
            // Ends when the connection closes or its sender is dropped.
            tokio::spawn(conn);
            send
        }
    };
    let body = Full::new(Bytes::from(req.body.unwrap_or_default()));
    let request = hyper::Request::builder()
        .method(req.method)
        .uri(if path.is_empty() { "/" } else { path })
        .header("Host", authority)
        .header("Content-Type", "application/json")
        .body(body)
        .map_err(|e| e.to_string())?;
    let resp = send
        .send_request(request)
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    let status = resp.status().as_u16();
    let index = consul_index(resp.headers());
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{authority}: {e}"))?
        .to_bytes();
    pool.keep(authority, send);
    Ok(HttpResponse {
        status,
        index,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

impl HttpClient for TurmoilHttp {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, String> {
        let timeout = req.timeout;
        let url = req.url.clone();
        disco::timer::timeout(timeout, exchange(self, req))
            .await
            .unwrap_or_else(|_| Err(format!("{url}: timed out after {timeout:?}")))
    }
}
