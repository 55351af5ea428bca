//! Patroni + PostgreSQL as the database. Patroni keeps its own leader lock
//! in the same store; the agent announces the node, holds the disco leader
//! key while Patroni's REST API says this node is the primary (`/primary`
//! answers 200 only there), and execs Patroni with per-node settings in
//! `PATRONI_*` variables (the shared ones are in `harness/images/patroni.yml`).
//! The writer upserts into a table through the primary; reads back only
//! from a node that is not in recovery.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use clusterlab_scenario::{Scenario, StoreKind};
use serde_json::Value;
use tokio_postgres::NoTls;

use super::{Answer, DbView, StoreUrl};

/// Patroni's leader lock TTL for `scenario`: its `ttl`, doubled on Consul,
/// where Patroni asks for a session of half its TTL (and Consul refuses
/// sessions under 10 s), so that the session gets the scenario's TTL.
pub fn lock_ttl(scenario: &Scenario) -> Duration {
    match scenario.discovery.kind {
        StoreKind::Consul => scenario.discovery.ttl * 2,
        StoreKind::Etcd => scenario.discovery.ttl,
    }
}

/// The agent flags and Patroni command of the node reachable as `host`,
/// in cluster `scope`.
pub fn agent_args(host: &str, scope: &str, store: &StoreUrl) -> Vec<String> {
    let hosts: Vec<&str> = store
        .url
        .split(',')
        .map(|u| u.trim_start_matches("http://"))
        .collect();
    let dcs = match store.flag {
        "--consul" => format!("PATRONI_CONSUL_HOST={}", hosts[0]),
        _ => format!("PATRONI_ETCD3_HOSTS={}", hosts.join(",")),
    };
    [
        "--advertise",
        &format!("{host}:5432"),
        "--leader-probe",
        "http://127.0.0.1:8008/primary",
        "--",
        "/usr/bin/env",
        "PATRONI_NAME={id}",
        &format!("PATRONI_SCOPE={scope}"),
        &format!("PATRONI_RESTAPI_CONNECT_ADDRESS={host}:8008"),
        "PATRONI_POSTGRESQL_CONNECT_ADDRESS={advertise}",
        &dcs,
        "/usr/bin/patroni",
        "/etc/patroni.yml",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn get(http: &reqwest::Client, ip: Ipv4Addr, path: &str) -> Option<Value> {
    http.get(format!("http://{ip}:8008{path}"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Running members from `/cluster`, and whether this node's own
/// `/patroni` says it is the running primary.
pub async fn probe(http: &reqwest::Client, ip: Ipv4Addr) -> Option<DbView> {
    let me = get(http, ip, "/patroni").await?;
    let cluster = get(http, ip, "/cluster").await?;
    let members: BTreeSet<String> = cluster["members"]
        .as_array()?
        .iter()
        .filter(|m| matches!(m["state"].as_str(), Some("running" | "streaming")))
        .filter_map(|m| m["name"].as_str().map(str::to_string))
        .collect();
    let leads = me["state"].as_str() == Some("running")
        && matches!(me["role"].as_str(), Some("master" | "primary"));
    Some(DbView { members, leads })
}

async fn connect(ip: Ipv4Addr) -> Result<tokio_postgres::Client, String> {
    let conf = format!("host={ip} port=5432 user=postgres dbname=postgres connect_timeout=1");
    let (client, conn) = tokio::time::timeout(
        Duration::from_secs(2),
        tokio_postgres::connect(&conf, NoTls),
    )
    .await
    .map_err(|_| format!("connect to {ip}: timed out"))?
    .map_err(|e| format!("connect to {ip}: {e}"))?;
    tokio::spawn(conn);
    Ok(client)
}

/// An upsert, acknowledged when the commit returns.
pub async fn write(ip: Ipv4Addr, key: &str, value: &str) -> bool {
    let Ok(seq) = value.parse::<i64>() else {
        return false;
    };
    let attempt = async {
        let c = connect(ip).await.ok()?;
        c.batch_execute(
            "CREATE TABLE IF NOT EXISTS clusterlab_w (k text PRIMARY KEY, seq bigint NOT NULL)",
        )
        .await
        .ok()?;
        c.execute(
            "INSERT INTO clusterlab_w (k, seq) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET seq = excluded.seq",
            &[&key, &seq],
        )
        .await
        .ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(1))
    )
}

/// Reads `key` from `ip` if it is the primary (a lagging replica could
/// show an old value that the primary has not lost).
pub async fn read(ip: Ipv4Addr, key: &str) -> Result<Option<String>, String> {
    let c = connect(ip).await?;
    let recovering: bool = c
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    if recovering {
        return Err(format!("{ip} is a replica"));
    }
    let row = c
        .query_opt("SELECT seq FROM clusterlab_w WHERE k = $1", &[&key])
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.map(|r| r.get::<_, i64>(0).to_string()))
}

/// Adds `e` to the set table on `ip`: acknowledged when the commit returns;
/// a node that cannot be reached did not add it; any other failure may
/// have committed.
pub async fn set_add(ip: Ipv4Addr, e: i64) -> Answer {
    let Ok(c) = connect(ip).await else {
        return Answer::Fail;
    };
    let attempt = async {
        c.batch_execute("CREATE TABLE IF NOT EXISTS clusterlab_set (e bigint PRIMARY KEY)")
            .await?;
        c.execute("INSERT INTO clusterlab_set (e) VALUES ($1)", &[&e])
            .await
    };
    match tokio::time::timeout(Duration::from_secs(2), attempt).await {
        Ok(Ok(1)) => Answer::Ok(None),
        // A replica refuses writes before it starts one.
        Ok(Err(err))
            if err.code() == Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION) =>
        {
            Answer::Fail
        }
        _ => Answer::Unknown,
    }
}

/// The whole set, read on `ip` if it is the primary, as a JSON array.
pub async fn set_read(ip: Ipv4Addr) -> Answer {
    let attempt = async {
        let c = connect(ip).await.ok()?;
        let recovering: bool = c
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .ok()?
            .get(0);
        if recovering {
            return None;
        }
        let rows = c
            .query("SELECT e FROM clusterlab_set ORDER BY e", &[])
            .await
            .ok()?;
        let els: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        Some(serde_json::to_string(&els).expect("numbers"))
    };
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Ok(Some(json)) => Answer::Ok(Some(json)),
        _ => Answer::Fail,
    }
}
