//! The discovery store: 1 or more etcd or Consul containers named
//! `s1..sN`, started before any cluster node, and read from the host to see
//! what the agents announced and who holds the leader key.

use std::net::Ipv4Addr;
use std::time::Duration;

use clusterlab_core::fault::StoreOp;
use clusterlab_core::view::StoreView;
use clusterlab_scenario::{Discovery, StoreKind};
use disco::backend::http::Reqwest;
use disco::backend::{ConsulRegistry, Credentials, EtcdRegistry};
use disco::keys::Keys;
use disco::leader::LeaderRecord;
use disco::peers::Membership;
use disco::Registry;
use serde_json::Value;
use tokio::time::Instant;

use super::addrs::Addrs;
use super::kind::StoreUrl;
use super::secrets::{self, Secrets};
use super::WorldError;
use crate::run::Run;

/// A started store.
#[derive(Debug)]
pub struct Store {
    kind: StoreKind,
    /// Store node names.
    pub names: Vec<String>,
    /// Their DNS names on the run network.
    hosts: Vec<String>,
    keys: Keys,
    client: Client,
    /// Reached over TLS with the run's certificates.
    tls: bool,
    /// The agents' credential flags.
    agent_creds: Vec<String>,
    /// The harness's own HTTP client (with its certificate and token on
    /// a secured store).
    http: reqwest::Client,
    /// The client endpoints, by address (for the host).
    eps: Vec<String>,
    /// The catalog node disco's Consul sessions belong to.
    session_node: String,
    /// The address it is registered with.
    session_addr: String,
}

/// A registry client of either kind.
#[derive(Debug)]
pub enum Client {
    /// etcd.
    Etcd(Box<EtcdRegistry>),
    /// Consul.
    Consul(ConsulRegistry),
}

/// The store's start command for node `name` of `names`; `dns` gives the
/// name each is reachable by.
fn command(
    kind: StoreKind,
    bin: &str,
    name: &str,
    names: &[String],
    dns: &dyn Fn(&str) -> String,
    tls: bool,
) -> Vec<String> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match kind {
        StoreKind::Etcd => {
            // With TLS: TLS only, client and peer, client certificates
            // required; health and metrics stay plain on 2381 for the
            // harness.
            let scheme = if tls { "https" } else { "http" };
            let cluster = names
                .iter()
                .map(|n| format!("{n}={scheme}://{}:2380", dns(n)))
                .collect::<Vec<_>>()
                .join(",");
            let mut argv = v(&[
                bin,
                "--name",
                name,
                "--data-dir",
                "/data",
                "--listen-client-urls",
                &format!("{scheme}://0.0.0.0:2379"),
                "--advertise-client-urls",
                &format!("{scheme}://{}:2379", dns(name)),
                "--listen-peer-urls",
                &format!("{scheme}://0.0.0.0:2380"),
                "--initial-advertise-peer-urls",
                &format!("{scheme}://{}:2380", dns(name)),
                "--initial-cluster",
                &cluster,
                "--initial-cluster-state",
                "new",
            ]);
            if tls {
                let (ca, cert, key) = (
                    format!("{}/ca.pem", secrets::DIR),
                    format!("{}/server.pem", secrets::DIR),
                    format!("{}/server-key.pem", secrets::DIR),
                );
                argv.extend(v(&[
                    "--listen-metrics-urls",
                    "http://0.0.0.0:2381",
                    "--client-cert-auth",
                    "--trusted-ca-file",
                    &ca,
                    "--cert-file",
                    &cert,
                    "--key-file",
                    &key,
                    "--peer-client-cert-auth",
                    "--peer-trusted-ca-file",
                    &ca,
                    "--peer-cert-file",
                    &cert,
                    "--peer-key-file",
                    &key,
                ]));
            }
            argv.extend(v(&["--log-level", "warn"]));
            argv
        }
        StoreKind::Consul => {
            // With TLS: consul.json (secrets.rs) turns plain HTTP off,
            // HTTPS on with client certificates, and ACLs.
            let mut argv = v(&[
                bin,
                "agent",
                "-server",
                "-node",
                name,
                "-bootstrap-expect",
                &names.len().to_string(),
                "-data-dir",
                "/data",
                "-client",
                "0.0.0.0",
                "-log-level",
                "warn",
            ]);
            for other in names.iter().filter(|n| *n != name) {
                argv.push(format!("-retry-join={}", dns(other)));
            }
            if tls {
                argv.extend(v(&[
                    "-config-file",
                    &format!("{}/consul.json", secrets::DIR),
                ]));
            }
            argv
        }
    }
}

