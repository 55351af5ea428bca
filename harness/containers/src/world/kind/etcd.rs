//! etcd members as the database: each joiner is added through MemberAdd
//! by its agent (`--etcd-member-add`), and the agent holds the disco leader
//! key while its etcd is the Raft leader (`etcd_server_is_leader 1`).
//! Probes and writes use etcd's JSON gateway, so a dead member costs one
//! HTTP timeout and no connection state.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use super::{Answer, DbView};

/// The agent flags and etcd command of the node reachable as `host`,
/// starting etcd as `bin`.
pub fn agent_args(host: &str, bin: &str) -> Vec<String> {
    let peer = format!("http://{host}:2380");
    [
        "--advertise",
        &peer,
        "--etcd-member-add",
        "2379",
        "--leader-probe",
        "http://127.0.0.1:2379/metrics",
        "--leader-match",
        "etcd_server_is_leader 1",
        "--ready-probe",
        "http://127.0.0.1:2379/health",
        "--",
        bin,
        "--name",
        "{id}",
        "--data-dir",
        "/data",
        "--listen-client-urls",
        "http://0.0.0.0:2379",
        "--advertise-client-urls",
        &format!("http://{host}:2379"),
        "--listen-peer-urls",
        "http://0.0.0.0:2380",
        "--initial-advertise-peer-urls",
        "{advertise}",
        "--initial-cluster",
        "{initial_cluster}",
        "--initial-cluster-state",
        "{state}",
        "--log-level",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn post(http: &reqwest::Client, ip: Ipv4Addr, path: &str, body: Value) -> Option<Value> {
    let resp = http
        .post(format!("http://{ip}:2379{path}"))
        .json(&body)
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// The host of `http://host:port`.
fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.rsplit_once(':').map_or(rest, |(h, _)| h)
}

/// Member names (a member added but not started yet has no name: its peer
/// URL's host stands in) and whether this member is the Raft leader.
pub async fn probe(http: &reqwest::Client, ip: Ipv4Addr) -> Option<DbView> {
    let status = post(http, ip, "/v3/maintenance/status", json!({})).await?;
    let list = post(http, ip, "/v3/cluster/member/list", json!({})).await?;
    let me = status["header"]["member_id"].as_str()?;
    let leader = status["leader"].as_str().unwrap_or("0");
    let members: BTreeSet<String> = list["members"]
        .as_array()?
        .iter()
        .map(|m| match m["name"].as_str() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => host(m["peerURLs"][0].as_str().unwrap_or("?")).to_string(),
        })
        .collect();
    Some(DbView {
        members,
        leads: leader == me,
    })
}

/// A put; acknowledged when etcd answers with a header.
pub async fn write(http: &reqwest::Client, ip: Ipv4Addr, key: &str, value: &str) -> bool {
    let body = json!({"key": B64.encode(key), "value": B64.encode(value)});
    post(http, ip, "/v3/kv/put", body)
        .await
        .is_some_and(|v| v.get("header").is_some())
}

/// A linearizable range of one key.
pub async fn read(
    http: &reqwest::Client,
    ip: Ipv4Addr,
    key: &str,
) -> Result<Option<String>, String> {
    let v = post(http, ip, "/v3/kv/range", json!({"key": B64.encode(key)}))
        .await
        .ok_or_else(|| format!("no answer from {ip}"))?;
    value_of(&v)
}

/// A register read (`serializable`: the member's local copy).
pub async fn reg_read(
    http: &reqwest::Client,
    ip: Ipv4Addr,
    key: &str,
    serializable: bool,
) -> Answer {
    let body = json!({"key": B64.encode(key), "serializable": serializable});
    match post(http, ip, "/v3/kv/range", body).await {
        Some(v) if v.get("header").is_some() => Answer::Ok(value_of(&v).ok().flatten()),
        // A read that got no answer changed nothing.
        _ => Answer::Fail,
    }
}

/// A register write: no answer may still have been applied.
pub async fn reg_write(http: &reqwest::Client, ip: Ipv4Addr, key: &str, value: &str) -> Answer {
    let body = json!({"key": B64.encode(key), "value": B64.encode(value)});
    match post(http, ip, "/v3/kv/put", body).await {
        Some(v) if v.get("header").is_some() => Answer::Ok(None),
        _ => Answer::Unknown,
    }
}

/// A register compare-and-set, one etcd transaction: the value compared
/// (or, for `from = None`, the key's absence), then the put.
pub async fn reg_cas(
    http: &reqwest::Client,
    ip: Ipv4Addr,
    key: &str,
    from: Option<&str>,
    to: &str,
) -> Answer {
    let k = B64.encode(key);
    let compare = match from {
        Some(f) => json!({"key": k, "target": "VALUE", "result": "EQUAL", "value": B64.encode(f)}),
        None => json!({"key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}),
    };
    let body = json!({
        "compare": [compare],
        "success": [{"request_put": {"key": k, "value": B64.encode(to)}}],
    });
    match post(http, ip, "/v3/kv/txn", body).await {
        Some(v) if v.get("header").is_some() => {
            if v["succeeded"].as_bool() == Some(true) {
                Answer::Ok(None)
            } else {
                Answer::Fail
            }
        }
        _ => Answer::Unknown,
    }
}

/// The first key's value in a range answer (`None`: no key); an error if
/// etcd's base64 does not decode.
fn value_of(range: &Value) -> Result<Option<String>, String> {
    let Some(kv) = range["kvs"].as_array().and_then(|a| a.first()) else {
        return Ok(None);
    };
    let raw = B64
        .decode(kv["value"].as_str().unwrap_or(""))
        .map_err(|e| e.to_string())?;
    Ok(Some(String::from_utf8_lossy(&raw).into_owned()))
}
