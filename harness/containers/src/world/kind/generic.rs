//! A system the lab knows only from its scenario: the user's image with
//! `disco-agent` layered on (see [`stock::generic`]), started as
//! `disco-agent ... -- <the scenario's command template>`, observed through
//! the scenario's HTTP probe and written through its key-value requests.
//!
//! [`stock::generic`]: crate::image::stock::generic

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use clusterlab_scenario::{Generic, HttpKv};
use serde_json::Value;

use super::DbView;
use crate::image::stock::GENERIC_AGENT;

/// The container command of the node reachable as `host`: the layered
/// agent (through its own loader), the lab's flags, the scenario's extra
/// agent flags, then the command template.
pub fn command(g: &Generic, lab_flags: Vec<String>, host: &str) -> Vec<String> {
    let mut argv: Vec<String> = GENERIC_AGENT.iter().map(|s| s.to_string()).collect();
    argv.extend(lab_flags);
    argv.push("--advertise".into());
    argv.push(format!("{host}:{}", g.port));
    argv.extend(g.agent.iter().cloned());
    argv.push("--".into());
    argv.extend(g.command.iter().cloned());
    argv
}

/// The members and leader the probe's answer names; `node` leads if the
/// leader selector names it.
pub async fn probe(
    g: &Generic,
    http: &reqwest::Client,
    ip: Ipv4Addr,
    node: &str,
) -> Option<DbView> {
    let p = &g.probe;
    let url = format!("http://{ip}:{}{}", p.port, p.path);
    let req = if p.method == "POST" {
        http.post(url).body(p.body.clone().unwrap_or_default())
    } else {
        http.get(url)
    };
    let resp = req.send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let v: Value = resp.json().await.ok()?;
    let members: BTreeSet<String> = p.members.select(&v).into_iter().collect();
    let leads = p.leader.select(&v).iter().any(|l| l == node);
    Some(DbView { members, leads })
}

fn fill(template: &str, key: &str, value: &str) -> String {
    template.replace("{key}", key).replace("{value}", value)
}

/// Writes through the scenario's write request; true on a 2xx answer.
pub async fn write(
    kv: &HttpKv,
    http: &reqwest::Client,
    ip: Ipv4Addr,
    key: &str,
    value: &str,
) -> bool {
    let url = format!(
        "http://{ip}:{}{}",
        kv.port,
        fill(&kv.write_path, key, value)
    );
    let req = match kv.write_method.as_str() {
        "POST" => http.post(url),
        _ => http.put(url),
    };
    req.body(fill(&kv.body, key, value))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Reads through the scenario's read request: 404 is absent, another
/// non-2xx answer or no answer is an error.
pub async fn read(
    kv: &HttpKv,
    http: &reqwest::Client,
    ip: Ipv4Addr,
    key: &str,
) -> Result<Option<String>, String> {
    let url = format!("http://{ip}:{}{}", kv.port, fill(&kv.read_path, key, ""));
    let resp = http.get(&url).send().await.map_err(|e| e.to_string())?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !resp.status().is_success() {
        return Err(format!("{url}: {}", resp.status()));
    }
    let text = resp.text().await.map_err(|e| e.to_string())?;
    match &kv.value {
        None => Ok(Some(text)),
        Some(sel) => {
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{url}: {e}"))?;
            Ok(sel.select(&v).into_iter().next())
        }
    }
}
