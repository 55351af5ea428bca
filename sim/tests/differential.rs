//! Differential conformance: the same sequences of registry operations,
//! through disco's real backends, against real etcd 3.5 and Consul 1.8 and
//! against the models behind the same APIs. Every observable result must
//! match: values, revisions, create revisions, which writes happen, lease
//! attachment, errors. This is what makes the simulator's verdicts about
//! disco worth trusting.
//!
//! etcd's revisions are compared relative to the sequence's start. Consul's
//! raft index also moves for the server's own bookkeeping (catalog,
//! coordinates), so its indexes are compared by identity: each distinct
//! index is named by its order of first appearance.

use clusterlab_servers as support;

use base64::Engine as _;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clusterlab_sim::etcd::server::Store;
use disco::backend::{ConsulRegistry, EtcdRegistry};
use disco::registry::{Cas, Entry, LeaseId, Revision};
use disco::{Registry, RegistryError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::net::TcpListener;

/// One registry operation; keys and leases are small indices so that
/// sequences collide on purpose.
#[derive(Debug, Clone)]
enum Op {
    Grant(u64),
    Put(u8, u8, Option<u8>),
    Create(u8, u8, Option<u8>),
    /// CAS against the key's current revision (true) or a stale one.
    Cas(u8, bool, u8),
    Cad(u8, bool),
    Delete(u8),
    Get(u8),
    List,
    KeepAlive(u8),
    Revoke(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..4;
    let l = proptest::option::of(0u8..3);
    prop_oneof![
        (1u64..4).prop_map(Op::Grant),
        (k.clone(), any::<u8>(), l.clone()).prop_map(|(k, v, l)| Op::Put(k, v, l)),
        (k.clone(), any::<u8>(), l).prop_map(|(k, v, l)| Op::Create(k, v, l)),
        (k.clone(), any::<bool>(), any::<u8>()).prop_map(|(k, f, v)| Op::Cas(k, f, v)),
        (k.clone(), any::<bool>()).prop_map(|(k, f)| Op::Cad(k, f)),
        k.clone().prop_map(Op::Delete),
        k.prop_map(Op::Get),
        Just(Op::List),
        (0u8..3).prop_map(Op::KeepAlive),
        (0u8..3).prop_map(Op::Revoke),
    ]
}

/// How revisions are made comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revisions {
    /// Relative to the sequence's first list (etcd).
    Relative,
    /// By order of first appearance (Consul).
    Labelled,
}

/// Normalises what a registry shows: revisions relative to `base` or by
/// label, lease ids by order of grant.
struct Observer {
    prefix: String,
    base: u64,
    mode: Revisions,
    labels: RefCell<HashMap<u64, i64>>,
    leases: Vec<LeaseId>,
    names: HashMap<String, usize>,
}

impl Observer {
    fn rev(&self, r: Revision) -> i64 {
        match self.mode {
            Revisions::Relative => r.0 as i64 - self.base as i64,
            Revisions::Labelled => {
                let mut labels = self.labels.borrow_mut();
                let next = labels.len() as i64;
                *labels.entry(r.0).or_insert(next)
            }
        }
    }

    fn entry(&self, e: &Entry) -> String {
        let lease = e.lease.as_ref().map(|l| {
            self.names
                .get(&l.0)
                .map_or("?".to_string(), |i| format!("L{i}"))
        });
        format!(
            "{}={} rev {} created {} lease {:?}",
            e.key.trim_start_matches(&self.prefix),
            e.value,
            self.rev(e.revision),
            self.rev(e.created),
            lease
        )
    }

    fn err(e: &RegistryError) -> String {
        match e {
            RegistryError::LeaseLost(_) => "lease-lost".into(),
            RegistryError::Rejected { .. } => "rejected".into(),
            other => format!("other: {other}"),
        }
    }

    fn lease(&self, i: u8) -> Option<LeaseId> {
        self.leases.get(i as usize).cloned()
    }
}

async fn run<R: Registry>(r: &R, prefix: &str, ops: &[Op], mode: Revisions) -> Vec<String> {
    let base = r.list(prefix).await.expect("list").revision.0;
    let mut o = Observer {
        prefix: prefix.to_string(),
        base,
        mode,
        labels: RefCell::default(),
        leases: Vec::new(),
        names: HashMap::new(),
    };
    // Consul sessions live 10 s to 24 h; etcd's leases from 1 s (2 s minimum).
    let ttl_base = if mode == Revisions::Labelled { 9 } else { 0 };
    let key = |k: u8| format!("{prefix}k{k}");
    let mut out = Vec::new();
    for op in ops {
        let line = match op {
            Op::Grant(ttl) => match r.grant(Duration::from_secs(ttl_base + *ttl)).await {
                Ok(l) => {
                    o.names.insert(l.id.0.clone(), o.leases.len());
                    o.leases.push(l.id);
                    format!("grant ttl {:?}", l.ttl)
                }
                Err(e) => Observer::err(&e),
            },
            Op::Put(k, v, l) => {
                let lease = l.and_then(|i| o.lease(i));
                match r.put(&key(*k), &v.to_string(), lease.as_ref()).await {
                    Ok(rev) => format!("put {}", o.rev(rev)),
                    Err(e) => Observer::err(&e),
                }
            }
            Op::Create(k, v, l) => {
                let lease = l.and_then(|i| o.lease(i));
                cas(&o, r.create(&key(*k), &v.to_string(), lease.as_ref()).await)
            }
            Op::Cas(k, fresh, v) => {
                let expected = expected(r, &key(*k), *fresh).await;
                cas(
                    &o,
                    r.compare_and_swap(&key(*k), expected, &v.to_string(), None)
                        .await,
                )
            }
            Op::Cad(k, fresh) => {
                let expected = expected(r, &key(*k), *fresh).await;
                match r.compare_and_delete(&key(*k), expected).await {
                    Ok(b) => format!("cad {b}"),
                    Err(e) => Observer::err(&e),
                }
            }
            Op::Delete(k) => format!(
                "delete {:?}",
                r.delete(&key(*k)).await.map_err(|e| Observer::err(&e))
            ),
            Op::Get(k) => match r.get(&key(*k)).await {
                Ok(e) => format!("get {:?}", e.map(|e| o.entry(&e))),
                Err(e) => Observer::err(&e),
            },
            Op::List => match r.list(prefix).await {
                Ok(s) => format!(
                    "list @{} {:?}",
                    o.rev(s.revision),
                    s.entries.iter().map(|e| o.entry(e)).collect::<Vec<_>>()
                ),
                Err(e) => Observer::err(&e),
            },
            Op::KeepAlive(i) => match o.lease(*i) {
                Some(l) => format!(
                    "keepalive {:?}",
                    r.keep_alive(&l).await.map_err(|e| Observer::err(&e))
                ),
                None => "keepalive: no such lease yet".into(),
            },
            Op::Revoke(i) => match o.lease(*i) {
                Some(l) => format!(
                    "revoke {:?}",
                    r.revoke(&l).await.map_err(|e| Observer::err(&e))
                ),
                None => "revoke: no such lease yet".into(),
            },
        };
        out.push(line);
    }
    // Leases left behind would expire during a later sequence and move
    // the shared revision under it, on each side at its own moment.
    for l in &o.leases {
        let _ = r.revoke(l).await;
    }
    out
}

async fn expected<R: Registry>(r: &R, key: &str, fresh: bool) -> Revision {
    if !fresh {
        return Revision(1);
    }
    r.get(key)
        .await
        .ok()
        .flatten()
        .map_or(Revision(0), |e| e.revision)
}

fn cas(o: &Observer, c: Result<Cas, RegistryError>) -> String {
    match c {
        Ok(Cas::Written(rev)) => format!("written {}", o.rev(rev)),
        Ok(Cas::Conflict(e)) => format!("conflict {:?}", e.map(|e| o.entry(&e))),
        Err(e) => Observer::err(&e),
    }
}

/// Serves the model on a loopback port; returns its client.
async fn model() -> EtcdRegistry {
    let store = Store::new();
    tokio::spawn(store.clone().sweep());
    EtcdRegistry::connect(&[serve(store).await]).await.unwrap()
}

/// Serves `store` over etcd's gRPC API on a loopback port; its URL.
async fn serve(store: Store) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (kv, lease, watch) = store.services();
    let incoming = futures_util::stream::unfold(listener, |l| async move {
        Some((l.accept().await.map(|(s, _)| s), l))
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(kv)
            .add_service(lease)
            .add_service(watch)
            .serve_with_incoming(incoming),
    );
    format!("http://{addr}")
}

/// Runs 256 generated sequences against `real` and `model`; returns how
/// many agreed (a disagreement fails with the shrunk sequence).
fn compare<A: Registry, B: Registry>(
    rt: &tokio::runtime::Runtime,
    real: &A,
    model: &B,
    mode: Revisions,
) -> usize {
    let cases = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(op(), 1..24);
    runner
        .run(&strategy, |ops| {
            let n = cases.fetch_add(1, Ordering::Relaxed);
            let prefix = format!("diff/{n}/");
            let (seen, modelled) = rt.block_on(async {
                (
                    run(real, &prefix, &ops, mode).await,
                    run(model, &prefix, &ops, mode).await,
                )
            });
            prop_assert_eq!(seen, modelled, "ops: {:?}", ops);
            Ok(())
        })
        .unwrap();
    cases.load(Ordering::Relaxed)
}

#[test]
fn model_matches_real_etcd_on_generated_sequences() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (etcd, sim, _server) = rt.block_on(async {
        let server = support::Server::etcd().await;
        (server.etcd_registry().await, model().await, server)
    });
    let n = compare(&rt, &etcd, &sim, Revisions::Relative);
    println!("differential: {n} generated sequences agreed with real etcd");
    assert!(n >= 256);
}

