//! disco's Consul backend speaking HTTP/1 over turmoil's simulated TCP: a
//! fresh connection per request (hyper's client handshake), the whole
//! exchange under the request's deadline on the simulated clock.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use disco::backend::http::{consul_index, HttpClient, HttpRequest, HttpResponse};

/// [`HttpClient`] over turmoil.
#[derive(Debug, Clone, Copy, Default)]
pub struct TurmoilHttp;

async fn exchange(req: HttpRequest) -> Result<HttpResponse, String> {
    let rest = req
        .url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{}: only http:// is simulated", req.url))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("{}: no host:port", req.url))?;
    let stream = turmoil::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake {authority}: {e}"))?;
    let conn = tokio::spawn(conn);
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
    conn.abort();
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
        disco::timer::timeout(timeout, exchange(req))
            .await
            .unwrap_or_else(|_| Err(format!("{url}: timed out after {timeout:?}")))
    }
}
