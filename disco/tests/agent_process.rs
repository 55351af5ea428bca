//! The agent's child process as a container runs it, against real etcd: as
//! PID 1 the agent reaps the orphans its database leaves behind (Patroni's
//! postmaster is one), and a joiner of an etcd cluster adds itself through
//! MemberAdd as a learner and is promoted once its etcd runs.

use clusterlab_servers as support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use disco::Registry;
use etcd_client::Client;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

const AGENT: &str = env!("CARGO_BIN_EXE_disco-agent");

/// A process group (an agent, or `unshare` running one), killed with
/// everything in it when dropped.
struct Group(Child);

impl Group {
    fn spawn(cmd: &mut Command, log: &Path) -> Group {
        let child = cmd
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .process_group(0)
            .spawn()
            .expect("spawn");
        Group(child)
    }
}

impl Group {
    /// The exit status of the group's leader, which must end within
    /// `deadline` (`what` says why it should).
    async fn exited(&mut self, deadline: Duration, what: &str) -> std::process::ExitStatus {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                return st;
            }
            assert!(start.elapsed() < deadline, "within {deadline:?}: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

/// The children of `parent`, each with its state letter (`Z`: a zombie).
fn children(parent: u32) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let mut f = rest.split_whitespace();
            let state = f.next()?.to_string();
            let ppid: u32 = f.next()?.parse().ok()?;
            (ppid == parent).then_some((pid, state))
        })
        .collect()
}

/// As a container's PID 1 every orphan is re-parented to the agent; an
/// orphan left unreaped stays a zombie for ever (its PID taken; Patroni
/// waits for its PostgreSQL to stop). Here the agent runs as PID 1 of a
/// PID namespace of its own, and its database leaves three orphans that
/// exit at once: within a bound the agent's only child is its database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_pid_1_the_agent_reaps_the_orphans_its_database_leaves() {
    let s = support::Server::etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Each inner shell backgrounds a subshell and exits: the subshell is
    // re-parented to PID 1, marks that it ran, and exits.
    let script = r#"for i in 1 2 3; do sh -c '(sleep 0.2; touch "$0/orphan.$1") &' "$0" "$i"; done; exec sleep 600"#;
    let unshare = Group::spawn(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child", AGENT])
            .args(["--etcd", &s.url, "--cluster", "reap", "--node-id", "n1"])
            .args(["--ttl", "3s", "--advertise", "n1.test:7000"])
            .args(["--", "sh", "-c", script])
            .arg(d),
        &d.join("agent.log"),
    );
    let log = || std::fs::read_to_string(d.join("agent.log")).unwrap_or_default();
    // The agent: unshare's one child, PID 1 inside.
    let mut agent = None;
    support::eventually("the agent under unshare", Duration::from_secs(10), || {
        agent = children(unshare.0.id()).first().map(|c| c.0);
        async move { agent.is_some() }
    })
    .await;
    let agent = agent.unwrap();
    let ran = || (1..=3).all(|i| d.join(format!("orphan.{i}")).exists());
    let start = tokio::time::Instant::now();
    loop {
        let kids = children(agent);
        if ran() && kids.len() == 1 && kids[0].1 != "Z" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "within 30 s the orphans ran and were reaped, leaving the database as the agent's one child: children {kids:?}, orphans ran: {}; agent's log:\n{}",
            ran(),
            log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        log().contains("reaped an orphaned process"),
        "the agent says it reaped them:\n{}",
        log()
    );
}

/// Two agents each supervising a real etcd on loopback addresses of their
/// own (127.0.0.2 and 127.0.0.3, one client port): one bootstraps a
/// one-member cluster; the other adds itself through it as a
/// learner (`--etcd-member-add`), starts with etcd's member list and is
/// promoted to a voter. Without the add, etcd refuses a member it does not
/// know; without the promotion, a learner never votes. A third member is
/// listed first and hung (its host accepts connections and never answers,
/// as a frozen one does): it costs the joiner its request timeout, not the
/// join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_is_added_to_the_etcd_cluster_as_a_learner_then_promoted() {
    let s = support::Server::etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let etcd = support::server_bin("etcd");
    let (client, peer) = (support::free_port(), support::free_port());
    let hung = std::net::TcpListener::bind(("127.0.0.4", client)).unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = hung.incoming().collect();
        drop(held);
    });
    let r = s.etcd_registry().await;
    let lease = r.grant(Duration::from_secs(120)).await.unwrap();
    let ghost = disco::Keys::new("disco", "ma").member("0hung");
    r.put(&ghost, &format!("http://127.0.0.4:{peer}"), Some(&lease.id))
        .await
        .unwrap();
    let spawn = |node: &str, ip: &str| {
        let data = dir.path().join(node);
        Group::spawn(
            Command::new(AGENT)
                .args(["--etcd", &s.url, "--cluster", "ma", "--node-id", node])
                .args(["--ttl", "3s", "--advertise", &format!("http://{ip}:{peer}")])
                .args(["--etcd-member-add", &client.to_string()])
                .args(["--ready-probe", &format!("http://{ip}:{client}/health")])
                .arg("--")
                .arg(&etcd)
                .args(["--name", "{id}", "--data-dir"])
                .arg(&data)
                .args(["--listen-client-urls", &format!("http://{ip}:{client}")])
                .args(["--advertise-client-urls", &format!("http://{ip}:{client}")])
                .args(["--listen-peer-urls", &format!("http://{ip}:{peer}")])
                .args(["--initial-advertise-peer-urls", "{advertise}"])
                .args(["--initial-cluster", "{initial_cluster}"])
                .args(["--initial-cluster-state", "{state}", "--log-level", "warn"]),
            &dir.path().join(format!("{node}.log")),
        )
    };
    let log = |node: &str| {
        std::fs::read_to_string(dir.path().join(format!("{node}.log"))).unwrap_or_default()
    };
    // Whichever claims the bootstrap starts first; the other starts once
    // the bootstrapper committed (its etcd healthy).
    let a = spawn("a", "127.0.0.2");
    let b = spawn("b", "127.0.0.3");
    let urls = [
        format!("http://127.0.0.2:{client}"),
        format!("http://127.0.0.3:{client}"),
    ];
    let both = || format!("a's log:\n{}\nb's log:\n{}", log("a"), log("b"));
    two_voters(
        &urls,
        "both etcds run as voting members of one cluster",
        &both,
    )
    .await;
    // Either may have won the bootstrap: the other joined.
    let joined: Vec<&str> = ["a", "b"]
        .into_iter()
        .filter(|n| log(n).contains("added as a learner"))
        .collect();
    assert_eq!(joined.len(), 1, "one joiner added itself: {joined:?}");
    // The joiner killed outright, its etcd with it, and started again on
    // its data (`restart: always`): etcd lists it already, as a voter, so
    // it starts with etcd's list and rejoins as the same member.
    let (a, b) = if joined[0] == "a" {
        drop(a);
        (spawn("a", "127.0.0.2"), b)
    } else {
        drop(b);
        (a, spawn("b", "127.0.0.3"))
    };
    // Asked of the joiner's own etcd, which answers once it runs again.
    let own = &urls[usize::from(joined[0] == "b")..][..1];
    two_voters(own, "the restarted joiner is back as the same voter", &both).await;
    let again = log(joined[0]);
    assert!(
        again.contains("already a member (restart)") && !again.contains("added as a learner"),
        "{again}"
    );
    drop((a, b));
}