/// Lease expiry by the clock: a key on an unrenewed lease disappears from
/// both, using the same revisions, within etcd's bounds.
#[tokio::test]
async fn expiry_matches_real_etcd() {
    let server = support::Server::etcd().await;
    let etcd = server.etcd_registry().await;
    let sim = model().await;
    let mut seen = Vec::new();
    for r in [&etcd, &sim] {
        let lease = r.grant(Duration::from_secs(1)).await.unwrap();
        let base = r.list("exp/").await.unwrap().revision.0;
        r.put("exp/k", "v", Some(&lease.id)).await.unwrap();
        let gone = support::eventually(
            "the leased key to expire",
            Duration::from_secs(10),
            || async { r.get("exp/k").await.unwrap().is_none() },
        )
        .await;
        let after = r.list("exp/").await.unwrap().revision.0 - base;
        let lost = r.keep_alive(&lease.id).await;
        seen.push((
            lease.ttl,
            after,
            matches!(lost, Err(RegistryError::LeaseLost(_))),
        ));
        assert!(
            gone >= Duration::from_millis(1900) && gone < Duration::from_millis(3600),
            "expired after {gone:?}"
        );
    }
    assert_eq!(
        seen[0], seen[1],
        "real etcd vs model: (ttl, revisions used, keepalive lost)"
    );
}

