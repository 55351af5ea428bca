//! RabbitMQ 3.10, formed by its own etcd or Consul peer-discovery plugin
//! (`rabbitmq_peer_discovery_etcd`, `rabbitmq_peer_discovery_consul`): no
//! disco-agent in the path, so the lab tests RabbitMQ's formation code.
//! Each node is `rabbit@<container name>`; its own view of the cluster is
//! read from its management API (`/api/nodes`: the nodes of the cluster it
//! belongs to, and which of them run).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use clusterlab_provision::pki::Authority;
use serde_json::Value;

use super::{DbView, StoreUrl};

/// The management API's port.
pub const MANAGEMENT_PORT: u16 = 15672;

/// One Erlang cookie for the run: nodes of one cluster must share it, and
/// the run's own network keeps other runs apart.
const COOKIE: &str = "CLUSTERLABRABBITMQCOOKIE";

/// The container command: the start script, told the store, the cluster
/// name (RabbitMQ's own isolation between clusters on one store) and the
/// container's name.
pub fn command(store: &StoreUrl, cluster: &str, host: &str) -> Vec<String> {
    let backend = store.flag.trim_start_matches("--");
    let endpoints: Vec<&str> = store
        .url
        .split(',')
        .map(|u| u.split_once("://").map_or(u, |(_, rest)| rest))
        .collect();
    [
        "/bin/sh",
        "/usr/local/bin/rabbitmq-node",
        backend,
        &endpoints.join(","),
        cluster,
        host,
        COOKIE,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Where Debian's `ca-certificates` puts the system's CA bundle: the first
/// file Erlang's `public_key:cacerts_load/0` reads on Linux.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The files a node's system gets besides the image's (`[cluster]
/// ca_bundle = true`): a CA bundle holding one authority made for the run.
/// Nothing is verified against it (the stores speak plain HTTP and gRPC
/// here); 4.0.5's discovery client needs only that a bundle is there
/// (docs/src/findings.md).
pub fn files(ca_bundle: bool) -> Vec<(String, Vec<u8>)> {
    if !ca_bundle {
        return Vec::new();
    }
    let ca = Authority::new("clusterlab system CA");
    vec![(CA_BUNDLE.to_string(), ca.pem().into_bytes())]
}

/// The running nodes of the cluster this node belongs to, by host (the
/// caller maps container names to node names). RabbitMQ has no leader.
pub async fn probe(http: &reqwest::Client, ip: Ipv4Addr) -> Option<DbView> {
    let nodes: Value = http
        .get(format!("http://{ip}:{MANAGEMENT_PORT}/api/nodes"))
        .basic_auth("guest", Some("guest"))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .json()
        .await
        .ok()?;
    let members: BTreeSet<String> = nodes
        .as_array()?
        .iter()
        .filter(|n| n["running"].as_bool() == Some(true))
        .filter_map(|n| n["name"].as_str())
        .map(|name| {
            name.split_once('@')
                .map_or(name, |(_, host)| host)
                .to_string()
        })
        .collect();
    Some(DbView {
        members,
        leads: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_told_the_stores_endpoints_without_scheme() {
        let store = StoreUrl {
            flag: "--etcd",
            url: "http://s1:2379,http://s2:2379".into(),
            creds: Vec::new(),
        };
        let argv = command(&store, "quick", "clusterlab-x-n1");
        assert_eq!(
            argv[2..6],
            ["etcd", "s1:2379,s2:2379", "quick", "clusterlab-x-n1"].map(String::from)
        );
    }

    #[test]
    fn a_ca_bundle_is_one_certificate_where_debian_keeps_it_and_only_when_asked() {
        assert!(files(false).is_empty(), "the package's dependencies only");
        let files = files(true);
        assert_eq!(files.len(), 1);
        let (path, pem) = &files[0];
        assert_eq!(path, "/etc/ssl/certs/ca-certificates.crt");
        let pem = String::from_utf8(pem.clone()).unwrap();
        assert_eq!(
            pem.matches("-----BEGIN CERTIFICATE-----").count(),
            1,
            "{pem}"
        );
        assert!(
            pem.trim_end().ends_with("-----END CERTIFICATE-----"),
            "{pem}"
        );
    }
}
