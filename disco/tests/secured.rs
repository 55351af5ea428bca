//! disco against a secured etcd (TLS with client-certificate auth, RBAC
//! users per cluster), a real etcd 3.5 on loopback with certificates made
//! for the run: a cluster's own certificate reaches its keys; another
//! cluster's certificate, a certificate from another authority and no
//! certificate at all are refused, with nothing written; disco-agent says
//! so in one line and exits 2.

use clusterlab_servers as support;

use std::process::Command;
use std::time::Duration;

use disco::backend::{Credentials, EtcdRegistry};
use disco::{Keys, Registry, RegistryError};
use support::pki::{Authority, Issued};
use support::Server;

const AGENT: &str = env!("CARGO_BIN_EXE_disco-agent");

/// A secured store with RBAC users for clusters `a` and `b` (each may touch
/// only `disco/<cluster>/`), and the authority that signed it.
async fn store() -> (Server, Authority, Issued) {
    let ca = Authority::new("clusterlab test authority");
    let s = Server::etcd_tls(&ca).await;
    let root = ca.issue("root", &[]);
    s.enable_rbac(
        &ca,
        &root,
        &[("cluster-a", "disco/a/"), ("cluster-b", "disco/b/")],
    )
    .await;
    (s, ca, root)
}

fn creds(ca: &Authority, who: Option<&Issued>) -> Credentials {
    Credentials {
        ca: Some(ca.pem().into_bytes()),
        identity: who.map(|i| (i.cert.clone().into_bytes(), i.key.clone().into_bytes())),
        token: None,
        server_name: None,
    }
}

async fn registry(s: &Server, c: &Credentials) -> Result<EtcdRegistry, RegistryError> {
    EtcdRegistry::connect_with(std::slice::from_ref(&s.url), c)
        .await
        .map(|r| r.with_timeout(Duration::from_secs(3)))
}

fn failed<T: std::fmt::Debug>(what: &str, r: Result<T, RegistryError>) -> RegistryError {
    match r {
        Err(e) => e,
        Ok(v) => panic!("{what}: a rogue client got {v:?}"),
    }
}

/// Every step a rogue node would take against cluster `a`: announce,
/// read the members, claim the bootstrap key, take the leader key. Each
/// must fail; the store's answers are returned.
async fn rogue_attempts(r: &EtcdRegistry) -> Vec<RegistryError> {
    let keys = Keys::new("disco", "a");
    vec![
        failed(
            "announce",
            r.put(&keys.member("rogue"), "rogue:1", None).await,
        ),
        failed("read members", r.list(&keys.members()).await),
        failed(
            "bootstrap",
            r.create(&keys.bootstrap(), "rogue", None).await,
        ),
        failed("leader", r.create(&keys.leader(), "rogue", None).await),
    ]
}

/// Every key under `disco/`, read as root.
async fn all_keys(s: &Server, ca: &Authority, root: &Issued) -> Vec<String> {
    let admin = registry(s, &creds(ca, Some(root))).await.unwrap();
    let all = admin.list("disco/").await.unwrap();
    all.entries.iter().map(|e| e.key.clone()).collect()
}

#[tokio::test]
async fn a_clusters_certificate_reaches_its_own_keys_only() {
    let (s, ca, root) = store().await;
    let a = ca.issue("cluster-a", &[]);
    let r = registry(&s, &creds(&ca, Some(&a))).await.unwrap();
    let keys = Keys::new("disco", "a");
    let lease = r.grant(Duration::from_secs(5)).await.unwrap();
    r.put(&keys.member("n1"), "n1:7000", Some(&lease.id))
        .await
        .unwrap();
    assert!(r
        .create(&keys.leader(), "n1", Some(&lease.id))
        .await
        .is_ok());
    assert_eq!(r.list(&keys.members()).await.unwrap().entries.len(), 1);

    // Cluster b's certificate is valid, but not for a's keys.
    let b = ca.issue("cluster-b", &[]);
    let rb = registry(&s, &creds(&ca, Some(&b))).await.unwrap();
    for answer in rogue_attempts(&rb).await {
        println!("another cluster's certificate: {answer}");
        assert!(
            matches!(&answer, RegistryError::Refused { reason, .. } if reason.contains("PermissionDenied")),
            "{answer:?}"
        );
    }
    // Nothing it tried is in the store: root sees only n1's key and n1's
    // leadership.
    assert_eq!(
        all_keys(&s, &ca, &root).await,
        ["disco/a/leader", "disco/a/members/n1"]
    );
    assert_eq!(r.get(&keys.leader()).await.unwrap().unwrap().value, "n1");
}

#[tokio::test]
async fn a_client_without_a_certificate_of_this_authority_is_refused() {
    let (s, ca, root) = store().await;
    let stranger = Authority::new("someone else");
    let forged = stranger.issue("cluster-a", &[]);
    for (who, c) in [
        ("no certificate", creds(&ca, None)),
        ("another authority's certificate", creds(&ca, Some(&forged))),
    ] {
        // The TLS handshake turns it away: etcd closes the connection.
        match registry(&s, &c).await {
            Ok(r) => {
                for answer in rogue_attempts(&r).await {
                    println!("{who}: {answer}");
                }
            }
            Err(e) => println!("{who}: {e}"),
        }
    }
    assert!(all_keys(&s, &ca, &root).await.is_empty());
}

#[tokio::test]
async fn disco_agent_names_a_missing_file_and_the_stores_refusal_and_exits_2() {
    let (s, ca, _root) = store().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca");
    let b = ca.issue("cluster-b", &[]).write(dir.path(), "b");
    let agent = |extra: &[&str]| {
        let out = Command::new(AGENT)
            .args(["--etcd", &s.url, "--cluster", "a", "--node-id", "rogue"])
            .args([
                "--ttl",
                "5s",
                "--advertise",
                "rogue:1",
                "--startup-timeout",
                "20s",
            ])
            .args(extra)
            .args(["--", "true"])
            .output()
            .expect("run disco-agent");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let missing = dir.path().join("nope.pem");
    let (code, err) = agent(&["--ca", missing.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("disco-agent: error"))
        .unwrap();
    assert!(line.contains("nope.pem"), "{line}");

    let (code, err) = agent(&[
        "--ca",
        ca_file.to_str().unwrap(),
        "--cert",
        b.cert.to_str().unwrap(),
        "--key",
        b.key.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("disco-agent: error"))
        .unwrap();
    assert!(
        line.contains("refused") && line.contains("PermissionDenied"),
        "{line}"
    );
}
