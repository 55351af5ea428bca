//! [`Registry`] over etcd v3 (etcd-client): leases, txn compares, watches.
//!
//! The client can be built from endpoints or from caller-supplied channels
//! (`raw-channel`), which is how the simulator connects this very backend
//! over simulated TCP. A call that gets no answer in time replaces the
//! connection, so a stalled one costs one deadline, not a keepalive cycle.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, KeyValue, PutOptions, Txn,
    TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::{mpsc, watch};

use crate::backend::tls::refused_by_tls;
use crate::backend::Credentials;
use crate::backoff::Backoff;
use crate::error::RegistryError;
use crate::registry::{
    Cas, Entry, ExpiryBounds, Lease, LeaseId, Registry, Revision, Snapshot, Watch,
};

const KIND: &str = "etcd";

/// Makes a fresh client: a new connection to the cluster.
type Connect = Arc<dyn Fn() -> BoxFuture<Result<Client, etcd_client::Error>> + Send + Sync>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The client the calls share, and how to replace it. A request that got
/// no answer may sit on a stalled connection (segments lost for good, a
/// middlebox that forgot it), and HTTP/2 keepalive takes 15 s to notice; so
/// a call that times out replaces the client, and the next call (and every
/// watch) runs on a fresh connection.
struct Conn {
    current: Mutex<(u64, Client)>,
    connect: Connect,
    generation: watch::Sender<u64>,
}

impl Conn {
    /// The generation of the current client and the part of it a call
    /// needs (a whole `Client` is a dozen service handles: cloning it for
    /// each request was a measurable share of the simulator's time).
    fn current<T>(&self, part: impl FnOnce(&Client) -> T) -> (u64, T) {
        let cur = self.current.lock().expect("conn lock");
        (cur.0, part(&cur.1))
    }

    /// Replaces the client of generation `stale`, unless another call did.
    async fn replace(&self, stale: u64) {
        if self.current.lock().expect("conn lock").0 != stale {
            return;
        }
        let Ok(fresh) = (self.connect)().await else {
            return;
        };
        let mut cur = self.current.lock().expect("conn lock");
        if cur.0 == stale {
            *cur = (stale + 1, fresh);
            self.generation.send_replace(stale + 1);
        }
    }
}

/// An etcd v3 cluster as a [`Registry`].
#[derive(Clone)]
pub struct EtcdRegistry {
    conn: Arc<Conn>,
    endpoint: String,
    timeout: Duration,
    /// The TTL of each lease this client granted, for renewal deadlines.
    leases: Arc<Mutex<HashMap<i64, Duration>>>,
    /// Mixed into the jitter of this client's retries (its node's id).
    jitter: String,
}

