//! disco against a secured Consul (HTTPS only with client certificates
//! required, ACLs in default-deny, a policy and token per cluster), a real
//! Consul 1.8 on loopback with certificates and tokens made for the run:
//! a cluster's token reaches its keys; another cluster's token, no token,
//! no certificate and another authority's certificate are refused with
//! nothing written; disco-agent says so in one line and exits 2.

use clusterlab_servers as support;

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use disco::backend::{ConsulRegistry, Credentials};
use disco::{Keys, LeaseId, Registry, RegistryError};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use support::acl::{self, Grant};
use support::pki::{Authority, Issued};
use support::Server;

const AGENT: &str = env!("CARGO_BIN_EXE_disco-agent");

/// A secured Consul with tokens for clusters `a` and `b` (each may write
/// only `disco/<cluster>/`).
struct Store {
    s: Server,
    ca: Authority,
    client: Issued,
    master: String,
    a: String,
    b: String,
}

async fn store() -> Store {
    let ca = Authority::new("clusterlab test authority");
    let client = ca.issue("client", &[]);
    let master = acl::new_token();
    let s = Server::consul_tls(&ca, &client, &master).await;
    let (a, b) = (acl::new_token(), acl::new_token());
    let admin = creds(&ca, Some(&client), Some(&master));
    acl::grant(
        &s.url,
        &admin,
        &[
            Grant {
                name: "cluster-a",
                prefix: "disco/a/",
                session_node: "disco-a",
                token: &a,
            },
            Grant {
                name: "cluster-b",
                prefix: "disco/b/",
                session_node: "disco-b",
                token: &b,
            },
        ],
        Duration::from_secs(20),
    )
    .await
    .expect("ACL grants");
    Store {
        s,
        ca,
        client,
        master,
        a,
        b,
    }
}

fn creds(ca: &Authority, who: Option<&Issued>, token: Option<&str>) -> Credentials {
    Credentials {
        ca: Some(ca.pem().into_bytes()),
        identity: who.map(|i| (i.cert.clone().into_bytes(), i.key.clone().into_bytes())),
        token: token.map(str::to_string),
        server_name: None,
    }
}

/// A client whose sessions live on `disco-<cluster>`.
fn registry(s: &Server, c: &Credentials, cluster: &str) -> ConsulRegistry {
    ConsulRegistry::connect_with(&s.url, c)
        .unwrap()
        .with_session_node(&format!("disco-{cluster}"))
        .with_timeout(Duration::from_secs(3))
}

/// Every step a rogue node would take against cluster `a`: announce, read
/// the members, claim the bootstrap key, take the leader key, destroy a
/// member's session (which would delete its keys). Writes must be refused;
/// a read may instead come back empty, as Consul filters out what a token
/// may not read (and the members exist: the caller made one).
async fn rogue_attempts(r: &ConsulRegistry, victim: &LeaseId) -> Vec<RegistryError> {
    let keys = Keys::new("disco", "a");
    let refused = |what: &str, e: Result<(), RegistryError>| match e {
        Err(e @ RegistryError::Refused { .. }) => e,
        other => panic!("{what}: a rogue client got {other:?}"),
    };
    let mut out = vec![refused(
        "announce",
        r.put(&keys.member("rogue"), "rogue:1", None)
            .await
            .map(|_| ()),
    )];
    match r.list(&keys.members()).await {
        Ok(snap) => assert!(snap.entries.is_empty(), "a rogue read {snap:?}"),
        Err(e) => out.push(refused("read members", Err(e))),
    }
    out.push(refused(
        "bootstrap",
        r.create(&keys.bootstrap(), "rogue", None).await.map(|_| ()),
    ));
    out.push(refused(
        "leader",
        r.create(&keys.leader(), "rogue", None).await.map(|_| ()),
    ));
    out.push(refused("destroy n1's session", r.revoke(victim).await));
    out
}

/// Every key under `disco/`, read with the master token.
async fn all_keys(st: &Store) -> Vec<String> {
    let admin = registry(
        &st.s,
        &creds(&st.ca, Some(&st.client), Some(&st.master)),
        "admin",
    );
    let all = admin.list("disco/").await.unwrap();
    all.entries.iter().map(|e| e.key.clone()).collect()
}

/// Cluster a's node n1, announced and leading, and its session.
async fn n1(st: &Store) -> (ConsulRegistry, LeaseId) {
    let r = registry(&st.s, &creds(&st.ca, Some(&st.client), Some(&st.a)), "a");
    let keys = Keys::new("disco", "a");
    let lease = r.grant(Duration::from_secs(10)).await.unwrap();
    r.put(&keys.member("n1"), "n1:7000", Some(&lease.id))
        .await
        .unwrap();
    assert!(r
        .create(&keys.leader(), "n1", Some(&lease.id))
        .await
        .unwrap()
        .written()
        .is_some());
    assert_eq!(r.list(&keys.members()).await.unwrap().entries.len(), 1);
    (r, lease.id)
}