/// Serves the Consul model on a loopback port; returns its client.
async fn consul_model() -> ConsulRegistry {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = clusterlab_sim::consul::server::Store::default();
    tokio::spawn(store.clone().sweep());
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(store.clone().serve(s, None));
        }
    });
    ConsulRegistry::new(&format!("http://{addr}")).unwrap()
}

#[test]
fn model_matches_real_consul_on_generated_sequences() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (consul, sim, _server) = rt.block_on(async {
        let server = support::Server::consul().await;
        (server.consul_registry(), consul_model().await, server)
    });
    let n = compare(&rt, &consul, &sim, Revisions::Labelled);
    println!("differential: {n} generated sequences agreed with real Consul");
    assert!(n >= 256);
}

/// Session expiry by the clock: Consul invalidates an unrenewed session
/// between its TTL and twice its TTL, deleting the keys it holds; the model
/// does it at twice the TTL. Both must agree on what is left and on the
/// renewal after it.
#[tokio::test]
async fn session_expiry_matches_real_consul() {
    let server = support::Server::consul().await;
    let consul = server.consul_registry();
    let sim = consul_model().await;
    let expire = |r: ConsulRegistry| async move {
        let lease = r.grant(Duration::from_secs(10)).await.unwrap();
        r.put("exp/k", "v", Some(&lease.id)).await.unwrap();
        r.put("exp/plain", "v", None).await.unwrap();
        let gone = support::eventually(
            "the session's key to be deleted",
            Duration::from_secs(30),
            || async { r.get("exp/k").await.unwrap().is_none() },
        )
        .await;
        let left: Vec<String> = r
            .list("exp/")
            .await
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.key)
            .collect();
        let lost = matches!(
            r.keep_alive(&lease.id).await,
            Err(RegistryError::LeaseLost(_))
        );
        (gone, left, lost)
    };
    let (real, modelled) = tokio::join!(expire(consul.clone()), expire(sim.clone()));
    let bounds = consul.expiry_bounds(Duration::from_secs(10));
    for (who, (gone, _, _)) in [("consul", &real), ("model", &modelled)] {
        assert!(
            *gone >= bounds.min && *gone <= bounds.max + Duration::from_secs(1),
            "{who}: the session's key went after {gone:?}, outside {bounds:?}"
        );
    }
    assert_eq!(
        (&real.1, real.2),
        (&modelled.1, modelled.2),
        "real Consul vs model: (keys left, renewal lost)"
    );
}