impl std::fmt::Debug for EtcdRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdRegistry")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl EtcdRegistry {
    /// Connects lazily to `endpoints` (`http://host:port`); an unreachable
    /// cluster surfaces as [`RegistryError::Unavailable`] on the first call.
    pub async fn connect(endpoints: &[String]) -> Result<Self, RegistryError> {
        Self::connect_with(endpoints, &Credentials::none()).await
    }

    /// Connects as [`Self::connect`] does, showing `creds`: over TLS with
    /// their CA (endpoints `https://host:port`), with their client
    /// certificate (etcd takes its common name for the RBAC user).
    pub async fn connect_with(
        endpoints: &[String],
        creds: &Credentials,
    ) -> Result<Self, RegistryError> {
        if endpoints.is_empty() {
            return Err(RegistryError::Config {
                what: "etcd endpoints",
                reason: "no endpoint given; pass at least one http://host:port".into(),
            });
        }
        // HTTP/2 pings let a watch stream notice a silent partition (etcd
        // refuses pings more often than every 5 s by default).
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        creds.check_scheme("etcd endpoints", endpoints)?;
        if let Some(ca) = &creds.ca {
            let mut tls = etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(ca));
            if let Some((cert, key)) = &creds.identity {
                tls = tls.identity(etcd_client::Identity::from_pem(cert, key));
            }
            if let Some(name) = &creds.server_name {
                tls = tls.domain_name(name);
            }
            opts = opts.with_tls(tls);
        }
        let eps = endpoints.to_vec();
        let connect: Connect = Arc::new(move || {
            let (eps, opts) = (eps.clone(), opts.clone());
            Box::pin(async move { Client::connect(eps, Some(opts)).await })
        });
        EtcdRegistry::with_connect(&endpoints.join(","), connect)
            .await
            .map_err(|e| {
                if refused_by_tls(&e) {
                    RegistryError::Refused {
                        kind: KIND,
                        reason: e,
                    }
                } else {
                    RegistryError::Config {
                        what: "etcd endpoints",
                        reason: e,
                    }
                }
            })
    }

    /// A registry over channels the caller builds (the simulator's turmoil
    /// connector): `channel` is called again for each fresh connection.
    pub async fn from_channels(
        name: &str,
        channel: impl Fn() -> etcd_client::Channel + Send + Sync + 'static,
    ) -> Result<Self, RegistryError> {
        let channel = Arc::new(channel);
        let connect: Connect = Arc::new(move || {
            let ch = channel();
            Box::pin(async move { Client::from_channel(ch, None).await })
        });
        EtcdRegistry::with_connect(name, connect)
            .await
            .map_err(|reason| RegistryError::Unavailable {
                kind: KIND,
                endpoint: name.to_string(),
                reason,
            })
    }

    async fn with_connect(name: &str, connect: Connect) -> Result<Self, String> {
        let client = connect()
            .await
            .map_err(|e| format!("{name}: {}", chain(&e)))?;
        let (generation, _) = watch::channel(0);
        Ok(EtcdRegistry {
            conn: Arc::new(Conn {
                current: Mutex::new((0, client)),
                connect,
                generation,
            }),
            endpoint: name.to_string(),
            timeout: Duration::from_secs(5),
            leases: Arc::default(),
            jitter: String::new(),
        })
    }

    /// Sets the deadline for each request (default 5 s; renewals take at
    /// most a third of their lease's TTL).
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

    /// Forgets a lease that is gone (revoked, or reported lost): a node
    /// that re-announces for months must not keep every lease it held.
    fn forget(&self, lease: i64) {
        self.leases.lock().expect("leases lock").remove(&lease);
    }

    /// How many leases this client remembers (for tests).
    pub fn leases_known(&self) -> usize {
        self.leases.lock().expect("leases lock").len()
    }

    fn ttl_of(&self, lease: i64) -> Option<Duration> {
        self.leases
            .lock()
            .expect("leases lock")
            .get(&lease)
            .copied()
    }

    /// Runs `fut` (made with the client of generation `g`) within the
    /// request deadline.
    async fn call<T, F>(&self, g: u64, fut: F) -> Result<T, RegistryError>
    where
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        self.call_within(g, self.timeout, fut).await
    }

    async fn call_within<T, F>(
        &self,
        g: u64,
        deadline: Duration,
        fut: F,
    ) -> Result<T, RegistryError>
    where
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        match crate::timer::timeout(deadline, fut).await {
            Ok(r) => r.map_err(|e| classify(&self.endpoint, e)),
            Err(_) => {
                self.conn.replace(g).await;
                Err(RegistryError::Unavailable {
                    kind: KIND,
                    endpoint: self.endpoint.clone(),
                    reason: format!("no answer within {deadline:?}; reconnecting"),
                })
            }
        }
    }
}

