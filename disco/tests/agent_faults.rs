//! The agent's own bugs, each triggered as the review described it, against
//! real etcd, the agent as a process (its gate, its commit on ready, its
//! signals, its waits) or disco's pieces as a library (renewals, the
//! campaign). A stall proxy between an agent and etcd loses replies or cuts
//! the node off; small HTTP servers play the database's probes.

use clusterlab_servers as support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use disco::announce::{AnnounceConfig, Announcement};
use disco::leader::{Election, LeaderRecord};
use disco::{Keys, Registry};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use support::faulty::{Fault, Faulty};
use support::stall::StallProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const AGENT: &str = env!("CARGO_BIN_EXE_disco-agent");

/// An agent process in its own process group, killed when dropped. Its
/// "database" marks that it runs with a file it removes when stopped.
struct Agent {
    child: Child,
    running: PathBuf,
    log: PathBuf,
}

impl Agent {
    fn spawn(store: &str, cluster: &str, node: &str, dir: &Path, flags: &[&str]) -> Agent {
        let running = dir.join(format!("{node}.running"));
        let log = dir.join(format!("{node}.log"));
        let child = Command::new(AGENT)
            .args(["--etcd", store, "--cluster", cluster, "--node-id", node])
            .args(["--ttl", "3s", "--advertise", &format!("{node}.test:7000")])
            .args(flags)
            .args([
                "--",
                "sh",
                "-c",
                r#"touch "$0"; trap 'rm -f "$0"; exit 0' TERM INT; while :; do sleep 0.05; done"#,
            ])
            .arg(&running)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0)
            .spawn()
            .expect("spawn disco-agent");
        Agent {
            child,
            running,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn database_runs(&self) -> bool {
        self.running.exists()
    }

    /// Signals the agent alone (not its database).
    fn signal(&self, sig: Signal) {
        let _ = nix::sys::signal::kill(Pid::from_raw(self.child.id() as i32), sig);
    }

    /// The agent's exit status within `deadline`, if it exited.
    async fn exited(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Node `a` (at `a:1`) announcing itself with a TTL of `ttl` seconds: the
/// library tests' one node.
fn announce_a<R: Registry>(registry: R, keys: Keys, ttl: u64) -> Announcement {
    Announcement::start(
        registry,
        keys,
        AnnounceConfig {
            node: "a".into(),
            address: "a:1".into(),
            ttl: Duration::from_secs(ttl),
        },
    )
}

/// A database probe: answers 200 while `yes` holds, 503 otherwise.
async fn probe(yes: Arc<AtomicBool>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            let yes = yes.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = c.read(&mut buf).await;
                let head = if yes { "200 OK" } else { "503 No" };
                let _ = c
                    .write_all(
                        format!(
                            "HTTP/1.1 {head}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    url
}

/// Whether the agent's status endpoint on `port` reports a leadership window.
async fn leads(port: u16) -> bool {
    let http = disco::backend::http::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let Ok(r) = http.get(format!("http://127.0.0.1:{port}/")).send().await else {
        return false;
    };
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    !v["leader"].is_null()
}

/// Waits for `cond`, up to `deadline`.
async fn until(deadline: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Bug 1: in gate mode the agent stopped saying it leads only once its
/// resignation's compare-and-delete had answered. With the delete applied
/// and its reply lost, the next leader took the key and led while the old
/// one still reported its window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_leader_stops_leading_before_it_resigns() {
    let s = support::Server::etcd().await;
    let proxy = StallProxy::start(s.port).await;
    let dir = tempfile::tempdir().unwrap();
    let (a_leads, b_leads) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(false)),
    );
    let (pa, pb) = (support::free_port(), support::free_port());
    let (probe_a, probe_b) = (probe(a_leads.clone()).await, probe(b_leads.clone()).await);
    let _a = Agent::spawn(
        &proxy.url,
        "gate",
        "a",
        dir.path(),
        &["--leader-probe", &probe_a, "--status-port", &pa.to_string()],
    );
    let _b = Agent::spawn(
        &s.url,
        "gate",
        "b",
        dir.path(),
        &["--leader-probe", &probe_b, "--status-port", &pb.to_string()],
    );
    assert!(
        until(Duration::from_secs(20), async || leads(pa).await).await,
        "a never led"
    );
    // a's database stops leading, b's starts; a's resignation reaches etcd
    // but its answer never comes back.
    proxy.stall_replies();
    a_leads.store(false, Ordering::SeqCst);
    b_leads.store(true, Ordering::SeqCst);
    let start = Instant::now();
    let mut b_led = false;
    while start.elapsed() < Duration::from_secs(8) {
        let (a, b) = tokio::join!(leads(pa), leads(pb));
        assert!(
            !(a && b),
            "a and b both report a leadership window {:?} after the switch",
            start.elapsed()
        );
        b_led |= b;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(b_led, "b never took the key");
}

/// Bug 2: a gated agent whose database stopped leading while its create
/// was in flight dropped the create; the key it had written stayed on its
/// live lease, renewed for ever, and nobody else could lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_mid_campaign_takes_back_the_key_it_won() {
    let s = support::Server::etcd().await;
    let proxy = StallProxy::start(s.port).await;
    let dir = tempfile::tempdir().unwrap();
    let leads_now = Arc::new(AtomicBool::new(false));
    let probe_url = probe(leads_now.clone()).await;
    let mut a = Agent::spawn(
        &proxy.url,
        "stuck",
        "a",
        dir.path(),
        &["--leader-probe", &probe_url],
    );
    let r = s.etcd_registry().await;
    let keys = Keys::new("disco", "stuck");
    assert!(
        until(Duration::from_secs(20), async || a.database_runs()).await,
        "a's database never started: {}",
        a.log()
    );
    // The create reaches etcd, its answer does not (nor any other, on any
    // connection); then the database stops leading before the campaign
    // heard back, and the store answers again.
    proxy.hold_replies();
    leads_now.store(true, Ordering::SeqCst);
    assert!(
        until(Duration::from_secs(10), async || {
            r.get(&keys.leader()).await.ok().flatten().is_some()
        })
        .await,
        "a's create never landed: {}",
        a.log()
    );
    leads_now.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.release_replies();
    let gone = until(Duration::from_secs(15), async || {
        r.get(&keys.leader()).await.ok().flatten().is_none()
    })
    .await;
    assert!(
        a.exited(Duration::ZERO).await.is_none(),
        "a died: {}",
        a.log()
    );
    assert!(
        r.get(&keys.member("a")).await.unwrap().is_some(),
        "a's lease lives: its key is still there"
    );
    assert!(
        gone,
        "the leader key a won while its database stopped leading still names it on its live lease"
    );
}

/// A database probe for the gate as a library: leads while the flag holds.
#[derive(Clone)]
struct Leads(Arc<AtomicBool>);

impl disco::agent::Probe for Leads {
    async fn leads(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    async fn ready(&self) -> bool {
        true
    }
}

/// A gated leader whose resignation the store refused (not applied) still
/// has the key on its live lease, renewed as long as it lives: the gate
/// takes it back within a period of its loop (250 ms), trying again while
/// the store refuses, instead of leaving every other campaign waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resignation_the_store_refused_is_taken_back() {
    let s = support::Server::etcd().await;
    let (r, control) = Faulty::new(s.etcd_registry().await);
    let store = s.etcd_registry().await;
    let keys = Keys::new("disco", "stale");
    let a = announce_a(r.clone(), keys.clone(), 5);
    a.registered(Duration::from_secs(5)).await.unwrap();
    let leads = Arc::new(AtomicBool::new(true));
    let (view, _seen) = tokio::sync::watch::channel(disco::leader::Leadership::Unknown);
    let gate = disco::agent::gate::Gate::start(
        r.clone(),
        keys.clone(),
        LeaderRecord {
            node: "a".into(),
            address: "a:1".into(),
        },
        a.subscribe(),
        Leads(leads.clone()),
        view,
    );
    assert!(
        until(Duration::from_secs(10), async || {
            store.get(&keys.leader()).await.ok().flatten().is_some()
        })
        .await,
        "a never took the key"
    );
    // The resignation refused, and the first try to take the key back too.
    control.once("cad", Fault::Reject);
    control.once("cad", Fault::Reject);
    leads.store(false, Ordering::SeqCst);
    let gone = until(Duration::from_secs(10), async || {
        matches!(store.get(&keys.leader()).await, Ok(None))
    })
    .await;
    let tries = control.calls("cad");
    gate.stop().await;
    a.stop().await;
    assert!(tries >= 3, "{tries} compare-and-deletes: the gate gave up");
    assert!(
        gone,
        "the key whose resignation was refused still names a on its live lease ({tries} compare-and-deletes)"
    );
}

/// Bug 3: a bootstrapper whose database was not ready yet, cut from the
/// store past its TTL, kept its new cluster running while its claim lapsed
/// and another node could claim and bootstrap a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrapper_whose_claim_lapses_stops_its_database() {
    let s = support::Server::etcd().await;
    let proxy = StallProxy::start(s.port).await;
    let dir = tempfile::tempdir().unwrap();
    let ready = probe(Arc::new(AtomicBool::new(false))).await;
    let a = Agent::spawn(
        &proxy.url,
        "lapse",
        "a",
        dir.path(),
        &["--ready-probe", &ready],
    );
    assert!(
        until(Duration::from_secs(20), async || a.database_runs()).await,
        "a's database never started: {}",
        a.log()
    );
    proxy.cut();
    let cut = Instant::now();
    // Its claim lives on its lease: by the time etcd can let it go (TTL
    // 3 s after the last renewal, checked every 500 ms), the database must
    // be stopping; a second of slack for the stop itself.
    let stopped = until(Duration::from_secs(5), async || !a.database_runs()).await;
    assert!(
        stopped,
        "a's database still runs {:?} after a was cut from the store: {}",
        cut.elapsed(),
        a.log()
    );
}

/// Bug 4: before its database started the agent had no signal handler (as
/// a container's PID 1 it ignored SIGTERM until Docker's SIGKILL; as any
/// other process it died at once), so nothing was resigned or deregistered:
/// the node's keys stayed for a TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_in_any_phase_of_start_up_ends_the_agent_and_deregisters() {
    let s = support::Server::etcd().await;
    let r = s.etcd_registry().await;
    let dir = tempfile::tempdir().unwrap();
    // Registering: the store cannot be reached.
    let proxy = StallProxy::start(s.port).await;
    proxy.cut();
    let mut a = Agent::spawn(&proxy.url, "stop", "a", dir.path(), &[]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.signal(Signal::SIGTERM);
    // Nothing to deregister, and nothing answers: the cleanup is bounded.
    let st = a
        .exited(disco::agent::STOP_TIMEOUT + Duration::from_secs(1))
        .await;
    assert_eq!(
        st.and_then(|s| s.code()),
        Some(0),
        "registering: {st:?}: {}",
        a.log()
    );
    // Joining: the cluster exists (bootstrapped by a node that is gone),
    // and the agent waits for someone to join.
    let keys = Keys::new("disco", "stop");
    r.put(
        &keys.bootstrap(),
        r#"{"node":"ghost","lease":"","committed":true}"#,
        None,
    )
    .await
    .unwrap();
    for (sig, name) in [(Signal::SIGTERM, "b"), (Signal::SIGINT, "c")] {
        let mut b = Agent::spawn(&s.url, "stop", name, dir.path(), &[]);
        assert!(
            until(Duration::from_secs(20), async || {
                r.get(&keys.member(name)).await.ok().flatten().is_some()
            })
            .await,
            "{name} never registered: {}",
            b.log()
        );
        b.signal(sig);
        let st = b.exited(Duration::from_secs(3)).await;
        assert_eq!(
            st.and_then(|s| s.code()),
            Some(0),
            "joining, {sig}: {st:?}: {}",
            b.log()
        );
        assert!(
            r.get(&keys.member(name)).await.unwrap().is_none(),
            "joining, {sig}: {name}'s member key stayed after it stopped"
        );
    }
    // Waiting for its new database to be ready: the claim goes too.
    let ready = probe(Arc::new(AtomicBool::new(false))).await;
    let keys = Keys::new("disco", "stop-ready");
    let mut d = Agent::spawn(
        &s.url,
        "stop-ready",
        "d",
        dir.path(),
        &["--ready-probe", &ready],
    );
    assert!(
        until(Duration::from_secs(20), async || d.database_runs()).await,
        "{}",
        d.log()
    );
    d.signal(Signal::SIGTERM);
    let st = d.exited(Duration::from_secs(3)).await;
    assert!(st.is_some(), "waiting for readiness: {}", d.log());
    assert!(r.get(&keys.member("d")).await.unwrap().is_none());
    assert!(
        r.get(&keys.bootstrap()).await.unwrap().is_none(),
        "the uncommitted claim went with the lease"
    );
}

/// Bug 5: a bootstrapper whose database never passed its ready probe held
/// its claim for ever, and every joiner waited silently on it. Both waits
/// now end by their deadline with an error that names them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_on_a_bootstrap_end_by_their_deadlines() {
    let s = support::Server::etcd().await;
    let r = s.etcd_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let ready = probe(Arc::new(AtomicBool::new(false))).await;
    let mut a = Agent::spawn(
        &s.url,
        "wait",
        "a",
        dir.path(),
        &["--ready-probe", &ready, "--ready-timeout", "2s"],
    );
    let st = a.exited(Duration::from_secs(10)).await;
    assert!(st.is_some_and(|s| !s.success()), "{st:?}: {}", a.log());
    assert!(a.log().contains("was not ready within 2s"), "{}", a.log());
    assert!(!a.database_runs(), "its new database was stopped");
    // A joiner facing a claim that neither commits nor lapses (its lease
    // is kept alive by someone who never starts a database).
    let keys = Keys::new("disco", "wait-join");
    let lease = r.grant(Duration::from_secs(10)).await.unwrap();
    r.put(
        &keys.bootstrap(),
        &format!(
            r#"{{"node":"ghost","lease":"{}","committed":false}}"#,
            lease.id
        ),
        Some(&lease.id),
    )
    .await
    .unwrap();
    let keep = {
        let (r, id) = (r.clone(), lease.id.clone());
        tokio::spawn(async move {
            loop {
                let _ = r.keep_alive(&id).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let mut b = Agent::spawn(
        &s.url,
        "wait-join",
        "b",
        dir.path(),
        &["--join-timeout", "2s"],
    );
    let st = b.exited(Duration::from_secs(10)).await;
    keep.abort();
    assert!(st.is_some_and(|s| !s.success()), "{st:?}: {}", b.log());
    assert!(b.log().contains("the bootstrap decision"), "{}", b.log());
}

/// Bug 6: the renewal loop made its other store calls (the member key's
/// watch, its read) inline with their own 5 s deadline: a store that
/// stalled just after a good renewal cost a short-TTL node its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_stalled_after_a_renewal_does_not_cost_the_lease() {
    let s = support::Server::etcd().await;
    let (r, control) = Faulty::new(s.etcd_registry().await);
    control.always("watch", Fault::Stall);
    control.always("get", Fault::Stall);
    let keys = Keys::new("disco", "renew");
    let a = announce_a(r, keys.clone(), 3);
    let first = a.registered(Duration::from_secs(5)).await.unwrap().lease.id;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let direct = s.etcd_registry().await;
    let key = direct.get(&keys.member("a")).await.unwrap();
    assert_eq!(
        key.and_then(|e| e.lease),
        Some(first),
        "three TTLs on, a's key must still live on its first lease"
    );
}

/// Bug 7: a create answered with a conflict while the key is absent (a
/// Consul 409 during a lock-delay) sent the campaign straight back: three
/// requests a turn, no sleep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_refused_with_no_holder_backs_off() {
    let s = support::Server::etcd().await;
    let (r, control) = Faulty::new(s.etcd_registry().await);
    let keys = Keys::new("disco", "spin");
    let a = announce_a(r.clone(), keys.clone(), 5);
    a.registered(Duration::from_secs(5)).await.unwrap();
    control.always("create", Fault::Refuse);
    let e = Election::start(
        r,
        keys,
        LeaderRecord {
            node: "a".into(),
            address: "a:1".into(),
        },
        a.subscribe(),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let creates = control.calls("create");
    e.resign().await;
    assert!(
        creates <= 15,
        "{creates} creates in 2 s: the campaign does not back off"
    );
}

/// Bug 8: the status endpoint waited for ever on a client that sends
/// nothing (a connection, a task and a descriptor held for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_endpoint_drops_a_silent_client() {
    let s = support::Server::etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let _a = Agent::spawn(
        &s.url,
        "silent",
        "a",
        dir.path(),
        &["--status-port", &port.to_string()],
    );
    let addr = format!("127.0.0.1:{port}");
    let mut conn = None;
    for _ in 0..200 {
        if let Ok(c) = tokio::net::TcpStream::connect(&addr).await {
            conn = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut conn = conn.expect("the status endpoint listens");
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "a client that sends nothing is held for ever"
    );
}

/// Bug 8: the etcd client remembered every lease it ever granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etcd_client_forgets_leases_it_revoked() {
    let s = support::Server::etcd().await;
    let r = s.etcd_registry().await;
    for _ in 0..3 {
        let l = r.grant(Duration::from_secs(5)).await.unwrap();
        r.revoke(&l.id).await.unwrap();
    }
    assert_eq!(r.leases_known(), 0);
}

/// Bug 8: the peer watch's retries were jittered by the cluster's key
/// prefix, the same for every node: after an outage the nodes of a cluster
/// listed the store again in lockstep, against the backoff's own promise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_of_a_cluster_retry_their_watches_apart() {
    use disco::node::{Node, NodeConfig};
    let s = support::Server::etcd().await;
    let mut nodes = Vec::new();
    let mut controls = Vec::new();
    for n in ["n1", "n2"] {
        let (r, control) = Faulty::new(s.etcd_registry().await);
        let cfg = NodeConfig {
            prefix: "disco".into(),
            cluster: "apart".into(),
            node: n.into(),
            address: format!("{n}:1"),
            ttl: Duration::from_secs(30),
            campaign: false,
        };
        control.always("watch", Fault::Refuse);
        nodes.push(Node::start(r, cfg, Duration::from_secs(10)).await.unwrap());
        controls.push(control);
    }
    // When each node's watch was tried again, for three seconds.
    let start = Instant::now();
    let mut seen = [0usize; 2];
    let mut retries: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    while start.elapsed() < Duration::from_secs(3) {
        for i in 0..2 {
            let c = controls[i].calls("watch");
            if c > seen[i] {
                seen[i] = c;
                retries[i].push(start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let gaps: Vec<i128> = retries[0]
        .iter()
        .zip(&retries[1])
        .map(|(a, b)| b.as_millis() as i128 - a.as_millis() as i128)
        .collect();
    let spread = gaps.iter().max().unwrap() - gaps.iter().min().unwrap();
    for n in nodes {
        n.shutdown().await;
    }
    assert!(gaps.len() >= 4, "{retries:?}");
    assert!(
        spread > 50,
        "the two nodes retried {spread} ms apart at most: in lockstep ({gaps:?})"
    );
}

/// A registration the store answers slowly (grant and put 1.2 s each, TTL
/// 3 s) leaves the lease certainly alive from the moment it is announced:
/// the first renewal is due a third of the TTL after the grant was sent.
/// Counted from the put's answer, the lease's certain life (0.9 TTL from the
/// grant's sending, 2.7 s) ended before the first renewal (3.4 s), and a
/// bootstrapper's claim on it lapsed at once (jitter-cold-start in
/// containers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_registration_keeps_its_lease_certainly_alive() {
    let s = support::Server::etcd().await;
    let (r, control) = Faulty::new(s.etcd_registry().await);
    control.always("grant", Fault::Delay(Duration::from_millis(1200)));
    control.always("put", Fault::Delay(Duration::from_millis(1200)));
    let a = announce_a(r, Keys::new("disco", "slow"), 3);
    let lease = a.subscribe();
    a.registered(Duration::from_secs(10)).await.unwrap();
    // Two TTLs of watching: at every sample the lease is certainly alive.
    let end = Instant::now() + Duration::from_secs(6);
    while Instant::now() < end {
        let state = lease.borrow().clone();
        assert!(
            state.as_ref().is_some_and(|l| l.is_valid()),
            "the lease's certain life ran out while it was being renewed: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
