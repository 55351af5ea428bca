//! What differs between cluster kinds: the image, the node's command line
//! (always `disco-agent ... -- <database>`), the probe that reads a node's
//! own view of membership and leadership, and how the writer writes and
//! reads back.

pub mod consul;
pub mod etcd;
pub mod patroni;
pub mod rabbitmq;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use clusterlab_scenario::{ClusterKind, Scenario};

use crate::image::{stock, ImageError, Recipe};

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
}

/// A cluster kind the container world can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// etcd members.
    Etcd,
    /// Consul servers.
    Consul,
    /// Patroni + PostgreSQL.
    Patroni,
    /// RabbitMQ, formed by its own peer discovery.
    Rabbitmq,
}

impl Kind {
    /// The kind for `scenario`, or why it cannot run in containers yet.
    pub fn of(scenario: &Scenario) -> Result<Kind, String> {
        match scenario.cluster.kind {
            ClusterKind::Etcd => Ok(Kind::Etcd),
            ClusterKind::Consul => Ok(Kind::Consul),
            ClusterKind::Patroni => Ok(Kind::Patroni),
            ClusterKind::Rabbitmq => Ok(Kind::Rabbitmq),
            ClusterKind::Generic => Err("generic clusters need their own image".into()),
        }
    }

    /// The image recipe for `scenario`.
    pub fn recipe(self, scenario: &Scenario) -> Result<Recipe, ImageError> {
        match self {
            Kind::Etcd => stock::etcd(),
            Kind::Consul => stock::consul(),
            Kind::Patroni => stock::patroni(patroni::lock_ttl(scenario).as_secs()),
            Kind::Rabbitmq => stock::rabbitmq(scenario.cluster.release.as_deref()),
        }
    }

    /// The container command of node `node`, reachable by peers as `host`
    /// (its run-unique container name).
    pub fn command(
        self,
        scenario: &Scenario,
        node: &str,
        host: &str,
        store: &StoreUrl,
    ) -> Vec<String> {
        let d = &scenario.discovery;
        if self == Kind::Rabbitmq {
            return rabbitmq::command(store, &d.cluster, host);
        }
        let mut argv: Vec<String> = [
            "/usr/local/bin/disco-agent",
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
        .collect();
        argv.extend(match self {
            Kind::Etcd => etcd::agent_args(host),
            Kind::Consul => consul::agent_args(host, scenario.cluster.nodes.len()),
            Kind::Patroni => patroni::agent_args(host, &d.cluster, store),
            Kind::Rabbitmq => unreachable!("RabbitMQ starts without disco-agent"),
        });
        argv
    }

    /// The node's own view, or `None` if it does not answer.
    pub async fn probe(self, http: &reqwest::Client, ip: Ipv4Addr) -> Option<DbView> {
        match self {
            Kind::Etcd => etcd::probe(http, ip).await,
            Kind::Consul => consul::probe(http, ip).await,
            Kind::Patroni => patroni::probe(http, ip).await,
            Kind::Rabbitmq => rabbitmq::probe(http, ip).await,
        }
    }

    /// Writes `key = value` through node `ip`; true if acknowledged.
    pub async fn write(self, http: &reqwest::Client, ip: Ipv4Addr, key: &str, value: &str) -> bool {
        match self {
            Kind::Etcd => etcd::write(http, ip, key, value).await,
            Kind::Consul => consul::write(http, ip, key, value).await,
            Kind::Patroni => patroni::write(ip, key, value).await,
            // Scenarios give a RabbitMQ cluster no writer (validation).
            Kind::Rabbitmq => false,
        }
    }

    /// Reads `key` through node `ip` with a linearizable read.
    pub async fn read(
        self,
        http: &reqwest::Client,
        ip: Ipv4Addr,
        key: &str,
    ) -> Result<Option<String>, String> {
        match self {
            Kind::Etcd => etcd::read(http, ip, key).await,
            Kind::Consul => consul::read(http, ip, key).await,
            Kind::Patroni => patroni::read(ip, key).await,
            Kind::Rabbitmq => Err("a RabbitMQ cluster has no key-value reads".into()),
        }
    }

    /// Whether writes must go to the leader (the others refuse them).
    pub fn writes_to_leader(self) -> bool {
        self == Kind::Patroni
    }
}