fn classify(endpoint: &str, e: etcd_client::Error) -> RegistryError {
    use etcd_client::Error as E;
    use tonic::Code;
    match e {
        E::GRpcStatus(s) => {
            let msg = s.message().to_string();
            if msg.contains("lease not found") {
                return RegistryError::LeaseLost(msg);
            }
            match s.code() {
                Code::PermissionDenied | Code::Unauthenticated => RegistryError::Refused {
                    kind: KIND,
                    reason: format!("{:?}: {msg}", s.code()),
                },
                // The TLS handshake turned us away (when its alert got
                // through before the connection closed).
                _ if refused_by_tls(&transport_reason(&s)) => RegistryError::Refused {
                    kind: KIND,
                    reason: transport_reason(&s),
                },
                Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Unknown
                | Code::Aborted
                | Code::ResourceExhausted
                | Code::Cancelled
                | Code::Internal => RegistryError::Unavailable {
                    kind: KIND,
                    endpoint: endpoint.to_string(),
                    reason: transport_reason(&s),
                },
                _ => RegistryError::Rejected {
                    kind: KIND,
                    reason: format!("{:?}: {msg}", s.code()),
                },
            }
        }
        // etcd-client turns a keep-alive answer of TTL 0 into this error.
        E::LeaseKeepAliveError(msg) => RegistryError::LeaseLost(msg),
        // etcd-client raises transport errors only while it builds a client
        // (`with_connect` reports those, TLS refusals included); a call's
        // failed connection comes back as a status, above.
        E::TransportError(_) | E::IoError(_) | E::WatchError(_) | E::EndpointError(_) => {
            RegistryError::Unavailable {
                kind: KIND,
                endpoint: endpoint.to_string(),
                reason: e.to_string(),
            }
        }
        other => RegistryError::Rejected {
            kind: KIND,
            reason: other.to_string(),
        },
    }
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        out.push_str(": ");
        out.push_str(&c.to_string());
        src = c.source();
    }
    out
}

/// tonic hides the cause ("connection refused") in the error source chain.
fn transport_reason(s: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut reason = s.message().to_string();
    let mut src = s.source();
    while let Some(cause) = src {
        let text = cause.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        src = cause.source();
    }
    reason
}

fn lease_num(lease: &LeaseId) -> Result<i64, RegistryError> {
    lease.0.parse().map_err(|_| RegistryError::Rejected {
        kind: KIND,
        reason: format!("{lease} is not an etcd lease id"),
    })
}

fn rev(r: i64) -> Revision {
    Revision(u64::try_from(r).unwrap_or(0))
}

fn entry(kv: &KeyValue) -> Entry {
    Entry {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: String::from_utf8_lossy(kv.value()).into_owned(),
        revision: rev(kv.mod_revision()),
        created: rev(kv.create_revision()),
        lease: (kv.lease() != 0).then(|| LeaseId(kv.lease().to_string())),
    }
}

fn put_opts(lease: Option<&LeaseId>) -> Result<Option<PutOptions>, RegistryError> {
    Ok(match lease {
        Some(l) => Some(PutOptions::new().with_lease(lease_num(l)?)),
        None => None,
    })
}

/// The current entry from a txn's `or_else` get.
fn conflict_entry(resp: &etcd_client::TxnResponse) -> Option<Entry> {
    resp.op_responses().iter().find_map(|op| match op {
        TxnOpResponse::Get(g) => g.kvs().first().map(entry),
        _ => None,
    })
}

impl EtcdRegistry {
    /// etcd's expiry contract for a lease granted with `ttl` (what
    /// [`Registry::expiry_bounds`] answers), for callers without a client.
    pub fn bounds(ttl: Duration) -> ExpiryBounds {
        // etcd checks for expired leases every 500 ms.
        ExpiryBounds {
            min: ttl,
            max: ttl + Duration::from_millis(500),
        }
    }
}

impl Registry for EtcdRegistry {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn expiry_bounds(&self, ttl: Duration) -> ExpiryBounds {
        EtcdRegistry::bounds(ttl)
    }

    async fn grant(&self, ttl: Duration) -> Result<Lease, RegistryError> {
        let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        if secs < 1 || ttl.subsec_nanos() != 0 {
            return Err(RegistryError::Config {
                what: "ttl",
                reason: format!("etcd leases take whole seconds >= 1, got {ttl:?}"),
            });
        }
        let (g, mut c) = self.conn.current(Client::lease_client);
        // At most half the lease's life: a grant sent into a cut would
        // otherwise wait the whole request deadline (5 s, longer than a
        // short TTL) on a connection that never answers, and a node whose
        // lease lapsed must be back within a TTL of the store answering.
        let resp = self
            .call_within(g, self.timeout.min(ttl / 2), c.grant(secs, None))
            .await?;
        if !resp.error().is_empty() {
            return Err(RegistryError::Rejected {
                kind: KIND,
                reason: resp.error().to_string(),
            });
        }
        let ttl = Duration::from_secs(u64::try_from(resp.ttl()).unwrap_or(0));
        self.leases
            .lock()
            .expect("leases lock")
            .insert(resp.id(), ttl);
        Ok(Lease {
            id: LeaseId(resp.id().to_string()),
            ttl,
        })
    }

