//! Real etcd and Consul servers for tests: each test starts its own process
//! on its own loopback ports and data dir, and the process is killed when the
//! handle drops. Binaries come from Debian packages into the user cache
//! ([`cache`]; `ci/setup.sh` or `clusterlab setup` fetch them).
//!
//! A dev-dependency of every crate whose tests need a real store (disco's
//! backend tests, the simulator's differential tests, the benches), so that
//! the way a test server is started is written once. [`faulty`] wraps a
//! store's registry to inject the faults real stores and networks produce;
//! [`stall`] puts a proxy in front of one whose connections can go silent.

pub mod faulty;
pub mod stall;

/// Certificates, ACLs and the server cache, where the tests have always
/// found them.
pub use clusterlab_provision::{acl, cache, pki};

use std::collections::HashSet;
use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use disco::backend::{ConsulRegistry, Credentials, EtcdRegistry};

use tokio::time::Instant;

/// A server binary in the cache ([`cache::servers_bin`]).
pub fn server_bin(name: &str) -> PathBuf {
    let p = cache::servers_bin().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `bash ci/setup.sh` (or `clusterlab setup`), which fetches etcd and consul from Debian's packages",
        p.display()
    );
    p
}

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port nobody in this process has been given yet.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        let mut g = HANDED_OUT.lock().unwrap();
        if g.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// A running server process.
pub struct Server {
    /// `etcd` or `consul`.
    pub kind: &'static str,
    /// Client URL: `http://127.0.0.1:<port>`.
    pub url: String,
    /// The client port.
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts etcd 3.5 on fresh loopback ports.
    pub async fn etcd() -> Server {
        Self::etcd_on(free_port()).await
    }

    /// Starts etcd with its client port fixed (to test a store that appears late).
    pub async fn etcd_on(client: u16) -> Server {
        Self::etcd_with(client, None).await
    }

    /// Starts etcd 3.5 with TLS on its client and peer ports and
    /// client-certificate auth (`--client-cert-auth`), its certificate
    /// signed by `ca`; `/health` answers on a plain metrics port. Auth is
    /// off until [`Server::enable_rbac`].
    pub async fn etcd_tls(ca: &pki::Authority) -> Server {
        Self::etcd_with(free_port(), Some(ca)).await
    }

