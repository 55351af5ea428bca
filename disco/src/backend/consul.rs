//! [`Registry`] over Consul's HTTP API: sessions with a TTL and
//! `behavior=delete` as leases, `/v1/txn` for atomic conditional writes, and
//! blocking queries as watches. HTTP goes through an [`HttpClient`]
//! (reqwest in production, simulated TCP in the simulator).
//!
//! Consul's contract differs from etcd's in two ways that callers see through
//! [`Registry::expiry_bounds`]: a session TTL must be 10 s to 24 h, and Consul
//! may invalidate a session up to twice its TTL after the last renewal.

use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::http::{chain, HttpClient, HttpRequest, Reqwest};
use super::tls::refused_by_tls;
use super::Credentials;
use crate::backoff::Backoff;
use crate::error::RegistryError;
use crate::registry::{
    Cas, Entry, ExpiryBounds, Lease, LeaseId, Registry, Revision, Snapshot, Watch,
};

const KIND: &str = "consul";
/// How long one blocking query may wait on the server.
const BLOCK: Duration = Duration::from_secs(30);
/// Conditional puts retry this often when the key moves under them.
const PUT_RETRIES: usize = 8;

/// A Consul agent or server's HTTP API as a [`Registry`], over HTTP client
/// `H` (reqwest unless the simulator supplies its own).
#[derive(Debug, Clone)]
pub struct ConsulRegistry<H = Reqwest> {
    http: H,
    base: String,
    timeout: Duration,
    /// The catalog node sessions are created on (`None`: the agent's own).
    session_node: Option<String>,
    /// Mixed into the jitter of this client's retries (its node's id), so
    /// that clients that fail together retry apart.
    jitter: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KvPair {
    key: String,
    value: Option<String>,
    create_index: u64,
    modify_index: u64,
    session: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TxnResult {
    #[serde(rename = "KV")]
    kv: Option<KvPair>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TxnResponse {
    results: Option<Vec<TxnResult>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SessionCreated {
    #[serde(rename = "ID")]
    id: String,
}

/// A transaction rolled back because the token may not do one of its
/// operations: Consul answers that with 409, as it does a failed check,
/// and names the reason only in the body's `Errors`.
fn denied_txn(status: StatusCode, body: &str) -> bool {
    status == StatusCode::CONFLICT
        && serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| {
            v["Errors"].as_array().is_some_and(|errs| {
                errs.iter().any(|e| {
                    e["What"]
                        .as_str()
                        .is_some_and(|w| w.contains("Permission denied"))
                })
            })
        })
}

/// An answer's body as one line for an error: a transaction's errors by
/// their text, other text with its whitespace folded.
fn one_line(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        if let Some(errs) = v["Errors"].as_array() {
            let mut whats: Vec<&str> = errs.iter().filter_map(|e| e["What"].as_str()).collect();
            whats.dedup();
            return whats.join("; ");
        }
    }
    body.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How long to wait for a blocking query's answer: as long as Consul may
/// hold it (the wait plus up to wait/16 of jitter it adds), then one
/// ordinary request deadline, so a query whose connection went silent is
/// given up as soon as a live one could not still be pending.
fn blocking_deadline(timeout: Duration) -> Duration {
    BLOCK + BLOCK / 16 + timeout
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn to_entry(p: KvPair) -> Entry {
    let value = p
        .value
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Entry {
        key: p.key,
        value,
        revision: Revision(p.modify_index),
        created: Revision(p.create_index),
        lease: p.session.filter(|s| !s.is_empty()).map(LeaseId),
    }
}

impl ConsulRegistry {
    /// Consul's expiry contract for a session created with `ttl` (what
    /// [`Registry::expiry_bounds`] answers), for callers without a client.
    pub fn bounds(ttl: Duration) -> ExpiryBounds {
        // Consul doubles the TTL when it arms the session timer, and reaps
        // keys right after invalidation (lock-delay 0 s, behavior=delete).
        ExpiryBounds {
            min: ttl,
            max: ttl * 2 + Duration::from_millis(500),
        }
    }

    /// A registry talking to `address` (`http://host:8500`) through reqwest.
    /// Nothing is sent until the first call.
    pub fn new(address: &str) -> Result<Self, RegistryError> {
        Self::connect_with(address, &Credentials::none())
    }

    /// As [`Self::new`], showing `creds`: HTTPS with their CA (`address`
    /// `https://host:8501`) and client certificate (Consul's
    /// `verify_incoming`), and their ACL token on every request.
    pub fn connect_with(address: &str, creds: &Credentials) -> Result<Self, RegistryError> {
        creds.check_scheme("consul address", [&address.to_string()])?;
        let http = Reqwest::with_credentials(Duration::from_secs(2), creds)?;
        ConsulRegistry::with_client(address, http)
    }
}

impl<H: HttpClient> ConsulRegistry<H> {
    /// A registry talking to `address` through `http`.
    pub fn with_client(address: &str, http: H) -> Result<Self, RegistryError> {
        let base = address.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(RegistryError::Config {
                what: "consul address",
                reason: format!("{address:?} must start with http:// (e.g. http://127.0.0.1:8500)"),
            });
        }
        Ok(ConsulRegistry {
            http,
            base,
            timeout: Duration::from_secs(5),
            session_node: None,
            jitter: String::new(),
        })
    }

    /// Creates sessions on catalog node `node` (which must exist) instead
    /// of the node of the agent answering: Consul's ACLs scope sessions
    /// only by node, so a cluster whose sessions live on a node of its own
    /// can be given `session "<node>" { policy = "write" }`, and no other
    /// cluster's token may renew or destroy them.
    pub fn with_session_node(mut self, node: &str) -> Self {
        self.session_node = Some(node.to_string());
        self
    }

    /// Sets the deadline for each non-blocking request (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Jitters this client's watch retries by `seed` (its node's id): the
    /// nodes of a cluster whose watches all fail at once then list again
    /// apart, not in lockstep.
    pub fn with_jitter(mut self, seed: &str) -> Self {
        self.jitter = seed.to_string();
        self
    }

    fn unavailable(&self, reason: String) -> RegistryError {
        RegistryError::Unavailable {
            kind: KIND,
            endpoint: self.base.clone(),
            reason,
        }
    }

    /// Sends one request; returns status, `X-Consul-Index` and body.
    /// Query values are numbers and durations, so they need no escaping.
    async fn send(
        &self,
        method: &'static str,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
        timeout: Duration,
    ) -> Result<(StatusCode, u64, String), RegistryError> {
        let mut url = format!("{}{}", self.base, path);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(v);
        }
        let req = HttpRequest {
            method,
            url,
            body: body.map(|b| b.to_string().into_bytes()),
            timeout,
        };
        let resp = self.http.send(req).await.map_err(|e| {
            if self.base.starts_with("https://") && refused_by_tls(&e) {
                RegistryError::Refused {
                    kind: KIND,
                    reason: e,
                }
            } else {
                self.unavailable(e)
            }
        })?;
        let status = StatusCode::from_u16(resp.status)
            .map_err(|e| self.unavailable(format!("bad status {}: {}", resp.status, chain(&e))))?;
        if status.is_server_error() {
            return Err(self.unavailable(format!("{status}: {}", resp.body.trim())));
        }
        // An ACL's answer: no request with this token will ever pass.
        if status == StatusCode::FORBIDDEN || denied_txn(status, &resp.body) {
            return Err(RegistryError::Refused {
                kind: KIND,
                reason: format!("{status}: {}", one_line(&resp.body)),
            });
        }
        Ok((status, resp.index, resp.body))
    }

    fn rejected(status: StatusCode, text: &str) -> RegistryError {
        RegistryError::Rejected {
            kind: KIND,
            reason: format!("{status}: {}", one_line(text)),
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, RegistryError> {
        serde_json::from_str(text).map_err(|e| RegistryError::Rejected {
            kind: KIND,
            reason: format!("unexpected answer {text:?}: {e}"),
        })
    }

    async fn list_at(&self, prefix: &str, index: Option<u64>) -> Result<Snapshot, RegistryError> {
        let mut query = vec![("recurse", String::new())];
        let timeout = match index {
            Some(i) => {
                query.push(("index", i.to_string()));
                query.push(("wait", format!("{}s", BLOCK.as_secs())));
                blocking_deadline(self.timeout)
            }
            None => self.timeout,
        };
        let path = format!("/v1/kv/{prefix}");
        let (status, idx, text) = self.send("GET", &path, &query, None, timeout).await?;
        let mut entries = match status {
            StatusCode::NOT_FOUND => Vec::new(),
            s if s.is_success() => Self::parse::<Vec<KvPair>>(&text)?
                .into_iter()
                .map(to_entry)
                .collect(),
            s => return Err(Self::rejected(s, &text)),
        };
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Snapshot {
            revision: Revision(idx),
            entries,
        })
    }

    /// Runs a `/v1/txn`; `Ok(None)` when a check failed (409, rolled back),
    /// otherwise the modify index of the last op's key.
    async fn txn(&self, ops: Vec<serde_json::Value>) -> Result<Option<Revision>, RegistryError> {
        let (status, _, text) = self
            .send("PUT", "/v1/txn", &[], Some(json!(ops)), self.timeout)
            .await?;
        match status {
            StatusCode::CONFLICT => Ok(None),
            s if s.is_success() => {
                let resp: TxnResponse = Self::parse(&text)?;
                let idx = resp
                    .results
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| r.kv)
                    .next_back()
                    .map_or(0, |kv| kv.modify_index);
                Ok(Some(Revision(idx)))
            }
            s => Err(Self::rejected(s, &text)),
        }
    }

    /// The ops that write `key` as etcd would: attached to `lease` (or to no
    /// session), taking the key over from any other session that holds it.
    fn write_ops(
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
        current: Option<&Entry>,
    ) -> Vec<serde_json::Value> {
        let mut ops = Vec::new();
        if let Some(held) = current.and_then(|c| c.lease.as_ref()) {
            if Some(held) != lease {
                ops.push(json!({"KV": {"Verb": "unlock", "Key": key, "Session": held.0}}));
            }
        }
        ops.push(match lease {
            Some(s) => {
                json!({"KV": {"Verb": "lock", "Key": key, "Value": b64(value), "Session": s.0}})
            }
            None => json!({"KV": {"Verb": "set", "Key": key, "Value": b64(value)}}),
        });
        ops
    }

    fn guard(key: &str, current: Option<&Entry>) -> serde_json::Value {
        match current {
            Some(c) => json!({"KV": {"Verb": "check-index", "Key": key, "Index": c.revision.0}}),
            None => json!({"KV": {"Verb": "check-not-exists", "Key": key}}),
        }
    }

    /// A guarded write: `Some(rev)` if it happened with `current` still in
    /// place, `None` if the key moved.
    async fn guarded_write(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
        current: Option<&Entry>,
    ) -> Result<Option<Revision>, RegistryError> {
        let mut ops = vec![Self::guard(key, current)];
        ops.extend(Self::write_ops(key, value, lease, current));
        match self.txn(ops).await? {
            Some(r) => Ok(Some(r)),
            None => {
                // A failed lock on a dead session is reported as a conflict
                // too: tell the caller plainly.
                if let Some(l) = lease {
                    if !self.session_alive(l).await? {
                        return Err(RegistryError::LeaseLost(l.to_string()));
                    }
                }
                Ok(None)
            }
        }
    }

    async fn session_alive(&self, lease: &LeaseId) -> Result<bool, RegistryError> {
        let path = format!("/v1/session/info/{}", lease.0);
        let (status, _, text) = self.send("GET", &path, &[], None, self.timeout).await?;
        if !status.is_success() {
            return Err(Self::rejected(status, &text));
        }
        let infos: Vec<serde_json::Value> = Self::parse(&text).unwrap_or_default();
        Ok(!infos.is_empty())
    }
}

impl<H: HttpClient> Registry for ConsulRegistry<H> {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn expiry_bounds(&self, ttl: Duration) -> ExpiryBounds {
        ConsulRegistry::bounds(ttl)
    }

    async fn grant(&self, ttl: Duration) -> Result<Lease, RegistryError> {
        if ttl < Duration::from_secs(10)
            || ttl > Duration::from_secs(86_400)
            || ttl.subsec_nanos() != 0
        {
            return Err(RegistryError::Config {
                what: "ttl",
                reason: format!(
                    "Consul session TTLs are whole seconds from 10s to 86400s, got {ttl:?}; use --ttl 10s or more"
                ),
            });
        }
        let mut body = json!({
            "Name": "disco",
            "TTL": format!("{}s", ttl.as_secs()),
            "Behavior": "delete",
            "LockDelay": "0s",
            // No node health check: the session lives exactly as long as it
            // is renewed, whichever server we happened to talk to.
            "Checks": [],
            "NodeChecks": [],
        });
        if let Some(node) = &self.session_node {
            body["Node"] = json!(node);
        }
        let (status, _, text) = self
            .send("PUT", "/v1/session/create", &[], Some(body), self.timeout)
            .await?;
        if !status.is_success() {
            return Err(Self::rejected(status, &text));
        }
        let created: SessionCreated = Self::parse(&text)?;
        Ok(Lease {
            id: LeaseId(created.id),
            ttl,
        })
    }

    async fn keep_alive(&self, lease: &LeaseId) -> Result<(), RegistryError> {
        let path = format!("/v1/session/renew/{}", lease.0);
        let (status, _, text) = self.send("PUT", &path, &[], None, self.timeout).await?;
        match status {
            StatusCode::NOT_FOUND => Err(RegistryError::LeaseLost(lease.to_string())),
            s if s.is_success() => {
                let infos: Vec<serde_json::Value> = Self::parse(&text).unwrap_or_default();
                if infos.is_empty() {
                    Err(RegistryError::LeaseLost(lease.to_string()))
                } else {
                    Ok(())
                }
            }
            s => Err(Self::rejected(s, &text)),
        }
    }

    async fn revoke(&self, lease: &LeaseId) -> Result<(), RegistryError> {
        let path = format!("/v1/session/destroy/{}", lease.0);
        let (status, _, text) = self.send("PUT", &path, &[], None, self.timeout).await?;
        // Consul answers 200 for a session it does not know (an expired
        // one), as Registry::revoke's contract asks.
        if status.is_success() {
            Ok(())
        } else {
            Err(Self::rejected(status, &text))
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, RegistryError> {
        let path = format!("/v1/kv/{key}");
        let (status, _, text) = self.send("GET", &path, &[], None, self.timeout).await?;
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Self::parse::<Vec<KvPair>>(&text)?
                .into_iter()
                .find(|p| p.key == key)
                .map(to_entry)),
            s => Err(Self::rejected(s, &text)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Snapshot, RegistryError> {
        self.list_at(prefix, None).await
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Revision, RegistryError> {
        for _ in 0..PUT_RETRIES {
            let current = self.get(key).await?;
            if let Some(r) = self
                .guarded_write(key, value, lease, current.as_ref())
                .await?
            {
                return Ok(r);
            }
        }
        Err(self.unavailable(format!(
            "{key} kept changing during {PUT_RETRIES} put attempts"
        )))
    }

    async fn create(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Cas, RegistryError> {
        match self.guarded_write(key, value, lease, None).await? {
            Some(r) => Ok(Cas::Written(r)),
            None => Ok(Cas::Conflict(self.get(key).await?)),
        }
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Cas, RegistryError> {
        let current = self.get(key).await?;
        match &current {
            Some(c) if c.revision == expected => {
                match self.guarded_write(key, value, lease, Some(c)).await? {
                    Some(r) => Ok(Cas::Written(r)),
                    None => Ok(Cas::Conflict(self.get(key).await?)),
                }
            }
            _ => Ok(Cas::Conflict(current)),
        }
    }

    async fn compare_and_delete(
        &self,
        key: &str,
        expected: Revision,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v1/kv/{key}");
        let q = [("cas", expected.0.to_string())];
        let (status, _, text) = self.send("DELETE", &path, &q, None, self.timeout).await?;
        if !status.is_success() {
            return Err(Self::rejected(status, &text));
        }
        Ok(text.trim() == "true")
    }

    async fn delete(&self, key: &str) -> Result<(), RegistryError> {
        let path = format!("/v1/kv/{key}");
        let (status, _, text) = self.send("DELETE", &path, &[], None, self.timeout).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(Self::rejected(status, &text))
        }
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, RegistryError> {
        let first = self.list(prefix).await?;
        let this = self.clone();
        let prefix = prefix.to_string();
        Ok(Watch::spawn(move |tx| async move {
            this.watch_loop(prefix, first, tx).await;
        }))
    }
}

impl<H: HttpClient> ConsulRegistry<H> {
    /// Blocking queries in a loop, following Consul's rules for the index:
    /// reset to 0 if it goes backwards, back off if it does not move.
    async fn watch_loop(
        self,
        prefix: String,
        first: Snapshot,
        tx: mpsc::Sender<Result<Snapshot, RegistryError>>,
    ) {
        let mut backoff = Backoff::for_registry(&format!("{prefix}@{}", self.jitter));
        let mut index = first.revision.0.max(1);
        let mut last = first.clone();
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        loop {
            let res = tokio::select! {
                r = self.list_at(&prefix, Some(index)) => r,
                _ = tx.closed() => return,
            };
            match res {
                Ok(snap) => {
                    let new = snap.revision.0;
                    if new <= index {
                        // No progress: the wait ran out, or the index is
                        // missing or went backwards (a snapshot restore).
                        // The next query may not block, so pause before it
                        // rather than spin.
                        tokio::select! {
                            _ = crate::timer::sleep(backoff.next_delay()) => {}
                            _ = tx.closed() => return,
                        }
                    } else {
                        backoff.reset();
                    }
                    index = if new < index { 1 } else { new.max(1) };
                    if !snap.same_entries(&last) {
                        last = snap.clone();
                        if tx.send(Ok(snap)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                    crate::timer::sleep(backoff.next_delay()).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing listens there: a request that is sent fails as unavailable.
    fn unconnected() -> ConsulRegistry {
        ConsulRegistry::new("http://127.0.0.1:1").unwrap()
    }

    /// What Consul 1.8 answers a transaction an ACL stops: 409, as for a
    /// failed check, with the reason only in `Errors`.
    const DENIED: &str = r#"{"Results":null,"Errors":[{"OpIndex":0,"What":"Permission denied"},{"OpIndex":1,"What":"Permission denied"}]}"#;

    #[test]
    fn only_a_conflict_that_names_a_denial_is_a_denied_transaction() {
        assert!(denied_txn(StatusCode::CONFLICT, DENIED));
        let failed_check =
            r#"{"Results":null,"Errors":[{"OpIndex":0,"What":"failed to lock key \"k\""}]}"#;
        assert!(!denied_txn(StatusCode::CONFLICT, failed_check));
        assert!(!denied_txn(StatusCode::CONFLICT, ""));
        assert!(!denied_txn(StatusCode::OK, DENIED));
    }

    /// Errors quote Consul's reason on one line: a transaction's by each
    /// distinct `What`, any other body with its whitespace folded.
    #[test]
    fn a_consuls_reason_is_quoted_on_one_line() {
        assert_eq!(one_line(DENIED), "Permission denied");
        assert_eq!(
            one_line("Invalid Session TTL '5000000000',\n  must be between [10s=24h0m0s]\n"),
            "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"
        );
    }

    /// The simulator's history recorder picks Consul's semantics by it.
    #[test]
    fn it_answers_to_consul() {
        assert_eq!(unconnected().kind(), "consul");
    }

    /// Consul's session documentation: the TTL is a lower bound for
    /// invalidation, and Consul may wait up to twice the TTL before it
    /// invalidates; leaders and checks wait for `max`, so it must not fall
    /// short of that, and the margin on top stays under a second.
    #[test]
    fn expiry_bounds_are_consuls_documented_contract() {
        for secs in [10, 15, 60] {
            let ttl = Duration::from_secs(secs);
            let b = unconnected().expiry_bounds(ttl);
            assert_eq!(b.min, ttl, "{secs} s");
            assert!(b.max >= ttl * 2, "{secs} s: {b:?}");
            assert!(b.max <= ttl * 2 + Duration::from_secs(1), "{secs} s: {b:?}");
        }
    }

    /// Consul's documented session TTL range is 10s to 86400s; a TTL
    /// outside it, or not whole seconds (Consul's duration would round
    /// it), is refused before any request, and the edges are sent.
    #[tokio::test]
    async fn a_ttl_consul_cannot_grant_as_asked_is_refused() {
        let r = unconnected();
        for bad in [9_000, 9_999, 10_500, 86_401_000, 0] {
            let e = r.grant(Duration::from_millis(bad)).await.unwrap_err();
            assert!(
                matches!(e, RegistryError::Config { what: "ttl", .. }),
                "{bad} ms: {e:?}"
            );
        }
        for good in [10, 11, 86_400] {
            let e = r.grant(Duration::from_secs(good)).await.unwrap_err();
            assert!(
                matches!(e, RegistryError::Unavailable { .. }),
                "{good} s was not sent: {e:?}"
            );
        }
    }

    /// Consul holds a blocking query up to `wait` plus wait/16 of jitter
    /// (its documentation on blocking queries); a deadline shorter than
    /// that turns quiet watches into errors, and one longer than that plus
    /// a request's own deadline leaves a watch on a silent connection
    /// waiting for nothing.
    #[test]
    fn a_blocking_query_is_given_what_consul_may_hold_it_and_one_deadline_more() {
        let wait = Duration::from_secs(30);
        assert_eq!(BLOCK, wait);
        for timeout in [Duration::from_secs(1), Duration::from_secs(5)] {
            assert_eq!(blocking_deadline(timeout), wait + wait / 16 + timeout);
        }
    }
}