impl Store {
    /// Starts the store's containers from `image` and waits (up to
    /// `deadline`) until it has a leader and answers the disco client.
    pub async fn start(
        run: &Run,
        addrs: &Addrs,
        d: &Discovery,
        image: &str,
        deadline: Duration,
        secrets: Option<&Secrets>,
    ) -> Result<Store, WorldError> {
        let names: Vec<String> = (1..=d.nodes).map(|i| format!("s{i}")).collect();
        let tls = secrets.is_some();
        let files = secrets.map(Secrets::store_files).unwrap_or_default();
        for name in &names {
            // A user's image has its server wherever its PATH says.
            let bin = match (d.kind, &d.image) {
                (kind, Some(_)) => super::images::server(kind).to_string(),
                (StoreKind::Etcd, None) => "/usr/local/bin/etcd".to_string(),
                (StoreKind::Consul, None) => "/usr/local/bin/consul".to_string(),
            };
            let argv = command(d.kind, &bin, name, &names, &|n| run.container(n), tls);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            run.keep_across_restarts(name, &["/data"]);
            run.start_container_with(name, image, &argv, &files).await?;
        }
        let mut ips = Vec::new();
        for name in &names {
            ips.push(addrs.refresh(run, name).await?.reach);
        }
        let creds = secrets.map(Secrets::harness).unwrap_or_default();
        let http = http(&creds)?;
        let give_up = Instant::now() + deadline;
        loop {
            if leader_ip(&http, d.kind, &ips, tls).await.is_some() {
                break;
            }
            if Instant::now() > give_up {
                return Err(WorldError::Timeout(format!(
                    "the discovery store ({names:?}) elected no leader within {deadline:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let scheme = if tls { "https" } else { "http" };
        let eps: Vec<String> = match d.kind {
            StoreKind::Etcd => ips
                .iter()
                .map(|ip| format!("{scheme}://{ip}:2379"))
                .collect(),
            StoreKind::Consul => ips
                .iter()
                .map(|ip| consul_base(&ip.to_string(), tls))
                .collect(),
        };
        let client = match d.kind {
            StoreKind::Etcd => {
                if let Some(sec) = secrets.filter(|_| d.auth) {
                    sec.enable_access(&eps).await.map_err(WorldError::Store)?;
                }
                Client::Etcd(Box::new(
                    EtcdRegistry::connect_with(&eps, &creds)
                        .await
                        .map_err(|e| WorldError::Store(e.to_string()))?
                        .with_timeout(Duration::from_secs(1)),
                ))
            }
            StoreKind::Consul => {
                let base = eps[0].clone();
                if let Some(sec) = secrets.filter(|_| d.auth) {
                    sec.enable_access(std::slice::from_ref(&base))
                        .await
                        .map_err(WorldError::Store)?;
                }
                Client::Consul(
                    ConsulRegistry::connect_with(&base, &creds)
                        .map_err(|e| WorldError::Store(e.to_string()))?
                        .with_timeout(Duration::from_secs(1)),
                )
            }
        };
        let hosts: Vec<String> = names.iter().map(|n| run.container(n)).collect();
        let acl = secrets.filter(|_| d.auth && d.kind == StoreKind::Consul);
        let session_node = acl.map_or_else(|| names[0].clone(), Secrets::session_node);
        // The harness registered an ACL'd store's session node itself.
        let session_addr = if acl.is_some() {
            "127.0.0.1".to_string()
        } else {
            hosts[0].clone()
        };
        Ok(Store {
            kind: d.kind,
            names,
            hosts,
            keys: Keys::new(&d.prefix, &d.cluster),
            client,
            tls,
            agent_creds: secrets.map(Secrets::agent_flags).unwrap_or_default(),
            http,
            eps,
            session_node,
            session_addr,
        })
    }

    /// A client of this store showing `creds` (a rogue's), from the host.
    /// Consul's goes to the first server, as the harness's and the agents'
    /// do.
    pub async fn connect_as(&self, creds: &Credentials) -> Result<Client, disco::RegistryError> {
        let t = Duration::from_secs(2);
        Ok(match self.kind {
            StoreKind::Etcd => Client::Etcd(Box::new(
                EtcdRegistry::connect_with(&self.eps, creds)
                    .await?
                    .with_timeout(t),
            )),
            StoreKind::Consul => {
                Client::Consul(ConsulRegistry::connect_with(&self.eps[0], creds)?.with_timeout(t))
            }
        })
    }

    /// The lease of some announced member, read with the harness's
    /// credentials; `None` while no member is announced.
    pub async fn member_lease(&self) -> Option<disco::LeaseId> {
        let snap = self.list_all(&self.keys.members()).await.ok()?;
        snap.entries.into_iter().find_map(|e| e.lease)
    }

    /// Every key under `prefix`, read with the harness's credentials.
    pub async fn list_all(&self, prefix: &str) -> Result<disco::Snapshot, disco::RegistryError> {
        match &self.client {
            Client::Etcd(r) => r.list(prefix).await,
            Client::Consul(r) => r.list(prefix).await,
        }
    }

    /// The agents' `--etcd`/`--consul` flag.
    pub fn url(&self) -> StoreUrl {
        match self.kind {
            StoreKind::Etcd => StoreUrl {
                flag: "--etcd",
                url: self
                    .hosts
                    .iter()
                    .map(|n| format!("{}://{n}:2379", if self.tls { "https" } else { "http" }))
                    .collect::<Vec<_>>()
                    .join(","),
                creds: self.agent_creds.clone(),
            },
            StoreKind::Consul => StoreUrl {
                flag: "--consul",
                url: consul_base(&self.hosts[0], self.tls),
                creds: self.agent_creds.clone(),
            },
        }
    }

    /// Reads the announced members and the leader key; `None` if the store
    /// does not answer.
    pub async fn view(&self) -> Option<StoreView> {
        match &self.client {
            Client::Etcd(r) => self.view_of(r.as_ref()).await,
            Client::Consul(r) => self.view_of(r).await,
        }
    }

    async fn view_of<R: Registry>(&self, r: &R) -> Option<StoreView> {
        let snap = r.list(&self.keys.members()).await.ok()?;
        let announced = Membership::from_snapshot(&self.keys, &snap)
            .members
            .into_iter()
            .map(|m| m.node)
            .collect();
        let created = snap
            .entries
            .iter()
            .filter_map(|e| Some((self.keys.node_of(&e.key)?.to_string(), e.created.0)))
            .collect();
        let key = r.get(&self.keys.leader()).await.ok()?;
        let leader = key
            .as_ref()
            .and_then(|e| LeaderRecord::parse(&e.value))
            .map(|l| l.node);
        Some(StoreView {
            announced,
            created,
            leader_token: key.filter(|_| leader.is_some()).map(|e| e.created.0),
            leader_key: leader,
        })
    }

    /// Deregisters (`true`) or registers again the Consul node disco's
    /// sessions belong to: the sessions were created through s1's agent,
    /// so they are s1's node's (on a store with ACLs, the cluster's own
    /// session node's), and are invalidated with it. Registering it again
    /// is what the agent's anti-entropy would do within a minute.
    pub async fn deregister_node(&self, gone: bool) -> Result<(), WorldError> {
        let node = &self.session_node;
        let (path, body) = if gone {
            ("deregister", serde_json::json!({ "Node": node }))
        } else {
            (
                "register",
                serde_json::json!({ "Node": node, "Address": self.session_addr }),
            )
        };
        let url = format!("{}/v1/catalog/{path}", self.eps[0]);
        self.http
            .put(url)
            .json(&body)
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map(|_| ())
            .map_err(|e| WorldError::Store(format!("{path} {node}: {e}")))
    }

    /// Does `op` to the store from outside, as an operator would.
    pub async fn tamper(&self, op: &StoreOp) -> Result<(), WorldError> {
        match &self.client {
            Client::Etcd(r) => self.tamper_with(r.as_ref(), op).await,
            Client::Consul(r) => self.tamper_with(r, op).await,
        }
    }

    async fn tamper_with<R: Registry>(&self, r: &R, op: &StoreOp) -> Result<(), WorldError> {
        let err = |e: disco::RegistryError| WorldError::Store(e.to_string());
        match op {
            StoreOp::DeleteLeaderKey => r.delete(&self.keys.leader()).await.map_err(err),
            StoreOp::DeleteBootstrapKey => r.delete(&self.keys.bootstrap()).await.map_err(err),
            StoreOp::DeleteMemberKey(n) => r.delete(&self.keys.member(n)).await.map_err(err),
            StoreOp::RevokeLease(n) => {
                let held = r.get(&self.keys.member(n)).await.map_err(err)?;
                match held.and_then(|e| e.lease) {
                    Some(l) => r.revoke(&l).await.map_err(err),
                    None => Ok(()),
                }
            }
            StoreOp::CancelWatches | StoreOp::ClockJump(_) => Err(WorldError::Unsupported(
                format!("{op:?} lives inside the store: only the simulator makes it"),
            )),
        }
    }

    /// The name of the store node that currently leads.
    pub async fn leader(&self, addrs: &Addrs) -> Option<String> {
        let ips: Vec<Ipv4Addr> = self.names.iter().filter_map(|n| addrs.ip(n)).collect();
        let ip = leader_ip(&self.http, self.kind, &ips, self.tls).await?;
        self.names.iter().find(|n| addrs.ip(n) == Some(ip)).cloned()
    }
}

/// The harness's HTTP client, showing `creds` (none: plain HTTP).
fn http(creds: &Credentials) -> Result<reqwest::Client, WorldError> {
    Reqwest::with_credentials(Duration::from_secs(1), creds)
        .map(|r| r.client().clone())
        .map_err(|e| WorldError::Store(e.to_string()))
}

/// A Consul server's API address: plain on 8500, or HTTPS only on
/// [`secrets::CONSUL_HTTPS`] when secured.
fn consul_base(host: &str, tls: bool) -> String {
    if tls {
        format!("https://{host}:{}", secrets::CONSUL_HTTPS)
    } else {
        format!("http://{host}:8500")
    }
}

/// The address of the store node that leads, as the first answering node
/// says.
async fn leader_ip(
    http: &reqwest::Client,
    kind: StoreKind,
    ips: &[Ipv4Addr],
    tls: bool,
) -> Option<Ipv4Addr> {
    for ip in ips {
        match kind {
            // A TLS store answers in plain only on its metrics port.
            StoreKind::Etcd if tls => {
                let Ok(resp) = http
                    .get(format!("http://{ip}:2381/metrics"))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                else {
                    continue;
                };
                let text = resp.text().await.unwrap_or_default();
                if text.lines().any(|l| l.trim() == "etcd_server_is_leader 1") {
                    return Some(*ip);
                }
            }
            StoreKind::Etcd => {
                let Ok(resp) = http
                    .post(format!("http://{ip}:2379/v3/maintenance/status"))
                    .body("{}")
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                else {
                    continue;
                };
                let Ok(v) = resp.json::<Value>().await else {
                    continue;
                };
                let (me, leader) = (v["header"]["member_id"].as_str(), v["leader"].as_str());
                match (me, leader) {
                    (Some(me), Some(l)) if me == l => return Some(*ip),
                    (Some(_), Some(l)) if l != "0" => {
                        // Ask the others; the leader answers with its own id.
                        continue;
                    }
                    _ => continue,
                }
            }
            StoreKind::Consul => {
                let Ok(resp) = http
                    .get(format!(
                        "{}/v1/status/leader",
                        consul_base(&ip.to_string(), tls)
                    ))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                else {
                    continue;
                };
                let text = resp.text().await.unwrap_or_default();
                let addr = text.trim().trim_matches('"');
                if let Some((host, _)) = addr.rsplit_once(':') {
                    if let Ok(l) = host.parse::<Ipv4Addr>() {
                        return Some(l);
                    }
                }
            }
        }
    }
    None
}