    async fn keep_alive(&self, lease: &LeaseId) -> Result<(), RegistryError> {
        let id = lease_num(lease)?;
        let (g, mut c) = self.conn.current(Client::lease_client);
        // A renewal that waits longer than a third of the lease's TTL
        // leaves no time to retry on a fresh connection before it expires.
        let deadline = self
            .ttl_of(id)
            .map_or(self.timeout, |ttl| self.timeout.min(ttl / 3));
        // etcd-client's keep-alive sends one renewal and reads its answer:
        // TTL 0 (the lease is gone) comes back as a keep-alive error, a
        // stream that closed before answering as a watch error. `classify`
        // makes the first a lost lease and the second unavailability:
        // nothing is known of the lease then, so the caller tries again
        // rather than give it up.
        let r = self
            .call_within(
                g,
                deadline,
                async move { c.keep_alive(id).await.map(|_| ()) },
            )
            .await;
        if matches!(r, Err(RegistryError::LeaseLost(_))) {
            self.forget(id);
        }
        r
    }

    async fn revoke(&self, lease: &LeaseId) -> Result<(), RegistryError> {
        let id = lease_num(lease)?;
        let (g, mut c) = self.conn.current(Client::lease_client);
        match self.call(g, c.revoke(id)).await {
            Ok(_) | Err(RegistryError::LeaseLost(_)) => {
                self.forget(id);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, RegistryError> {
        let (g, mut c) = self.conn.current(Client::kv_client);
        let resp = self.call(g, c.get(key, None)).await?;
        Ok(resp.kvs().first().map(entry))
    }

    async fn list(&self, prefix: &str) -> Result<Snapshot, RegistryError> {
        let (g, mut c) = self.conn.current(Client::kv_client);
        let resp = self
            .call(g, c.get(prefix, Some(GetOptions::new().with_prefix())))
            .await?;
        let mut entries: Vec<Entry> = resp.kvs().iter().map(entry).collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Snapshot {
            revision: rev(resp.header().map_or(0, |h| h.revision())),
            entries,
        })
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Revision, RegistryError> {
        let opts = put_opts(lease)?;
        // A put on a lease gets at most half its life, as a grant does.
        let deadline = lease
            .and_then(|l| lease_num(l).ok())
            .and_then(|id| self.ttl_of(id))
            .map_or(self.timeout, |ttl| self.timeout.min(ttl / 2));
        let (g, mut c) = self.conn.current(Client::kv_client);
        let resp = self
            .call_within(g, deadline, c.put(key, value, opts))
            .await?;
        Ok(rev(resp.header().map_or(0, |h| h.revision())))
    }

    async fn create(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Cas, RegistryError> {
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, put_opts(lease)?)])
            .or_else([TxnOp::get(key, None)]);
        self.conditional(txn).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Cas, RegistryError> {
        let expected = i64::try_from(expected.0).unwrap_or(i64::MAX);
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key, value, put_opts(lease)?)])
            .or_else([TxnOp::get(key, None)]);
        self.conditional(txn).await
    }

    async fn compare_and_delete(
        &self,
        key: &str,
        expected: Revision,
    ) -> Result<bool, RegistryError> {
        let expected = i64::try_from(expected.0).unwrap_or(i64::MAX);
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::delete(key, None)]);
        let (g, mut c) = self.conn.current(Client::kv_client);
        Ok(self.call(g, c.txn(txn)).await?.succeeded())
    }

    async fn delete(&self, key: &str) -> Result<(), RegistryError> {
        let (g, mut c) = self.conn.current(Client::kv_client);
        self.call(g, c.delete(key, None)).await.map(|_| ())
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, RegistryError> {
        // The first snapshot is read here so that an unreachable store is
        // reported to the caller rather than only inside the stream.
        let first = self.list(prefix).await?;
        let this = self.clone();
        let prefix = prefix.to_string();
        Ok(Watch::spawn(move |tx| async move {
            this.watch_loop(prefix, first, tx).await;
        }))
    }
}