/// Serves the etcd model on loopback; its URL, for clients other than
/// disco's (a compaction, a watch from a revision).
async fn model_url() -> String {
    serve(Store::new()).await
}

/// What a watch from `from` (relative to `base`) says first: cancelled, and
/// where history now starts (relative), or the revisions of its events.
async fn first_watch_answer(url: &str) -> String {
    let mut c = etcd_client::Client::connect([url], None).await.unwrap();
    let base = c.get("x", None).await.unwrap().header().unwrap().revision();
    c.put("a", "1", None).await.unwrap();
    let r2 = c
        .put("a", "2", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    c.compact(r2, None).await.unwrap();
    let mut out = Vec::new();
    for from in [base + 1, r2] {
        let opts = etcd_client::WatchOptions::new().with_start_revision(from);
        let mut stream = c.watch("a", Some(opts)).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(resp) = stream.message().await.unwrap() {
                if resp.canceled() {
                    return format!(
                        "cancelled, history from +{}",
                        resp.compact_revision() - base
                    );
                }
                if !resp.events().is_empty() {
                    let revs: Vec<i64> = resp
                        .events()
                        .iter()
                        .filter_map(|e| e.kv().map(|kv| kv.mod_revision() - base))
                        .collect();
                    return format!("events at {revs:?}");
                }
            }
            "ended".to_string()
        })
        .await
        .unwrap_or_else(|_| "nothing".into());
        out.push(format!("from +{}: {answer}", from - base));
    }
    out.join("; ")
}

/// Compaction, and the watch cancellation it causes, as etcd does it: a
/// watch from before the compacted revision is cancelled with the first
/// revision still kept; one from that revision gets its event.
#[test]
fn a_watch_behind_a_compaction_is_cancelled_by_both() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = support::Server::etcd().await;
        let real = first_watch_answer(&server.url).await;
        let model = first_watch_answer(&model_url().await).await;
        println!("real etcd: {real}\nmodel:     {model}");
        assert!(real.contains("cancelled"), "{real}");
        assert_eq!(model, real);
    });
}

