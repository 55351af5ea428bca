//! What differs between cluster kinds: the image, the node's command line
//! (always `disco-agent ... -- <database>`), the probe that reads a node's
//! own view of membership and leadership, and how the writer writes and
//! reads back.

pub mod consul;
pub mod etcd;
pub mod galera;
pub mod generic;
pub mod patroni;
pub mod rabbitmq;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use clusterlab_scenario::{ClusterKind, Generic, Join, Scenario};

use crate::image::stock::{self, GENERIC_AGENT};
use crate::image::{ImageError, Recipe};

/// The port every node's agent serves its own view on (`--status-port`).
pub const STATUS_PORT: u16 = 7979;

/// One node's own view, as its database's probe answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbView {
    /// The members it knows, by node name.
    pub members: BTreeSet<String>,
    /// Whether it says it leads.
    pub leads: bool,
}

/// How a register operation ended, in the history's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It happened; a read's value.
    Ok(Option<String>),
    /// It definitely did not happen (a compare that failed, a read that
    /// got no answer).
    Fail,
    /// It may or may not have happened.
    Unknown,
}

/// The discovery store as the agents see it.
#[derive(Debug, Clone)]
pub struct StoreUrl {
    /// `--etcd http://s1:2379,...` or `--consul http://s1:8500`.
    pub flag: &'static str,
    /// The flag's value.
    pub url: String,
    /// The agent's credential flags for a secured store (`--ca ...`).
    pub creds: Vec<String>,
}

/// The flags the lab sets on every disco-agent: the store, its
/// credentials, the cluster's keys, the node's id, the TTL.
pub fn agent_flags(scenario: &Scenario, node: &str, store: &StoreUrl) -> Vec<String> {
    let d = &scenario.discovery;
    [
        store.flag,
        &store.url,
        "--prefix",
        &d.prefix,
        "--cluster",
        &d.cluster,
        "--node-id",
        node,
        "--ttl",
        &format!("{}s", d.ttl.as_secs().max(1)),
        "--join-timeout",
        "5m",
        "--status-port",
        &STATUS_PORT.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(store.creds.iter().cloned())
    .collect()
}

/// A cluster kind the container world can build.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// etcd members.
    Etcd,
    /// Consul servers.
    Consul,
    /// Patroni + PostgreSQL.
    Patroni,
    /// RabbitMQ, formed by its own peer discovery.
    Rabbitmq,
    /// MariaDB Galera, joined through disco-agent, or (`by_root`) by
    /// seed 001's glue: the first node bootstraps alone on every start,
    /// the others join it by name.
    Galera {
        /// Joined by the glue, with no agent.
        by_root: bool,
    },
    /// The user's own image, command template and probe.
    Generic(Arc<Generic>),
}

impl Kind {
    /// The kind for `scenario`.
    pub fn of(scenario: &Scenario) -> Result<Kind, String> {
        match scenario.cluster.kind {
            ClusterKind::Etcd => Ok(Kind::Etcd),
            ClusterKind::Consul => Ok(Kind::Consul),
            ClusterKind::Patroni => Ok(Kind::Patroni),
            ClusterKind::Rabbitmq => Ok(Kind::Rabbitmq),
            ClusterKind::Galera => Ok(Kind::Galera {
                by_root: scenario.cluster.join == Join::Root,
            }),
            ClusterKind::Generic => scenario
                .cluster
                .generic
                .clone()
                .map(|g| Kind::Generic(Arc::new(g)))
                .ok_or_else(|| "a generic cluster without its [cluster] settings".into()),
        }
    }

    /// The image recipe for `scenario`; a generic one is layered on the
    /// user's image, whose id is `base_id`.
    pub fn recipe(&self, scenario: &Scenario, base_id: Option<&str>) -> Result<Recipe, ImageError> {
        match self {
            // On a user's image (`image = ...`): the agent layered on.
            Kind::Etcd | Kind::Consul if base_id.is_some() => {
                let image = scenario.cluster.image.as_ref().map_or("", |i| &i.name);
                stock::layered(
                    "clusterlab/server",
                    image,
                    base_id.unwrap_or_default(),
                    true,
                )
            }
            Kind::Etcd => stock::etcd(),
            Kind::Consul => stock::consul(),
            Kind::Patroni => stock::patroni(patroni::lock_ttl(scenario).as_secs()),
            Kind::Rabbitmq => stock::rabbitmq(scenario.cluster.release.as_deref()),
            Kind::Galera { .. } => stock::galera(),
            Kind::Generic(g) => stock::generic(&g.image, base_id.unwrap_or_default()),
        }
    }

    /// Files copied into each node's container before it starts, besides
    /// the run's certificates.
    pub fn files(&self, scenario: &Scenario) -> Vec<(String, Vec<u8>)> {
        match self {
            Kind::Rabbitmq => rabbitmq::files(scenario.cluster.ca_bundle),
            _ => Vec::new(),
        }
    }