impl EtcdRegistry {
    async fn conditional(&self, txn: Txn) -> Result<Cas, RegistryError> {
        let (g, mut c) = self.conn.current(Client::kv_client);
        let resp = self.call(g, c.txn(txn)).await?;
        if resp.succeeded() {
            Ok(Cas::Written(rev(resp.header().map_or(0, |h| h.revision()))))
        } else {
            Ok(Cas::Conflict(conflict_entry(&resp)))
        }
    }

    /// Applies watch events to a local copy of the prefix and sends a
    /// snapshot after each response. On any stream failure: re-list (with
    /// backoff) and re-watch from the listed revision.
    async fn watch_loop(
        self,
        prefix: String,
        first: Snapshot,
        tx: mpsc::Sender<Result<Snapshot, RegistryError>>,
    ) {
        let mut backoff = Backoff::for_registry(&format!("{prefix}@{}", self.jitter));
        let mut current = Some(first);
        let mut last_sent: Option<Snapshot> = None;
        loop {
            let snap = match current.take() {
                Some(s) => s,
                None => match self.list(&prefix).await {
                    Ok(s) => s,
                    Err(e) => {
                        if tx.send(Err(e)).await.is_err() {
                            return;
                        }
                        crate::timer::sleep(backoff.next_delay()).await;
                        continue;
                    }
                },
            };
            if last_sent.as_ref().is_none_or(|l| !l.same_entries(&snap))
                && tx.send(Ok(snap.clone())).await.is_err()
            {
                return;
            }
            last_sent = Some(snap.clone());
            let mut state: BTreeMap<String, Entry> = snap
                .entries
                .into_iter()
                .map(|e| (e.key.clone(), e))
                .collect();
            let start = i64::try_from(snap.revision.0).unwrap_or(0) + 1;
            let opts = WatchOptions::new().with_prefix().with_start_revision(start);
            let (g, mut c) = self.conn.current(Client::watch_client);
            let stream = match self.call(g, c.watch(prefix.as_str(), Some(opts))).await {
                Ok(s) => s,
                Err(e) => {
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                    crate::timer::sleep(backoff.next_delay()).await;
                    continue;
                }
            };
            let (_sender, mut responses) = stream.split();
            let mut generation = self.conn.generation.subscribe();
            generation.mark_unchanged();
            loop {
                let msg = tokio::select! {
                    m = responses.message() => m,
                    _ = tx.closed() => return,
                    // A fresh connection: this stream may sit on the stale one.
                    _ = generation.changed() => break,
                };
                match msg {
                    Ok(Some(resp)) => {
                        if resp.canceled() {
                            break;
                        }
                        backoff.reset();
                        if resp.events().is_empty() {
                            continue;
                        }
                        for ev in resp.events() {
                            let Some(kv) = ev.kv() else { continue };
                            let e = entry(kv);
                            match ev.event_type() {
                                EventType::Put => {
                                    state.insert(e.key.clone(), e);
                                }
                                EventType::Delete => {
                                    state.remove(&e.key);
                                }
                            }
                        }
                        let snap = Snapshot {
                            revision: rev(resp.header().map_or(0, |h| h.revision())),
                            entries: state.values().cloned().collect(),
                        };
                        if tx.send(Ok(snap.clone())).await.is_err() {
                            return;
                        }
                        last_sent = Some(snap);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        if tx.send(Err(classify(&self.endpoint, e))).await.is_err() {
                            return;
                        }
                        break;
                    }
                }
            }
            crate::timer::sleep(backoff.next_delay()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{Code, Status};

    fn status(code: Code, message: &str) -> RegistryError {
        classify(
            "etcd:2379",
            etcd_client::Error::GRpcStatus(Status::new(code, message)),
        )
    }

    /// A handshake that turned the client away reaches a call as a status
    /// carrying the alert (etcd 3.5 in tests/secured.rs answers a stranger's
    /// certificate so, when the alert beats the close): a refusal, which no
    /// retry mends, not an outage.
    #[test]
    fn a_handshake_alert_is_a_refusal() {
        for alert in ["UnknownCA", "CertificateRequired"] {
            let e = status(
                Code::Unavailable,
                &format!("transport error: connection error: received fatal alert: {alert}"),
            );
            assert!(matches!(e, RegistryError::Refused { .. }), "{alert}: {e:?}");
            assert!(!e.is_transient());
        }
    }

    #[test]
    fn a_closed_connection_is_a_transient_outage() {
        for code in [Code::Unavailable, Code::Cancelled, Code::DeadlineExceeded] {
            let e = status(code, "transport error: connection closed");
            assert!(
                matches!(e, RegistryError::Unavailable { .. }),
                "{code:?}: {e:?}"
            );
            assert!(e.is_transient());
        }
    }

    /// What etcd-client's keep-alive reports for a renewal etcd answered
    /// with TTL 0, and for a stream that closed before any answer.
    #[test]
    fn a_gone_lease_is_lost_and_a_silent_renewal_is_retried() {
        let gone = etcd_client::Error::LeaseKeepAliveError("lease not found".into());
        assert!(matches!(
            classify("etcd:2379", gone),
            RegistryError::LeaseLost(_)
        ));
        let closed = etcd_client::Error::WatchError("failed to create lease keeper".into());
        let e = classify("etcd:2379", closed);
        assert!(e.is_transient(), "{e:?}");
    }

    #[test]
    fn an_rbac_denial_is_a_refusal() {
        for code in [Code::PermissionDenied, Code::Unauthenticated] {
            let e = status(code, "etcdserver: permission denied");
            assert!(
                matches!(e, RegistryError::Refused { .. }),
                "{code:?}: {e:?}"
            );
        }
    }

    /// etcd's own words for a lease it no longer has, whatever the code.
    #[test]
    fn a_lease_etcd_does_not_know_is_lost() {
        let e = status(Code::NotFound, "etcdserver: requested lease not found");
        assert!(matches!(e, RegistryError::LeaseLost(_)), "{e:?}");
    }

    /// A client that cannot even be built says which endpoint and why (the
    /// cause sits in the error's source chain).
    #[tokio::test]
    async fn a_malformed_endpoint_is_named_with_its_fault() {
        let e = EtcdRegistry::connect(&["http://127.0.0.1:2379/a b".into()])
            .await
            .expect_err("not an endpoint");
        let RegistryError::Config { what, reason } = &e else {
            panic!("a configuration error: {e:?}");
        };
        assert_eq!(*what, "etcd endpoints");
        assert!(reason.contains("127.0.0.1:2379/a b"), "names it: {reason}");
        assert!(reason.contains("invalid"), "says why: {reason}");
    }

    /// A client that has not connected yet (connections are lazy), for
    /// what is decided before any request.
    async fn unconnected() -> EtcdRegistry {
        EtcdRegistry::connect(&["http://127.0.0.1:1".into()])
            .await
            .expect("a lazy client")
    }

    /// The kind is how callers tell the stores apart: it names the store in
    /// the errors and logs a user reads, and the simulator's history
    /// recorder takes etcd's compare-and-delete for a CAS by it.
    #[tokio::test]
    async fn it_answers_to_etcd() {
        assert_eq!(unconnected().await.kind(), "etcd");
    }

    /// etcd grants whole seconds: a TTL with a fraction would come back
    /// cut short (a lease that expires before its holder expects), so it
    /// is refused before any request, as is a TTL under a second.
    #[tokio::test]
    async fn a_ttl_etcd_cannot_grant_as_asked_is_refused() {
        let r = unconnected().await;
        for ms in [0, 500, 1_500, 2_999] {
            let e = r
                .grant(Duration::from_millis(ms))
                .await
                .expect_err("not a whole number of seconds >= 1");
            assert!(
                matches!(e, RegistryError::Config { what: "ttl", .. }),
                "{ms} ms: {e:?}"
            );
        }
    }

    #[test]
    fn a_request_etcd_will_not_take_is_rejected() {
        let e = status(Code::InvalidArgument, "etcdserver: key is not provided");
        assert!(matches!(e, RegistryError::Rejected { .. }), "{e:?}");
        assert!(!e.is_transient());
    }
}
