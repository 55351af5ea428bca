//! `disco-agent` as a process: cold starts, leader death, bad input and an
//! unreachable store, against real etcd and Consul.

use clusterlab_servers as support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use disco::leader::LeaderRecord;
use disco::{Keys, Registry};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;

const AGENT: &str = env!("CARGO_BIN_EXE_disco-agent");

/// One agent process in its own process group, killed with its database
/// when dropped.
struct Agent {
    node: String,
    child: Child,
    out: PathBuf,
    log: PathBuf,
}

impl Agent {
    /// Starts an agent whose "database" writes its rendered arguments to a
    /// file and sleeps.
    fn spawn(store: &[&str], cluster: &str, node: &str, ttl: &str, dir: &Path) -> Agent {
        Agent::spawn_with(store, cluster, node, ttl, dir, &[])
    }

    /// [`Agent::spawn`] with more agent flags.
    fn spawn_with(
        store: &[&str],
        cluster: &str,
        node: &str,
        ttl: &str,
        dir: &Path,
        flags: &[&str],
    ) -> Agent {
        let out = dir.join(format!("{node}.out"));
        let log = dir.join(format!("{node}.log"));
        let child = Command::new(AGENT)
            .args(store)
            .args(["--cluster", cluster, "--node-id", node, "--ttl", ttl])
            .args(flags)
            .args(["--advertise", &format!("{node}.test:7000")])
            .args([
                "--",
                "sh",
                "-c",
                r#"echo "$1 $2" > "$0.tmp"; mv "$0.tmp" "$0"; exec sleep 600"#,
            ])
            .arg(&out)
            .args(["{state}", "{peers}"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0)
            .spawn()
            .expect("spawn disco-agent");
        Agent {
            node: node.into(),
            child,
            out,
            log,
        }
    }

    fn signal(&self, sig: Signal) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), sig);
    }

    fn output(&self) -> Option<String> {
        std::fs::read_to_string(&self.out).ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the agent to exit; its exit code.
    async fn exited(&mut self, deadline: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Runs `$test(store_args, registry, ttl)` against each backend.
macro_rules! both {
    ($name:ident, $etcd_ttl:expr, $consul_ttl:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn etcd() {
                let s = support::Server::etcd().await;
                super::$name(&["--etcd", &s.url], s.etcd_registry().await, $etcd_ttl).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn consul() {
                let s = support::Server::consul().await;
                super::$name(&["--consul", &s.url], s.consul_registry(), $consul_ttl).await;
            }
        }
    };
}

both!(five_agents_started_at_once_bootstrap_once, 2, 10);
async fn five_agents_started_at_once_bootstrap_once<R: Registry>(store: &[&str], r: R, ttl: u64) {
    let dir = tempfile::tempdir().unwrap();
    let ttl = format!("{ttl}s");
    let journal = |node: &str| dir.path().join(format!("{node}.journal"));
    let mut agents: Vec<Agent> = (0..5)
        .map(|i| {
            let node = format!("n{i}");
            let j = journal(&node);
            let flags = ["--journal", j.to_str().unwrap()];
            Agent::spawn_with(store, "cold", &node, &ttl, dir.path(), &flags)
        })
        .collect();
    support::eventually(
        "all five databases to start",
        Duration::from_secs(30),
        || {
            let done = agents.iter().all(|a| a.output().is_some());
            async move { done }
        },
    )
    .await;
    let outs: Vec<(String, String)> = agents
        .iter()
        .map(|a| (a.node.clone(), a.output().unwrap()))
        .collect();
    let new: Vec<_> = outs.iter().filter(|(_, o)| o.starts_with("new")).collect();
    assert_eq!(new.len(), 1, "exactly one bootstraps: {outs:?}");
    assert_eq!(
        new[0].1.trim(),
        "new",
        "the bootstrapper starts alone, with no peers"
    );
    // The journal, which the lab's checks read, says who claimed: the
    // bootstrapper alone.
    for (node, _) in &outs {
        let text = std::fs::read_to_string(journal(node))
            .unwrap_or_else(|e| panic!("{node}'s journal: {e}"));
        let claims = text
            .lines()
            .filter_map(|l| serde_json::from_str::<disco::journal::Line>(l).ok())
            .filter(|l| l.claim)
            .count();
        let expected = usize::from(*node == new[0].0);
        assert_eq!(claims, expected, "{node}'s journal claims: {text}");
    }
    let boot_addr = format!("{}.test:7000", new[0].0);
    for (node, out) in &outs {
        if out.starts_with("existing") {
            assert!(
                out.contains(&boot_addr),
                "{node} joins through the bootstrapper: {out}"
            );
        }
    }
    // SIGTERM is forwarded, the database exits, the agent deregisters.
    let keys = Keys::new("disco", "cold");
    assert_eq!(r.list(&keys.members()).await.unwrap().entries.len(), 5);
    for a in &agents {
        let _ = nix::sys::signal::kill(Pid::from_raw(a.child.id() as i32), Signal::SIGTERM);
    }
    for a in &mut agents {
        let code = a.exited(Duration::from_secs(15)).await;
        assert_eq!(
            code,
            Some(128 + 15),
            "{} exits as its database did (SIGTERM): {}",
            a.node,
            a.log()
        );
    }
    assert!(
        r.list(&keys.members()).await.unwrap().entries.is_empty(),
        "all deregistered"
    );
    assert!(
        r.get(&keys.leader()).await.unwrap().is_none(),
        "leader resigned"
    );
}

both!(killing_the_leaders_agent_hands_over_the_key, 3, 10);
async fn killing_the_leaders_agent_hands_over_the_key<R: Registry>(store: &[&str], r: R, ttl: u64) {
    let dir = tempfile::tempdir().unwrap();
    let ttl = Duration::from_secs(ttl);
    let ttl_arg = format!("{}s", ttl.as_secs());
    let agents: Vec<Agent> = (0..3)
        .map(|i| Agent::spawn(store, "lead", &format!("n{i}"), &ttl_arg, dir.path()))
        .collect();
    let keys = Keys::new("disco", "lead");
    let mut watch = r.watch(&keys.leader()).await.unwrap();
    let first = loop {
        let snap = watch.next().await.unwrap().unwrap();
        if let Some(e) = snap.entries.iter().find(|e| e.key == keys.leader()) {
            break LeaderRecord::parse(&e.value).unwrap();
        }
    };
    let idx = agents.iter().position(|a| a.node == first.node).unwrap();
    let killed = Instant::now();
    agents[idx].signal(Signal::SIGKILL); // no deregistration: only the TTL helps
    let limit = r.expiry_bounds(ttl).max + ttl / 3;
    let next = tokio::time::timeout(limit + Duration::from_secs(2), async {
        loop {
            let snap = watch.next().await.unwrap().unwrap();
            if let Some(e) = snap.entries.iter().find(|e| e.key == keys.leader()) {
                let rec = LeaderRecord::parse(&e.value).unwrap();
                if rec.node != first.node {
                    return rec;
                }
            }
        }
    })
    .await
    .expect("a new leader takes the key");
    let took = killed.elapsed();
    eprintln!(
        "{}: leader {} killed, {} holds the key after {took:?} (bound {limit:?})",
        r.kind(),
        first.node,
        next.node
    );
    assert!(
        took <= limit,
        "failover took {took:?}, more than expiry bound + one keep-alive {limit:?}"
    );
    assert!(
        agents.iter().any(|a| a.node == next.node),
        "the key names a live agent"
    );
    assert!(
        !r.list(&keys.members())
            .await
            .unwrap()
            .entries
            .iter()
            .any(|e| e.key == keys.member(&first.node)),
        "the dead leader's member key expired with it"
    );
}

/// `--status-port`: each agent says what it decided at boot, whom disco
/// sees, and whether it may act as leader and for how long; exactly one
/// bootstrapped and exactly one holds a window no longer than the TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_endpoint_reports_role_peers_and_the_leadership_window() {
    let s = support::Server::etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let ports = [support::free_port(), support::free_port()];
    let agents: Vec<Agent> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let flags = ["--status-port", &p.to_string()];
            Agent::spawn_with(
                &["--etcd", &s.url],
                "st",
                &format!("n{i}"),
                "3s",
                dir.path(),
                &flags,
            )
        })
        .collect();
    let http = disco::backend::http::builder().build().unwrap();
    let status = |port: u16| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://127.0.0.1:{port}/status"))
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .ok()?;
            r.json::<serde_json::Value>().await.ok()
        }
    };
    let start = Instant::now();
    let seen = loop {
        let (a, b) = tokio::join!(status(ports[0]), status(ports[1]));
        let seen: Vec<serde_json::Value> = [a, b].into_iter().flatten().collect();
        if seen.len() == 2
            && seen
                .iter()
                .all(|v| v["peers"].as_array().is_some_and(|p| p.len() == 2))
            && seen.iter().any(|v| !v["leader"].is_null())
            && seen.iter().all(|v| v["phase"] == "running")
        {
            break seen;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "both agents report their databases running, with a leader among them: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let roles: Vec<&str> = seen.iter().map(|v| v["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles.iter().filter(|r| **r == "bootstrap").count(),
        1,
        "{seen:?}"
    );
    let windows: Vec<&serde_json::Value> = seen.iter().filter(|v| !v["leader"].is_null()).collect();
    assert_eq!(windows.len(), 1, "one leader: {seen:?}");
    let left = windows[0]["leader"]["valid_for_ms"].as_u64().unwrap();
    assert!(left <= 3_000, "a window never outlasts the TTL: {left} ms");
    assert!(windows[0]["leader"]["token"].as_u64().unwrap() > 0);
    assert!(seen.iter().all(|v| v["registered"] == true), "{seen:?}");
    drop(agents);
}