/// A raw Consul HTTP call: status and body.
async fn consul_call(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let http = disco::backend::http::builder().build().unwrap();
    let req = http.request(method.parse().unwrap(), format!("{base}{path}"));
    let req = match body {
        Some(b) => req.body(b.to_string()),
        None => req,
    };
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn consul_session(base: &str, extra: &str) -> Result<String, (u16, String)> {
    let body = format!(
        r#"{{"Name":"t","TTL":"30s","Behavior":"delete","Checks":[],"NodeChecks":[]{extra}}}"#
    );
    let (status, text) = consul_call(base, "PUT", "/v1/session/create", Some(&body)).await;
    if status != 200 {
        return Err((status, text));
    }
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Ok(v["ID"].as_str().unwrap().to_string())
}

async fn consul_lock(base: &str, key: &str, session: &str) -> u16 {
    let value = base64::engine::general_purpose::STANDARD.encode("v");
    let ops = format!(
        r#"[{{"KV":{{"Verb":"lock","Key":"{key}","Value":"{value}","Session":"{session}"}}}}]"#
    );
    consul_call(base, "PUT", "/v1/txn", Some(&ops)).await.0
}

/// Consul's lock-delay and its node deregistration, step by step, as real
/// Consul answers and as the model does: a key held by a session that is
/// destroyed cannot be locked again at once under the default 15 s
/// lock-delay, but can with `LockDelay = 0s`; deregistering the node
/// invalidates its sessions and refuses new ones until it is back.
async fn consul_store_steps(base: String, node: String, prefix: &str) -> Vec<String> {
    {
        let mut out = Vec::new();
        for (name, extra) in [("default", ""), ("zero", r#","LockDelay":"0s""#)] {
            let key = format!("{prefix}/ld/{name}");
            let a = consul_session(&base, extra).await.unwrap();
            out.push(format!(
                "{name}: lock {}",
                consul_lock(&base, &key, &a).await
            ));
            consul_call(&base, "PUT", &format!("/v1/session/destroy/{a}"), None).await;
            let b = consul_session(&base, "").await.unwrap();
            out.push(format!(
                "{name}: relock {}",
                consul_lock(&base, &key, &b).await
            ));
        }
        let s = consul_session(&base, r#","LockDelay":"0s""#).await.unwrap();
        let held = format!("{prefix}/dn/k");
        consul_lock(&base, &held, &s).await;
        let body = format!(r#"{{"Node":"{node}"}}"#);
        consul_call(&base, "PUT", "/v1/catalog/deregister", Some(&body)).await;
        let (_, info) = consul_call(&base, "GET", &format!("/v1/session/info/{s}"), None).await;
        out.push(format!("session after deregister: {}", info.trim()));
        let (status, _) = consul_call(&base, "GET", &format!("/v1/kv/{held}"), None).await;
        out.push(format!("its key: {status}"));
        out.push(format!(
            "new session: {}",
            match consul_session(&base, "").await {
                Ok(_) => "created".to_string(),
                Err((status, _)) => format!("refused {status}"),
            }
        ));
        out
    }
}

#[test]
fn lock_delay_and_node_deregistration_match_real_consul() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = support::Server::consul().await;
        let node = format!("t{}", server.port);
        let mut real = Vec::new();
        for attempt in 0..3 {
            real =
                consul_store_steps(server.url.clone(), node.clone(), &format!("a{attempt}")).await;
            // Consul puts back a node whose agent lives (its leader's
            // reconcile with Serf, the agent's anti-entropy sync), at a time
            // of its own: when that lands between the deregistration and
            // the next session, the steps met the node back, which is no
            // disagreement. Run them again on fresh keys; a real one stays.
            let (status, body) = consul_call(
                &server.url,
                "GET",
                &format!("/v1/catalog/node/{node}"),
                None,
            )
            .await;
            let back = status == 200 && body.trim() != "null";
            if !(back && real.last().is_some_and(|l| l.ends_with("created"))) {
                break;
            }
            println!("attempt {attempt}: node {node} was registered again meanwhile: {real:?}");
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = clusterlab_sim::consul::server::Store::default();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(store.clone().serve(s, None));
            }
        });
        let model = consul_store_steps(format!("http://{addr}"), "any".into(), "a0").await;
        println!("real Consul: {real:#?}\nmodel:       {model:#?}");
        assert_eq!(model, real);
    });
}
