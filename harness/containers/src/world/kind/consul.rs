//! Consul servers as the database: every server starts with
//! `-bootstrap-expect N` and `-retry-join` for each announced peer, so the
//! Raft cluster forms once the agents have told each other where they are;
//! the agent holds the disco leader key while its server reports
//! `"leader":"true"`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::Value;

use super::{Answer, DbView};

/// The agent flags and consul command of the node reachable as `host`, in
/// a cluster of `n`.
pub fn agent_args(host: &str, n: usize, bin: &str) -> Vec<String> {
    [
        "--advertise",
        &format!("{host}:8301"),
        "--leader-probe",
        "http://127.0.0.1:8500/v1/agent/self",
        "--leader-match",
        "\"leader\":\"true\"",
        "--",
        bin,
        "agent",
        "-server",
        "-node",
        "{id}",
        "-bootstrap-expect",
        &n.to_string(),
        "-data-dir",
        "/data",
        "-client",
        "0.0.0.0",
        // One argument, so that it is dropped whole when there is no peer.
        "-retry-join={peer}",
        // Consul's default (5) is tuned for slow machines: elections
        // after 5-10 s; 1 is HashiCorp's production recommendation. Braces are
        // doubled for disco-agent's template.
        "-hcl=performance {{ raft_multiplier = 1 }}",
        "-log-level",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The Raft configuration as this server sees it (`?stale`: no forwarding).
pub async fn probe(http: &reqwest::Client, ip: Ipv4Addr) -> Option<DbView> {
    let resp = http
        .get(format!(
            "http://{ip}:8500/v1/operator/raft/configuration?stale"
        ))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let v: Value = resp.json().await.ok()?;
    let servers = v["Servers"].as_array()?;
    let self_name = agent_name(http, ip).await?;
    let members: BTreeSet<String> = servers
        .iter()
        .filter_map(|s| s["Node"].as_str().map(str::to_string))
        .collect();
    let leads = servers
        .iter()
        .any(|s| s["Node"].as_str() == Some(&self_name) && s["Leader"].as_bool() == Some(true));
    Some(DbView { members, leads })
}

async fn agent_name(http: &reqwest::Client, ip: Ipv4Addr) -> Option<String> {
    let v: Value = http
        .get(format!("http://{ip}:8500/v1/agent/self"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v["Config"]["NodeName"].as_str().map(str::to_string)
}

/// A KV put; acknowledged when Consul answers `true`.
pub async fn write(http: &reqwest::Client, ip: Ipv4Addr, key: &str, value: &str) -> bool {
    reg_write(http, ip, key, value).await == Answer::Ok(None)
}

/// A consistent read of one key.
pub async fn read(
    http: &reqwest::Client,
    ip: Ipv4Addr,
    key: &str,
) -> Result<Option<String>, String> {
    let resp = http
        .get(format!("http://{ip}:8500/v1/kv/{key}?raw&consistent"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match resp.status().as_u16() {
        404 => Ok(None),
        s if (200..300).contains(&s) => resp.text().await.map(Some).map_err(|e| e.to_string()),
        s => Err(format!("HTTP {s} from {ip}")),
    }
}

/// A register read in Consul's `mode` (`consistent`, `default`, `stale`).
pub async fn reg_read(http: &reqwest::Client, ip: Ipv4Addr, key: &str, mode: &str) -> Answer {
    let q = if mode == "default" {
        String::new()
    } else {
        format!("&{mode}")
    };
    let Ok(resp) = http
        .get(format!("http://{ip}:8500/v1/kv/{key}?raw{q}"))
        .send()
        .await
    else {
        return Answer::Fail;
    };
    match resp.status().as_u16() {
        404 => Answer::Ok(None),
        200 => resp
            .text()
            .await
            .map_or(Answer::Fail, |t| Answer::Ok(Some(t))),
        _ => Answer::Fail,
    }
}

/// A register write: no answer may still have been applied.
pub async fn reg_write(http: &reqwest::Client, ip: Ipv4Addr, key: &str, value: &str) -> Answer {
    put(http, format!("http://{ip}:8500/v1/kv/{key}"), value).await
}

/// The key's value and ModifyIndex (0 when absent), read consistently: the
/// first half of a compare-and-set.
pub async fn reg_index(
    http: &reqwest::Client,
    ip: Ipv4Addr,
    key: &str,
) -> Option<(Option<String>, u64)> {
    let resp = http
        .get(format!("http://{ip}:8500/v1/kv/{key}?consistent"))
        .send()
        .await
        .ok()?;
    match resp.status().as_u16() {
        404 => Some((None, 0)),
        200 => {
            let v: Value = resp.json().await.ok()?;
            let e = v.as_array()?.first()?;
            let raw = e["Value"].as_str().unwrap_or("");
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
            Some((
                Some(String::from_utf8_lossy(&bytes).into_owned()),
                e["ModifyIndex"].as_u64()?,
            ))
        }
        _ => None,
    }
}

/// The second half: a put applied only while the key is still at `index`
/// (so still holds the value read at it; 0: still absent).
pub async fn reg_cas(
    http: &reqwest::Client,
    ip: Ipv4Addr,
    key: &str,
    index: u64,
    to: &str,
) -> Answer {
    put(
        http,
        format!("http://{ip}:8500/v1/kv/{key}?cas={index}"),
        to,
    )
    .await
}

async fn put(http: &reqwest::Client, url: String, value: &str) -> Answer {
    let Ok(resp) = http.put(url).body(value.to_string()).send().await else {
        return Answer::Unknown;
    };
    if !resp.status().is_success() {
        return Answer::Unknown;
    }
    match resp.text().await.as_deref().map(str::trim) {
        Ok("true") => Answer::Ok(None),
        Ok("false") => Answer::Fail,
        _ => Answer::Unknown,
    }
}