#[tokio::test]
async fn an_unreachable_store_is_retried_with_backoff_then_joined() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let agent = Agent::spawn(&["--etcd", &url], "late", "n1", "2s", dir.path());
    support::eventually("two logged retries", Duration::from_secs(20), || {
        let n = agent.log().matches("retrying").count();
        async move { n >= 2 }
    })
    .await;
    let log = agent.log();
    assert!(
        log.contains(&format!("etcd registry unreachable at {url}")),
        "the error names the store and endpoint:\n{log}"
    );
    assert!(
        agent.output().is_none(),
        "the database does not start without the store"
    );
    let _etcd = support::Server::etcd_on(port).await;
    support::eventually("the database to start", Duration::from_secs(20), || {
        let out = agent.output();
        async move { out.is_some_and(|o| o.starts_with("new")) }
    })
    .await;
}

/// A --wait-for-file that never appears ends the start at
/// --startup-timeout, naming the file.
#[test]
fn a_file_waited_for_that_never_appears_is_named() {
    let out = Command::new(AGENT)
        .args([
            "--etcd",
            "http://127.0.0.1:1",
            "--cluster",
            "c",
            "--node-id",
            "n1",
        ])
        .args(["--advertise", "h:1", "--startup-timeout", "200ms"])
        .args(["--wait-for-file", "/nonexistent/start", "--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("/nonexistent/start did not appear within --startup-timeout"),
        "{err}"
    );
}

/// Runs `cmd` to its end, killed after 20 s (an agent that goes on
/// instead of refusing its input must fail the test, not hang it): its
/// exit code (`None` if killed) and stderr.
fn run_briefly(cmd: &mut Command) -> (Option<i32>, String) {
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = std::fs::read_to_string(err.path()).unwrap_or_default();
    (status.and_then(|s| s.code()), text)
}

#[test]
fn invalid_config_is_a_clear_error_with_exit_code_2() {
    let base = ["--cluster", "c", "--node-id", "n1", "--advertise", "h:1"];
    let cases: &[(&[&str], &str)] = &[
        (&["--", "db"], "no discovery store"),
        (
            &["--etcd", "127.0.0.1:2379", "--", "db"],
            "must start with http://",
        ),
        (
            &["--consul", "http://h:8500", "--ttl", "5s", "--", "db"],
            "below Consul's minimum",
        ),
        (
            &["--etcd", "http://h:2379", "--", "db", "--join={peerz}"],
            "unknown placeholder {peerz}",
        ),
        (
            &["--etcd", "http://h:2379", "--ttl", "ten", "--", "db"],
            "not a duration",
        ),
        (&["--etcd", "http://h:2379"], "required"),
        (
            &["--etcd", "http://h:2379", "--token", "t", "--", "db"],
            "--token is a Consul ACL token",
        ),
        (
            &["--consul", "http://h:8501", "--ca", "ca.pem", "--", "db"],
            "must start with https://",
        ),
        (
            &["--consul", "https://h:8501", "--", "db"],
            "must start with http://",
        ),
        (
            &[
                "--consul",
                "http://h:8500",
                "--token-file",
                "/nonexistent/token",
                "--",
                "db",
            ],
            "cannot read /nonexistent/token",
        ),
    ];
    for (args, want) in cases {
        let (code, err) = run_briefly(Command::new(AGENT).args(base).args(*args));
        assert_eq!(code, Some(2), "{args:?} exits 2: {err}");
        assert!(err.contains(want), "{args:?} says {want:?}: {err}");
    }
    let (code, err) = run_briefly(Command::new(AGENT).args([
        "--etcd",
        "http://h:2379",
        "--cluster",
        "a/b",
        "--node-id",
        "n1",
        "--advertise",
        "h:1",
        "--",
        "db",
    ]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--cluster \"a/b\""), "{err}");
}