    /// The container command of node `node`, reachable by peers as `host`
    /// (its run-unique container name; `host_of` names any node's).
    pub fn command(
        &self,
        scenario: &Scenario,
        node: &str,
        host_of: &dyn Fn(&str) -> String,
        store: &StoreUrl,
    ) -> Vec<String> {
        let host = &host_of(node);
        let d = &scenario.discovery;
        let lab = || agent_flags(scenario, node, store);
        let agent = self.agent_entry(scenario);
        // On a user's image the server is wherever its PATH has it.
        let user_image = scenario.cluster.image.is_some();
        let bin = |stock: &'static str, name: &'static str| if user_image { name } else { stock };
        match self {
            Kind::Rabbitmq => rabbitmq::command(store, &d.cluster, host),
            Kind::Generic(g) => generic::command(g, lab(), host),
            Kind::Etcd => [
                agent,
                lab(),
                etcd::agent_args(host, bin("/usr/local/bin/etcd", "etcd")),
            ]
            .concat(),
            Kind::Consul => [
                agent,
                lab(),
                consul::agent_args(
                    host,
                    scenario.cluster.nodes.len(),
                    bin("/usr/local/bin/consul", "consul"),
                ),
            ]
            .concat(),
            Kind::Patroni => [agent, lab(), patroni::agent_args(host, &d.cluster, store)].concat(),
            Kind::Galera { by_root: false } => {
                [agent, lab(), galera::agent_args(host, &d.cluster)].concat()
            }
            Kind::Galera { by_root: true } => {
                let root = &scenario.cluster.nodes[0];
                let joins = (node != root.as_str()).then(|| host_of(root));
                galera::glue_args(node, host, joins.as_deref(), &d.cluster)
            }
        }
    }

    /// Node `node`'s own view, or `None` if it does not answer.
    pub async fn probe(&self, http: &reqwest::Client, ip: Ipv4Addr, node: &str) -> Option<DbView> {
        match self {
            Kind::Etcd => etcd::probe(http, ip).await,
            Kind::Consul => consul::probe(http, ip).await,
            Kind::Patroni => patroni::probe(http, ip).await,
            Kind::Rabbitmq => rabbitmq::probe(http, ip).await,
            Kind::Galera { .. } => galera::probe(ip, node).await,
            Kind::Generic(g) => generic::probe(g, http, ip, node).await,
        }
    }

    /// Writes `key = value` through node `ip`; true if acknowledged.
    pub async fn write(
        &self,
        http: &reqwest::Client,
        ip: Ipv4Addr,
        key: &str,
        value: &str,
    ) -> bool {
        match self {
            Kind::Etcd => etcd::write(http, ip, key, value).await,
            Kind::Consul => consul::write(http, ip, key, value).await,
            Kind::Patroni => patroni::write(ip, key, value).await,
            Kind::Galera { .. } => galera::write(ip, key, value).await,
            // Validation gives a writer only to a generic cluster with
            // [cluster.http], and none to a RabbitMQ one.
            Kind::Generic(g) => match &g.http {
                Some(kv) => generic::write(kv, http, ip, key, value).await,
                None => false,
            },
            Kind::Rabbitmq => false,
        }
    }

    /// Reads `key` through node `ip` with a linearizable read.
    pub async fn read(
        &self,
        http: &reqwest::Client,
        ip: Ipv4Addr,
        key: &str,
    ) -> Result<Option<String>, String> {
        match self {
            Kind::Etcd => etcd::read(http, ip, key).await,
            Kind::Consul => consul::read(http, ip, key).await,
            Kind::Patroni => patroni::read(ip, key).await,
            Kind::Galera { .. } => galera::read(ip, key).await,
            Kind::Rabbitmq => Err("a RabbitMQ cluster has no key-value reads".into()),
            Kind::Generic(g) => match &g.http {
                Some(kv) => generic::read(kv, http, ip, key).await,
                None => Err("this generic cluster has no [cluster.http] read".into()),
            },
        }
    }

    /// How the node image runs `disco-agent`: the stock images' own
    /// `/usr/local/bin/disco-agent`, or the one layered onto a user's image
    /// through its own loader.
    pub fn agent_entry(&self, scenario: &Scenario) -> Vec<String> {
        if matches!(self, Kind::Generic(_)) || scenario.cluster.image.is_some() {
            GENERIC_AGENT.iter().map(|s| s.to_string()).collect()
        } else {
            vec!["/usr/local/bin/disco-agent".to_string()]
        }
    }

    /// The folders a node's database keeps its data in: what a restart on
    /// Swarm (a new task) must find again. A generic image's are unknown:
    /// it restarts empty there.
    pub fn data_dirs(&self) -> &'static [&'static str] {
        match self {
            Kind::Etcd | Kind::Consul => &["/data"],
            Kind::Rabbitmq => &["/var/lib/rabbitmq"],
            Kind::Patroni => &["/var/lib/postgresql"],
            Kind::Galera { .. } => &["/var/lib/mysql"],
            Kind::Generic(_) => &[],
        }
    }

    /// Whether the node's entry is the agent under the lab's own flags (a
    /// rogue node can be one of them).
    pub fn runs_disco_agent(&self) -> bool {
        !matches!(
            self,
            Kind::Rabbitmq | Kind::Generic(_) | Kind::Galera { by_root: true }
        )
    }

    /// Whether its nodes run disco-agent at all (the stock one, or one
    /// layered onto a user's image): every kind but RabbitMQ and a glued
    /// Galera.
    pub fn has_agent(&self) -> bool {
        !matches!(self, Kind::Rabbitmq | Kind::Galera { by_root: true })
    }

    /// Whether writes must go to the leader (the others refuse them).
    pub fn writes_to_leader(&self) -> bool {
        *self == Kind::Patroni
    }
}
