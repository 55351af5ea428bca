//! The HTTP boundary of the Consul backend: one request in, status, the
//! `X-Consul-Index` header and the body out.
//!
//! In production this is reqwest ([`Reqwest`]); the simulator supplies a
//! client over its own simulated TCP, so the unchanged Consul backend runs
//! inside turmoil as the etcd backend does through tonic's channel.

use std::future::Future;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};

use super::Credentials;
use crate::RegistryError;

/// One request as the Consul backend sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// Base address plus path and query: `http://host:8500/v1/kv/a?recurse=`.
    pub url: String,
    /// A JSON body, if any.
    pub body: Option<Vec<u8>>,
    /// The deadline for the whole exchange.
    pub timeout: Duration,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// `X-Consul-Index`, 0 if absent.
    pub index: u64,
    /// The body as text.
    pub body: String,
}

/// Sends HTTP requests. Errors are transport failures (refused, timed out,
/// reset), as one line with their causes.
pub trait HttpClient: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// Sends `req` and reads the whole answer.
    fn send(&self, req: HttpRequest) -> impl Future<Output = Result<HttpResponse, String>> + Send;
}

/// A reqwest client builder for plain HTTP that works in any process of
/// this workspace and in a `FROM scratch` container: reqwest's TLS is
/// built without a crypto provider or roots of its own (it would panic
/// with no provider installed, and fail with no system roots), so every
/// client gets a TLS configuration on the `ring` provider that etcd's
/// tonic already links: this one trusts no server;
/// [`Reqwest::with_credentials`] replaces it with the user's CA.
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(super::tls::plain_config())
}

/// [`HttpClient`] over reqwest.
#[derive(Debug, Clone)]
pub struct Reqwest(reqwest::Client);

impl Reqwest {
    /// A client that gives up connecting after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Result<Self, String> {
        Self::with_credentials(connect_timeout, &Credentials::none()).map_err(|e| e.to_string())
    }

    /// A client showing `creds`: HTTPS trusting only their CA, with their
    /// client certificate, and their token on every request
    /// (`X-Consul-Token`, marked sensitive so it is never logged).
    pub fn with_credentials(
        connect_timeout: Duration,
        creds: &Credentials,
    ) -> Result<Self, RegistryError> {
        let mut b = builder().connect_timeout(connect_timeout);
        if let Some(tls) = super::tls::client_config(creds)? {
            b = b.tls_backend_preconfigured(tls);
        }
        if let Some(token) = &creds.token {
            let mut v = HeaderValue::from_str(token).map_err(|_| RegistryError::Config {
                what: "token",
                reason: "holds characters an HTTP header cannot carry".into(),
            })?;
            v.set_sensitive(true);
            let mut h = HeaderMap::new();
            h.insert("X-Consul-Token", v);
            b = b.default_headers(h);
        }
        b.build().map(Reqwest).map_err(|e| RegistryError::Config {
            what: "consul client",
            reason: chain(&e),
        })
    }

    /// The reqwest client, for the harness's own calls with the same
    /// credentials.
    pub fn client(&self) -> &reqwest::Client {
        &self.0
    }
}

impl HttpClient for Reqwest {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, String> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| chain(&e))?;
        let mut builder = self.0.request(method, &req.url).timeout(req.timeout);
        if let Some(body) = req.body {
            builder = builder
                .header("Content-Type", "application/json")
                .body(body);
        }
        let resp = builder.send().await.map_err(|e| chain(&e.without_url()))?;
        let status = resp.status().as_u16();
        let index = consul_index(resp.headers());
        let body = resp.text().await.map_err(|e| chain(&e.without_url()))?;
        Ok(HttpResponse {
            status,
            index,
            body,
        })
    }
}

/// The `X-Consul-Index` header of an answer, 0 if absent or malformed.
pub fn consul_index(headers: &reqwest::header::HeaderMap) -> u64 {
    headers
        .get("X-Consul-Index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The whole cause chain: reqwest hides "Connection refused" in `source()`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = c.source();
    }
    out
}
