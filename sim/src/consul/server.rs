//! The Consul model behind the slice of Consul's HTTP API that disco's
//! Consul backend uses: sessions (create, renew, destroy, info), KV (get,
//! recursive list, blocking query, delete with CAS) and `/v1/txn`.
//!
//! Served over any byte stream (turmoil's TCP in the simulator, loopback
//! TCP in the differential tests) with hyper's HTTP/1 server. Time is the
//! simulated clock under turmoil, else time since the store started.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;

use super::model::{Model, Pair, TxnOp};
use crate::chaos::{Chaos, Fate};
use crate::clock::Clock;

/// How often expired sessions are invalidated.
pub const SWEEP: Duration = Duration::from_millis(250);
/// Consul's default and maximum blocking-query wait.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);
const MAX_WAIT: Duration = Duration::from_secs(600);

/// One model store, shared by every connection.
#[derive(Debug, Clone)]
pub struct Store {
    model: Arc<Mutex<Model>>,
    clock: Clock,
    changed: watch::Sender<u64>,
    chaos: Chaos,
}

impl Default for Store {
    fn default() -> Self {
        Store::shared(Arc::default(), Chaos::default())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KvJson {
    lock_index: u64,
    key: String,
    flags: u64,
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    create_index: u64,
    modify_index: u64,
}

fn kv_json(key: &str, p: &Pair, with_value: bool) -> KvJson {
    KvJson {
        lock_index: p.lock_index,
        key: key.to_string(),
        flags: 0,
        value: (with_value && !p.value.is_empty())
            .then(|| base64::engine::general_purpose::STANDARD.encode(&p.value)),
        session: p.session.clone(),
        create_index: p.create_index,
        modify_index: p.modify_index,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SessionRequest {
    #[serde(rename = "TTL")]
    ttl: Option<String>,
    lock_delay: Option<String>,
}

#[derive(Deserialize)]
struct TxnItem {
    #[serde(rename = "KV")]
    kv: Option<TxnKv>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TxnKv {
    verb: String,
    key: String,
    value: Option<String>,
    session: Option<String>,
    index: Option<u64>,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, index: Option<u64>, body: String) -> Reply {
    let mut b = Response::builder().status(status);
    if let Some(i) = index {
        b = b.header("X-Consul-Index", i.to_string());
    }
    b.header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serializable")
}

/// Consul's duration strings as the backend sends them: `30s`, `10s`, `500ms`.
fn duration(s: &str) -> Option<Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    if let Some(m) = s.strip_suffix('m') {
        return m.parse::<u64>().ok().map(|m| Duration::from_secs(m * 60));
    }
    s.strip_suffix('s')?.parse().ok().map(Duration::from_secs)
}

impl Store {
    /// A store over `model`, which outlives it: a registry host that is
    /// crashed and restarted keeps its data, like Consul's raft log.
    pub fn shared(model: Arc<Mutex<Model>>, chaos: Chaos) -> Store {
        let (changed, _) = watch::channel(0);
        Store {
            model,
            clock: Clock::start(chaos.clone()),
            changed,
            chaos,
        }
    }

    /// Runs `f` on the model after invalidating due sessions, and wakes the
    /// blocking queries if the index moved.
    fn with<T>(&self, f: impl FnOnce(&mut Model, Duration) -> T) -> T {
        let now = self.clock.now();
        let mut m = self.model.lock().expect("model lock");
        let before = m.index();
        m.expire(now);
        let out = f(&mut m, now);
        let after = m.index();
        drop(m);
        if after != before {
            self.changed.send_replace(after);
        }
        out
    }

    /// This server has just become the leader (started, or restarted with
    /// the model's data): every lease gets its full TTL again.
    pub fn promote(&self) {
        let now = self.clock.now();
        self.model.lock().expect("model lock").promote(now);
    }

    /// Invalidates expired sessions every [`SWEEP`]; run it as a task.
    pub async fn sweep(self) {
        loop {
            disco::timer::sleep(SWEEP).await;
            self.with(|_, _| ());
        }
    }

    /// Serves one connection from `peer` until the peer closes it.
    pub async fn serve<IO>(self, io: IO, peer: Option<IpAddr>)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let svc = hyper::service::service_fn(move |req| {
            let store = self.clone();
            async move {
                let mut resp = store.handle(req).await;
                if store.chaos.index_back() && resp.headers().contains_key("X-Consul-Index") {
                    // A snapshot restore took the index back.
                    resp.headers_mut().insert(
                        "X-Consul-Index",
                        hyper::header::HeaderValue::from_static("1"),
                    );
                }
                match store.chaos.fate(peer) {
                    Fate::Deliver => {}
                    Fate::Delay(d) => disco::timer::sleep(d).await,
                    Fate::Lose => std::future::pending::<()>().await,
                }
                Ok::<_, Infallible>(resp)
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), svc)
            .await;
    }

    async fn handle(&self, req: Request<Incoming>) -> Reply {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query: Vec<(String, String)> = req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.to_string(), String::new()),
            })
            .collect();
        let q = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return reply(StatusCode::BAD_REQUEST, None, e.to_string()),
        };
        if let Some(key) = path.strip_prefix("/v1/kv/") {
            return match method {
                Method::GET => {
                    let index = q("index").and_then(|i| i.parse().ok());
                    let wait = q("wait").and_then(duration).unwrap_or(DEFAULT_WAIT);
                    self.kv_get(key, q("recurse").is_some(), index, wait.min(MAX_WAIT))
                        .await
                }
                Method::DELETE => {
                    let cas = q("cas").and_then(|c| c.parse().ok());
                    let done = self.with(|m, _| m.delete(key, cas));
                    reply(StatusCode::OK, None, done.to_string())
                }
                _ => reply(StatusCode::METHOD_NOT_ALLOWED, None, String::new()),
            };
        }
        if method == Method::PUT
            && (path == "/v1/catalog/deregister" || path == "/v1/catalog/register")
        {
            // The one node the model's sessions live on, whatever its name.
            let registered = path.ends_with("/register");
            self.with(|m, _| m.set_node_registered(registered));
            return reply(StatusCode::OK, None, "true".into());
        }
        if path == "/v1/txn" && method == Method::PUT {
            return self.txn(&body);
        }
        if path == "/v1/session/create" && method == Method::PUT {
            let req = serde_json::from_slice::<SessionRequest>(&body).ok();
            let ttl = req
                .as_ref()
                .and_then(|r| r.ttl.as_deref())
                .and_then(duration);
            // Consul's default lock-delay is 15 s.
            let lock_delay = req
                .as_ref()
                .and_then(|r| r.lock_delay.as_deref())
                .map_or(Some(Duration::from_secs(15)), duration)
                .unwrap_or(Duration::from_secs(15));
            return match ttl {
                Some(ttl)
                    if (Duration::from_secs(10)..=Duration::from_secs(86_400)).contains(&ttl) =>
                {
                    match self.with(|m, now| m.create_session_with(now, ttl, lock_delay)) {
                        Ok(id) => reply(StatusCode::OK, None, format!("{{\"ID\":\"{id}\"}}")),
                        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, None, e),
                    }
                }
                _ => reply(
                    StatusCode::BAD_REQUEST,
                    None,
                    "Request decode failed: invalid Session TTL".into(),
                ),
            };
        }
        if let Some(id) = path.strip_prefix("/v1/session/renew/") {
            return match self.with(|m, now| m.renew(now, id)) {
                Some(s) => reply(
                    StatusCode::OK,
                    None,
                    self.session_info(id, s.ttl, s.create_index),
                ),
                None => reply(
                    StatusCode::NOT_FOUND,
                    None,
                    format!("Session id '{id}' not found"),
                ),
            };
        }
        if let Some(id) = path.strip_prefix("/v1/session/destroy/") {
            self.with(|m, _| m.destroy(id));
            return reply(StatusCode::OK, None, "true".into());
        }
        if let Some(id) = path.strip_prefix("/v1/session/info/") {
            let s = self.with(|m, _| m.session(id).cloned());
            let body = match s {
                Some(s) => self.session_info(id, s.ttl, s.create_index),
                None => "[]".into(),
            };
            return reply(StatusCode::OK, None, body);
        }
        reply(
            StatusCode::NOT_FOUND,
            None,
            format!("no handler for {path}"),
        )
    }

    fn session_info(&self, id: &str, ttl: Duration, create_index: u64) -> String {
        format!(
            "[{{\"ID\":\"{id}\",\"Name\":\"disco\",\"Behavior\":\"delete\",\"TTL\":\"{}s\",\"CreateIndex\":{create_index},\"ModifyIndex\":{create_index}}}]",
            ttl.as_secs()
        )
    }

    async fn kv_get(&self, key: &str, recurse: bool, index: Option<u64>, wait: Duration) -> Reply {
        let deadline = Instant::now() + wait;
        let mut changed = self.changed.subscribe();
        loop {
            let (idx, pairs) = self.with(|m, _| {
                if recurse {
                    m.list(key)
                } else {
                    let idx = m.prefix_index("");
                    let one = m.get(key).map(|p| (key.to_string(), p.clone()));
                    (idx, one.into_iter().collect())
                }
            });
            let blocked = index.is_some_and(|i| idx <= i);
            if !blocked || Instant::now() >= deadline {
                return if pairs.is_empty() {
                    reply(StatusCode::NOT_FOUND, Some(idx), String::new())
                } else {
                    let items: Vec<KvJson> =
                        pairs.iter().map(|(k, p)| kv_json(k, p, true)).collect();
                    reply(StatusCode::OK, Some(idx), json(&items))
                };
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { return reply(StatusCode::INTERNAL_SERVER_ERROR, None, "shutting down".into()) },
                _ = disco::timer::sleep_until(deadline) => {}
            }
        }
    }

    fn txn(&self, body: &[u8]) -> Reply {
        let items: Vec<TxnItem> = match serde_json::from_slice(body) {
            Ok(i) => i,
            Err(e) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    None,
                    format!("Failed to parse body: {e}"),
                )
            }
        };
        let decode = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                .unwrap_or_default()
        };
        let mut ops = Vec::new();
        for item in items {
            let Some(kv) = item.kv else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    None,
                    "only KV ops are modelled".into(),
                );
            };
            let session = kv.session.clone().unwrap_or_default();
            ops.push(match kv.verb.as_str() {
                "set" => TxnOp::Set {
                    value: decode(&kv.value),
                    key: kv.key,
                },
                "lock" => TxnOp::Lock {
                    value: decode(&kv.value),
                    key: kv.key,
                    session,
                },
                "unlock" => TxnOp::Unlock {
                    value: decode(&kv.value),
                    key: kv.key,
                    session,
                },
                "check-index" => TxnOp::CheckIndex {
                    key: kv.key,
                    index: kv.index.unwrap_or(0),
                },
                "check-not-exists" => TxnOp::CheckNotExists { key: kv.key },
                other => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        None,
                        format!("verb {other:?} is not modelled"),
                    )
                }
            });
        }
        let res = self.with(|m, _| {
            m.txn(&ops).map(|_| {
                ops.iter()
                    .filter_map(|op| {
                        let key = match op {
                            TxnOp::Set { key, .. }
                            | TxnOp::Lock { key, .. }
                            | TxnOp::Unlock { key, .. }
                            | TxnOp::CheckIndex { key, .. } => key,
                            TxnOp::CheckNotExists { .. } => return None,
                        };
                        m.get(key).map(|p| kv_json(key, p, false))
                    })
                    .collect::<Vec<_>>()
            })
        });
        match res {
            Ok(results) => {
                let results: Vec<serde_json::Value> = results
                    .into_iter()
                    .map(|kv| serde_json::json!({ "KV": kv }))
                    .collect();
                reply(
                    StatusCode::OK,
                    None,
                    json(&serde_json::json!({ "Results": results, "Errors": null })),
                )
            }
            Err(e) => reply(
                StatusCode::CONFLICT,
                None,
                json(
                    &serde_json::json!({ "Results": null, "Errors": [{ "OpIndex": 0, "What": e.0 }] }),
                ),
            ),
        }
    }
}