    /// One etcd, plain or (with `ca`) TLS-only with client certificates.
    async fn etcd_with(client: u16, ca: Option<&pki::Authority>) -> Server {
        let (peer, metrics) = (free_port(), free_port());
        let dir = tempfile::tempdir().expect("tempdir");
        let scheme = if ca.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{client}");
        let peer_url = format!("{scheme}://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut cmd = Command::new(server_bin("etcd"));
        cmd.args(["--name", "t", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args(["--initial-cluster", &format!("t={peer_url}")])
            .args(["--log-level", "warn"]);
        let health = match ca {
            None => format!("{url}/health"),
            Some(ca) => {
                let ca_s = ca.write(dir.path(), "ca").display().to_string();
                let server = ca
                    .issue("etcd", &["127.0.0.1", "localhost"])
                    .write(dir.path(), "server");
                let (cert_s, key_s) = (
                    server.cert.display().to_string(),
                    server.key.display().to_string(),
                );
                let metrics_url = format!("http://127.0.0.1:{metrics}");
                cmd.args(["--listen-metrics-urls", &metrics_url])
                    .args(["--client-cert-auth", "--trusted-ca-file", &ca_s])
                    .args(["--cert-file", &cert_s, "--key-file", &key_s])
                    .args(["--peer-client-cert-auth", "--peer-trusted-ca-file", &ca_s])
                    .args(["--peer-cert-file", &cert_s, "--peer-key-file", &key_s]);
                format!("{metrics_url}/health")
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        let s = Server {
            kind: "etcd",
            url,
            port: client,
            child,
            dir,
        };
        s.wait_ready(&health, |b| b.contains("\"health\":\"true\""))
            .await;
        s
    }

    /// The directory the server's files live in (certificates included).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Turns etcd's RBAC on ([`pki::enable_rbac`]).
    pub async fn enable_rbac(
        &self,
        ca: &pki::Authority,
        root: &pki::Issued,
        users: &[(&str, &str)],
    ) {
        pki::enable_rbac(std::slice::from_ref(&self.url), ca, root, None, users)
            .await
            .expect("enable RBAC");
    }

    /// Starts a single-server Consul 1.8 in dev mode on fresh loopback ports.
    pub async fn consul() -> Server {
        Self::consul_with(None).await
    }

    /// Starts a single-server Consul 1.8 in dev mode, secured
    /// ([`acl::secured_config`]): HTTPS only, client certificates
    /// required, its certificate signed by `ca`, ACLs default-deny with
    /// `master` as the management token. Ready when `admin` (a certificate
    /// of `ca`) with `master` sees a leader and the server's own node.
    pub async fn consul_tls(ca: &pki::Authority, admin: &pki::Issued, master: &str) -> Server {
        Self::consul_with(Some((ca, admin, master))).await
    }

    async fn consul_with(secured: Option<(&pki::Authority, &pki::Issued, &str)>) -> Server {
        let port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let node = format!("t{port}");
        let mut cmd = Command::new(server_bin("consul"));
        cmd.args([
            "agent",
            "-dev",
            "-bind",
            "127.0.0.1",
            "-client",
            "127.0.0.1",
        ])
        .args(["-dns-port", "-1", "-grpc-port", "-1"])
        .args(["-serf-lan-port", &free_port().to_string()])
        .args(["-serf-wan-port", &free_port().to_string()])
        .args(["-server-port", &free_port().to_string()])
        .args(["-node", &node, "-log-level", "warn"]);
        let (url, creds) = match secured {
            None => {
                cmd.args(["-http-port", &port.to_string()]);
                (format!("http://127.0.0.1:{port}"), Credentials::none())
            }
            Some((ca, admin, master)) => {
                let ca_file = ca.write(dir.path(), "ca");
                let server = ca
                    .issue(
                        acl::SERVER_NAME,
                        &[acl::SERVER_NAME, "127.0.0.1", "localhost"],
                    )
                    .write(dir.path(), "server");
                let files = acl::TlsFiles {
                    ca: ca_file.display().to_string(),
                    cert: server.cert.display().to_string(),
                    key: server.key.display().to_string(),
                };
                let config = dir.path().join("secured.json");
                let text = acl::secured_config(&files, port, Some(master), None).to_string();
                std::fs::write(&config, text).expect("write consul config");
                cmd.arg("-config-file").arg(&config);
                let creds = Credentials {
                    ca: Some(ca.pem().into_bytes()),
                    identity: Some((
                        admin.cert.clone().into_bytes(),
                        admin.key.clone().into_bytes(),
                    )),
                    token: Some(master.to_string()),
                    server_name: None,
                };
                (format!("https://127.0.0.1:{port}"), creds)
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn consul");
        let s = Server {
            kind: "consul",
            url,
            port,
            child,
            dir,
        };
        let http = disco::backend::http::Reqwest::with_credentials(Duration::from_secs(1), &creds)
            .expect("http client");
        let http = http.client();
        let leader = format!("{}/v1/status/leader", s.url);
        s.wait_ready_with(http, &leader, |b| b.trim().len() > 2)
            .await;
        // Sessions need the server's own node in the catalog, which lands a
        // moment after the leader is elected ("Missing node registration").
        let registered = format!("{}/v1/catalog/node/{node}", s.url);
        s.wait_ready_with(http, &registered, |b| b.contains("\"Node\""))
            .await;
        s
    }

    /// disco's etcd backend on this server.
    pub async fn etcd_registry(&self) -> EtcdRegistry {
        EtcdRegistry::connect(std::slice::from_ref(&self.url))
            .await
            .expect("etcd client")
    }

    /// disco's Consul backend on this server.
    pub fn consul_registry(&self) -> ConsulRegistry {
        ConsulRegistry::new(&self.url).expect("consul client")
    }

    async fn wait_ready(&self, url: &str, ok: impl Fn(&str) -> bool) {
        let http = disco::backend::http::builder()
            .build()
            .expect("http client");
        self.wait_ready_with(&http, url, ok).await;
    }

    async fn wait_ready_with(&self, http: &reqwest::Client, url: &str, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(url).timeout(Duration::from_secs(1)).send().await {
                if let Ok(body) = r.text().await {
                    if ok(&body) {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready within 30s at {url}; its log:\n{}",
                self.kind,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Polls `cond` until it holds or `deadline` passes; returns the elapsed
/// time. For conditions with no push notification (process files, exits).
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut cond: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