/// Waits until the etcd cluster behind `urls` has exactly the voting
/// members `a` and `b` (no learner, none unstarted), up to 90 s.
async fn two_voters(urls: &[String], what: &str, logs: &dyn Fn() -> String) {
    let start = tokio::time::Instant::now();
    loop {
        let listed = match Client::connect(urls, None).await {
            Ok(mut c) => c.member_list().await.ok(),
            Err(_) => None,
        };
        let mut members: Vec<(String, bool)> = listed
            .map(|l| {
                l.members()
                    .iter()
                    .map(|m| (m.name().to_string(), m.is_learner()))
                    .collect()
            })
            .unwrap_or_default();
        members.sort();
        if members == [("a".to_string(), false), ("b".to_string(), false)] {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "within 90 s {what}: {members:?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM to the agent stops the database with that signal; a second one
/// goes straight to the database (an operator's or Docker's insistence
/// must reach it even while the agent waits for it). The database here
/// counts the signals and exits on the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_goes_straight_to_the_database() {
    let s = support::Server::etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("signals");
    let script = r#"n=0; trap 'n=$((n+1)); echo "$n" >> "$0"; [ $n -ge 2 ] && exit 0' TERM; touch "$0.up"; while :; do sleep 0.05; done"#;
    let mut agent = Group::spawn(
        Command::new(AGENT)
            .args(["--etcd", &s.url, "--cluster", "sig", "--node-id", "n1"])
            .args(["--ttl", "3s", "--advertise", "n1.test:7000"])
            .args(["--", "sh", "-c", script])
            .arg(&got),
        &dir.path().join("agent.log"),
    );
    let up = got.with_extension("up");
    support::eventually("the database runs", Duration::from_secs(20), || {
        let up = up.exists();
        async move { up }
    })
    .await;
    let pid = Pid::from_raw(agent.0.id() as i32);
    let count = || {
        std::fs::read_to_string(&got)
            .unwrap_or_default()
            .lines()
            .count()
    };
    for n in 1..=2 {
        nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
        let what = format!("the database got signal {n}");
        support::eventually(&what, Duration::from_secs(10), || {
            let got = count();
            async move { got == n }
        })
        .await;
    }
    let status = agent
        .exited(
            Duration::from_secs(10),
            "the agent ends once its database did",
        )
        .await;
    assert_eq!(status.code(), Some(0), "the database's own exit code");
}

/// The agent ends with its database's exit: a database killed by signal N
/// makes the agent (the container) exit 128+N, as a shell reports it, so
/// that Docker's restart policy and an operator see what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_killed_by_a_signal_ends_the_agent_with_128_plus_its_number() {
    let s = support::Server::etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("db.pid");
    let mut agent = Group::spawn(
        Command::new(AGENT)
            .args(["--etcd", &s.url, "--cluster", "exit", "--node-id", "n1"])
            .args(["--ttl", "3s", "--advertise", "n1.test:7000"])
            .args([
                "--",
                "sh",
                "-c",
                r#"echo $$ > "$0.tmp"; mv "$0.tmp" "$0"; exec sleep 600"#,
            ])
            .arg(&pidfile),
        &dir.path().join("agent.log"),
    );
    let mut db = None;
    support::eventually("the database runs", Duration::from_secs(20), || {
        db = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        async move { db.is_some() }
    })
    .await;
    nix::sys::signal::kill(Pid::from_raw(db.unwrap()), Signal::SIGKILL).unwrap();
    let status = agent
        .exited(Duration::from_secs(10), "the agent ends with its database")
        .await;
    assert_eq!(status.code(), Some(128 + 9), "SIGKILL is signal 9");
}
