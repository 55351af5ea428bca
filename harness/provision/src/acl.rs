//! A secured Consul: the agent configuration that serves HTTPS only with
//! client certificates required (`verify_incoming`), TLS between servers,
//! and ACLs in default-deny; then one policy and token per cluster, which
//! may write only that cluster's keys. Consul, unlike etcd, does not take
//! an identity from a certificate: the token is the identity, and the
//! certificate only lets a client talk at all.

use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use disco::backend::http::{HttpClient, HttpRequest, Reqwest};
use disco::backend::Credentials;
use serde_json::{json, Value};
use tokio::time::Instant;

/// Where the agent finds its certificates.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The authority's certificate.
    pub ca: String,
    /// The server's certificate.
    pub cert: String,
    /// Its key.
    pub key: String,
}

/// `n` random bytes from the kernel.
fn random(n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf
}

/// A fresh token in the UUID form Consul requires of a secret.
pub fn new_token() -> String {
    let b = random(16);
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A fresh gossip encryption key (Consul's `encrypt`: 32 bytes, base64).
pub fn new_gossip_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(random(32))
}

/// The agent configuration (JSON, for `-config-file`) of a secured
/// server: plain HTTP off, HTTPS on `https_port` with client certificates
/// required, TLS between servers, gossip encrypted with `gossip` if given,
/// and with `master`, ACLs default-deny with it as the management token
/// (and the agent's own, so it may register its node and serve sessions).
pub fn secured_config(
    files: &TlsFiles,
    https_port: u16,
    master: Option<&str>,
    gossip: Option<&str>,
) -> Value {
    let mut c = json!({
        "ports": { "http": -1, "https": https_port },
        "ca_file": files.ca,
        "cert_file": files.cert,
        "key_file": files.key,
        "verify_incoming": true,
        "verify_outgoing": true,
        // Servers must show a certificate naming server.<dc>.consul: a
        // client's certificate from the same authority cannot join the
        // server RPC (Raft there checks no ACL).
        "verify_server_hostname": true,
        "primary_datacenter": "dc1",
    });
    if let Some(m) = master {
        c["acl"] = json!({
            "enabled": true,
            "default_policy": "deny",
            "down_policy": "extend-cache",
            "tokens": { "master": m, "agent": m },
        });
    }
    if let Some(k) = gossip {
        c["encrypt"] = json!(k);
    }
    c
}

/// The name a server's certificate must carry under
/// `verify_server_hostname` (datacenter `dc1`).
pub const SERVER_NAME: &str = "server.dc1.consul";

/// One cluster's grant: its token may write keys under `prefix` and
/// sessions on catalog node `session_node` only (Consul scopes sessions by
/// node: sessions on a shared node would be any token's to destroy).
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    /// The policy's name.
    pub name: &'a str,
    /// The keys it may touch.
    pub prefix: &'a str,
    /// The catalog node its sessions live on (registered by [`grant`];
    /// disco's `ConsulRegistry::with_session_node`).
    pub session_node: &'a str,
    /// The token's secret (see [`new_token`]).
    pub token: &'a str,
}

async fn call(
    http: &Reqwest,
    base: &str,
    method: &'static str,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, String), String> {
    let r = http
        .send(HttpRequest {
            method,
            url: format!("{base}{path}"),
            body: body.map(|b| b.to_string().into_bytes()),
            timeout: Duration::from_secs(3),
        })
        .await?;
    Ok((r.status, r.body))
}

/// Makes each grant's policy and token at `base` (`https://host:port`),
/// as `admin` (the CA, a client certificate and the master token). Waits
/// up to `deadline` for the leader to have set the ACL system up.
pub async fn grant(
    base: &str,
    admin: &Credentials,
    grants: &[Grant<'_>],
    deadline: Duration,
) -> Result<(), String> {
    let http =
        Reqwest::with_credentials(Duration::from_secs(2), admin).map_err(|e| e.to_string())?;
    let give_up = Instant::now() + deadline;
    loop {
        match call(&http, base, "GET", "/v1/acl/token/self", None).await {
            Ok((200, _)) => break,
            other if Instant::now() > give_up => {
                return Err(format!(
                    "the master token was not accepted within {deadline:?}: {other:?}"
                ))
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    for g in grants {
        let (status, body) = call(
            &http,
            base,
            "PUT",
            "/v1/catalog/register",
            Some(json!({ "Node": g.session_node, "Address": "127.0.0.1" })),
        )
        .await?;
        if status != 200 {
            return Err(format!("node {}: {status} {body}", g.session_node));
        }
        let rules = format!(
            "key_prefix \"{}\" {{ policy = \"write\" }}\nsession \"{}\" {{ policy = \"write\" }}\n",
            g.prefix, g.session_node
        );
        let (status, body) = call(
            &http,
            base,
            "PUT",
            "/v1/acl/policy",
            Some(json!({ "Name": g.name, "Rules": rules })),
        )
        .await?;
        if status != 200 {
            return Err(format!("policy {}: {status} {body}", g.name));
        }
        let (status, body) = call(
            &http,
            base,
            "PUT",
            "/v1/acl/token",
            Some(json!({
                "Description": format!("clusterlab: cluster {}", g.name),
                "SecretID": g.token,
                "Policies": [{ "Name": g.name }],
            })),
        )
        .await?;
        if status != 200 {
            return Err(format!("token of {}: {status} {body}", g.name));
        }
    }
    Ok(())
}