#[tokio::test]
async fn a_clusters_token_reaches_its_own_keys_only() {
    let st = store().await;
    let (r, session) = n1(&st).await;
    for (who, token) in [
        ("another cluster's token", Some(st.b.as_str())),
        ("no token", None),
    ] {
        let rogue = registry(&st.s, &creds(&st.ca, Some(&st.client), token), "b");
        for answer in rogue_attempts(&rogue, &session).await {
            println!("{who}: {answer}");
            assert!(
                matches!(&answer, RegistryError::Refused { reason, .. } if reason.contains("Permission denied")),
                "{answer:?}"
            );
        }
    }
    assert_eq!(
        all_keys(&st).await,
        ["disco/a/leader", "disco/a/members/n1"]
    );
    let keys = Keys::new("disco", "a");
    assert_eq!(r.get(&keys.leader()).await.unwrap().unwrap().value, "n1");
}

#[tokio::test]
async fn a_client_without_a_certificate_of_this_authority_is_refused_even_with_a_token() {
    let st = store().await;
    let (_n1, session) = n1(&st).await;
    let stranger = Authority::new("someone else");
    let forged = stranger.issue("client", &[]);
    for (who, c) in [
        ("no certificate", creds(&st.ca, None, Some(&st.a))),
        (
            "another authority's certificate",
            creds(&st.ca, Some(&forged), Some(&st.a)),
        ),
    ] {
        // verify_incoming: the handshake fails, whatever the token.
        let r = registry(&st.s, &c, "a");
        let keys = Keys::new("disco", "a");
        let read = r.list(&keys.members()).await;
        assert!(
            matches!(read, Err(RegistryError::Refused { .. })),
            "{who}: {read:?}"
        );
        for answer in rogue_attempts(&r, &session).await {
            println!("{who}: {answer}");
        }
    }
    assert_eq!(
        all_keys(&st).await,
        ["disco/a/leader", "disco/a/members/n1"]
    );
}

/// disco-agent as node `node` of cluster `a` on `st` (TTL 10 s), with the
/// run's CA and client certificate written into `dir`, and no token of its
/// own: the caller passes one, or none.
fn agent_of_a(st: &Store, dir: &std::path::Path, node: &str) -> Command {
    let ca_file = st.ca.write(dir, "ca");
    let cert = st.client.write(dir, "client");
    let mut cmd = Command::new(AGENT);
    cmd.args(["--consul", &st.s.url, "--cluster", "a", "--node-id", node])
        .args(["--ttl", "10s", "--advertise", &format!("{node}:1")])
        .args(["--ca", ca_file.to_str().unwrap()])
        .args(["--cert", cert.cert.to_str().unwrap()])
        .args(["--key", cert.key.to_str().unwrap()])
        .env_remove("DISCO_TOKEN");
    cmd
}

#[tokio::test]
async fn disco_agent_on_consul_names_the_stores_refusal_and_exits_2() {
    let st = store().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = |token: Option<&str>| {
        let mut cmd = agent_of_a(&st, dir.path(), "rogue");
        cmd.args(["--startup-timeout", "20s"]);
        if let Some(t) = token {
            cmd.env("DISCO_TOKEN", t);
        }
        let out = cmd.args(["--", "true"]).output().expect("run disco-agent");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    for token in [Some(st.b.as_str()), None] {
        let (code, err) = agent(token);
        assert_eq!(code, Some(2), "{err}");
        let line = err
            .lines()
            .find(|l| l.starts_with("disco-agent: error"))
            .unwrap();
        assert!(
            line.contains("refused") && line.contains("Permission denied"),
            "{line}"
        );
        assert!(!line.contains(&st.b), "the token is printed: {line}");
    }
    assert!(all_keys(&st).await.is_empty());
}

/// disco-agent with its cluster's token, read from `--token-file` or from
/// `DISCO_TOKEN`, registers and starts its database: the refusals above
/// come from the token, not from an agent that cannot pass one.
#[tokio::test]
async fn disco_agent_with_its_clusters_token_registers_and_starts() {
    let st = store().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", st.a)).unwrap();
    for (node, from_file) in [("n1", true), ("n2", false)] {
        let up = dir.path().join(format!("{node}.up"));
        let log = dir.path().join(format!("{node}.log"));
        let mut cmd = agent_of_a(&st, dir.path(), node);
        cmd.args(["--consul-session-node", "disco-a"]);
        if from_file {
            cmd.arg("--token-file").arg(&token_file);
        } else {
            cmd.env("DISCO_TOKEN", &st.a);
        }
        let mut child = cmd
            .args(["--", "sh", "-c", r#"touch "$0"; exec sleep 600"#])
            .arg(&up)
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0)
            .spawn()
            .expect("run disco-agent");
        let group = Pid::from_raw(child.id() as i32);
        let started = tokio::time::Instant::now();
        while !up.exists() && started.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ran = up.exists();
        let keys = all_keys(&st).await;
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait();
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(ran, "{node}'s database started within 30 s:\n{log}");
        assert!(
            keys.contains(&format!("disco/a/members/{node}")),
            "{node} is announced: {keys:?}"
        );
    }
}

/// A secured Consul that is down is an outage, retried until it is back,
/// not a refusal: only a handshake the server turned away is that.
#[tokio::test]
async fn a_secured_consul_that_is_down_is_an_outage_not_a_refusal() {
    let ca = Authority::new("clusterlab test authority");
    let client = ca.issue("client", &[]);
    let url = format!("https://127.0.0.1:{}", support::free_port());
    let r = ConsulRegistry::connect_with(&url, &creds(&ca, Some(&client), Some("t"))).unwrap();
    let e = r.list("disco/a/").await.unwrap_err();
    assert!(matches!(e, RegistryError::Unavailable { .. }), "{e:?}");
    assert!(e.is_transient());
}
