//! MariaDB Galera as the database, joined through disco-agent: the node
//! that wins the bootstrap starts a new cluster (`--wsrep-new-cluster`),
//! every other node `gcomm://` the announced peers
//! (`harness/containers/images/galera-node.sh`); or, with `join = "root"`,
//! by seed 001's glue ([`glue_args`]). Galera is multi-primary:
//! every node in the primary component takes writes, so there is no
//! database leader and the agent campaigns for nothing (`--no-leader`).
//! Probes, writes and the set workload speak MySQL to port 3306 as the
//! `lab` user the node script creates.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

use super::{Answer, DbView};

/// Answers slower than this count as none (a probe) or as unknown (a
/// write).
const PATIENCE: Duration = Duration::from_secs(2);

/// The agent flags and node command of the node reachable as `host`, in
/// cluster `cluster`.
pub fn agent_args(host: &str, cluster: &str) -> Vec<String> {
    [
        "--advertise",
        &format!("{host}:4567"),
        "--no-leader",
        "--",
        "/bin/sh",
        "/usr/local/bin/galera-node",
        "{state}",
        "{peers}",
        "{id}",
        host,
        &group_name(cluster),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The node command of seed 001's glue, with no agent: the root (`joins`
/// is `None`) starts a new cluster on every start, as the seed's root
/// service does; every other node joins the root by its name.
pub fn glue_args(node: &str, host: &str, joins: Option<&str>, cluster: &str) -> Vec<String> {
    let (state, peers) = match joins {
        None => ("new", String::new()),
        Some(root) => ("existing", format!("{root}:4567")),
    };
    [
        "/bin/sh",
        "/usr/local/bin/galera-node",
        state,
        &peers,
        node,
        host,
        &group_name(cluster),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Galera's group (`wsrep_cluster_name`) for disco cluster `cluster`:
/// Galera refuses longer names than [`GROUP_NAME_MAX`] (a joiner's
/// handshake then fails with "handling gmcast protocol message failed"
/// and it never joins), so a longer one is cut and made unique by a hash.
pub fn group_name(cluster: &str) -> String {
    if cluster.len() <= GROUP_NAME_MAX {
        return cluster.to_string();
    }
    let hash = cluster.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let hash = format!("{hash:016x}");
    format!("{}-{}", &cluster[..GROUP_NAME_MAX - 17], hash)
}

/// The longest group name Galera takes.
const GROUP_NAME_MAX: usize = 32;

async fn connect(ip: Ipv4Addr) -> Result<Conn, String> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(ip.to_string())
        .tcp_port(3306)
        .user(Some("lab"))
        .pass(Some("lab"))
        // Causal reads: a read waits until the node has applied every
        // write the cluster committed before it began. Without it Galera
        // may answer from behind, which is documented, not a fault.
        .init(vec!["SET SESSION wsrep_sync_wait = 1"]);
    tokio::time::timeout(PATIENCE, Conn::new(opts))
        .await
        .map_err(|_| format!("no MySQL connection to {ip} within {PATIENCE:?}"))?
        .map_err(|e| e.to_string())
}

/// The members this node's primary component has (by the host part of
/// their incoming addresses: container names), or only itself while it is
/// not in a synced primary component.
///
/// The names come from `mysql.wsrep_cluster_members`, MariaDB's record of
/// its current primary view, which a joiner restores from its state
/// transfer. Not first from `wsrep_incoming_addresses`: Galera refreshes
/// that list only on a membership change it processes itself, and skips
/// one that a state transfer already covered, so a node that was
/// receiving its SST while a third node joined listed two members for
/// good. Either source is taken only when its count is
/// `wsrep_cluster_size`: the table first, the status list when the table
/// disagrees (so neither source going stale alone hides a formed
/// cluster); when both disagree the node is between two views: no answer
/// this time.
pub async fn probe(ip: Ipv4Addr, node: &str) -> Option<DbView> {
    let attempt = async {
        let mut c = connect(ip).await.ok()?;
        let rows: Vec<(String, String)> =
            c.query("SHOW GLOBAL STATUS LIKE 'wsrep_%'").await.ok()?;
        let addrs: Vec<String> = c
            .query("SELECT node_incoming_address FROM mysql.wsrep_cluster_members")
            .await
            .ok()?;
        let _ = c.disconnect().await;
        Some((rows, addrs))
    };
    let (rows, addrs) = tokio::time::timeout(PATIENCE, attempt).await.ok()??;
    let get = |k: &str| {
        rows.iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let primary = get("wsrep_cluster_status") == Some("Primary")
        && get("wsrep_local_state_comment") == Some("Synced");
    let members: BTreeSet<String> = if primary {
        let size = get("wsrep_cluster_size")?.parse::<usize>().ok()?;
        members(size, &addrs, get("wsrep_incoming_addresses").unwrap_or(""))?
    } else {
        [node.to_string()].into()
    };
    Some(DbView {
        members,
        leads: false,
    })
}

/// The members of a primary component of `size` nodes, by host name:
/// from the members table's addresses when there are `size` of them, else
/// from the comma-separated status list when it has `size` and holds every
/// row of the table (the table lagging a join), else none.
fn members(size: usize, table: &[String], listed: &str) -> Option<BTreeSet<String>> {
    let listed: Vec<&str> = listed.split(',').filter(|a| !a.is_empty()).collect();
    let table: Vec<&str> = table.iter().map(String::as_str).collect();
    let covers = table.iter().all(|a| listed.contains(a));
    let addrs = if table.len() == size {
        table
    } else if listed.len() == size && covers {
        listed
    } else {
        return None;
    };
    Some(
        addrs
            .iter()
            .filter_map(|a| a.rsplit_once(':').map(|(h, _)| h.to_string()))
            .filter(|h| !h.is_empty())
            .collect(),
    )
}

/// What a MySQL error says of a write: refused before it began (not
/// primary, a certification conflict that rolled it back) or unknown.
fn refused(e: &mysql_async::Error) -> bool {
    match e {
        // 1047: WSREP has not yet prepared node for application use;
        // 1213: deadlock, Galera's answer to a certification failure
        // (rolled back); 1205: lock wait timeout (rolled back).
        mysql_async::Error::Server(s) => matches!(s.code, 1047 | 1213 | 1205),
        _ => false,
    }
}

/// Writes `key = value` through `ip`; true when the commit returned.
pub async fn write(ip: Ipv4Addr, key: &str, value: &str) -> bool {
    let Ok(seq) = value.parse::<i64>() else {
        return false;
    };
    let attempt = async {
        let mut c = connect(ip).await.ok()?;
        c.query_drop(
            "CREATE TABLE IF NOT EXISTS lab.w (k VARCHAR(64) PRIMARY KEY, seq BIGINT NOT NULL)",
        )
        .await
        .ok()?;
        c.exec_drop(
            "INSERT INTO lab.w (k, seq) VALUES (?, ?) ON DUPLICATE KEY UPDATE seq = VALUES(seq)",
            (key, seq),
        )
        .await
        .ok()
    };
    matches!(tokio::time::timeout(PATIENCE, attempt).await, Ok(Some(())))
}

/// Reads `key` through `ip` (a causal read).
pub async fn read(ip: Ipv4Addr, key: &str) -> Result<Option<String>, String> {
    let mut c = connect(ip).await?;
    let row: Option<i64> = c
        .exec_first("SELECT seq FROM lab.w WHERE k = ?", (key,))
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.map(|s| s.to_string()))
}

/// Adds `e` to the set table through `ip`: acknowledged when the commit
/// returns; a node that cannot be reached or refuses did not add it; any
/// other failure may have committed.
pub async fn set_add(ip: Ipv4Addr, e: i64) -> Answer {
    let Ok(mut c) = connect(ip).await else {
        return Answer::Fail;
    };
    let attempt = async {
        c.query_drop("CREATE TABLE IF NOT EXISTS lab.s (e BIGINT PRIMARY KEY)")
            .await?;
        c.exec_drop("INSERT INTO lab.s (e) VALUES (?)", (e,)).await
    };
    match tokio::time::timeout(PATIENCE, attempt).await {
        Ok(Ok(())) => Answer::Ok(None),
        Ok(Err(err)) if refused(&err) => Answer::Fail,
        _ => Answer::Unknown,
    }
}

/// The whole set, read through `ip` (a causal read), as a JSON array.
pub async fn set_read(ip: Ipv4Addr) -> Answer {
    let attempt = async {
        let mut c = connect(ip).await.ok()?;
        let els: Vec<i64> = c.query("SELECT e FROM lab.s ORDER BY e").await.ok()?;
        Some(serde_json::to_string(&els).expect("numbers"))
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Some(json)) => Answer::Ok(Some(json)),
        _ => Answer::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_come_from_whichever_source_counts_the_cluster() {
        let table = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let names = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let three = table(&["n1:3306", "n2:3306", "n3:3306"]);
        assert_eq!(
            members(3, &three, "n1:3306,n2:3306"),
            Some(names(&["n1", "n2", "n3"]))
        );
        assert_eq!(
            members(3, &three[..2], "n3:3306,n1:3306,n2:3306"),
            Some(names(&["n1", "n2", "n3"])),
            "a stale table gives way to a status list of the right size"
        );
        assert_eq!(members(3, &three[..2], "n1:3306,,n2:3306"), None);
        assert_eq!(
            members(3, &three[..2], "n1:3306,n3:3306,n4:3306"),
            None,
            "a status list that leaves out a row of the table is not taken"
        );
    }

    #[test]
    fn long_cluster_names_become_short_distinct_groups() {
        assert_eq!(group_name("galera-etcd-formation"), "galera-etcd-formation");
        let a = group_name("galera-consul-partition-under-load");
        let b = group_name("galera-consul-partition-under-loaf");
        assert!(
            a.len() <= GROUP_NAME_MAX && b.len() <= GROUP_NAME_MAX,
            "{a} {b}"
        );
        assert_ne!(a, b);
        assert!(a.starts_with("galera-consul-"), "{a}");
    }
}
