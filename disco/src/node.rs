//! A node: announce, follow peers, decide bootstrap, campaign for leader.
//!
//! This is what `disco-agent` runs before it starts the database, and what
//! the simulator runs on each simulated host.

use std::time::Duration;

use crate::announce::{AnnounceConfig, Announcement};
use crate::bootstrap::{self, Role};
use crate::error::DiscoError;
use crate::keys::Keys;
use crate::leader::{Election, LeaderRecord, Leadership};
use crate::peers::{Member, Membership, Peers};
use crate::registry::Registry;

/// Settings for one node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Key prefix shared by all clusters in the store.
    pub prefix: String,
    /// Cluster name.
    pub cluster: String,
    /// This node's id, unique in the cluster.
    pub node: String,
    /// Address peers use to reach this node's database.
    pub address: String,
    /// Lease TTL.
    pub ttl: Duration,
    /// Whether to campaign for the leader key.
    pub campaign: bool,
}

/// What the database needs to start: its role and whom to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinPlan {
    /// This node.
    pub me: Member,
    /// Bootstrap, join or rejoin.
    pub role: Role,
    /// The other announced members, in node-id order (empty for a
    /// bootstrap).
    pub peers: Vec<Member>,
    /// Whom to join through: the disco leader if known, else the
    /// bootstrapper, else the first peer.
    pub leader: Option<Member>,
}

impl JoinPlan {
    /// This node plus its peers, in node-id order.
    pub fn members(&self) -> Vec<Member> {
        let mut all = self.peers.clone();
        all.push(self.me.clone());
        all.sort();
        all
    }
}

/// A started node.
#[derive(Debug)]
pub struct Node {
    cfg: NodeConfig,
    announcement: Announcement,
    peers: Peers,
    election: Option<Election>,
    role: Role,
}

impl Node {
    /// Announces the node, starts its peer view, decides its bootstrap role
    /// and (if configured) starts campaigning. Store errors are retried with
    /// backoff; `deadline` bounds the wait for the first registration.
    pub async fn start<R: Registry>(
        registry: R,
        cfg: NodeConfig,
        deadline: Duration,
    ) -> Result<Node, DiscoError> {
        let keys = Keys::new(&cfg.prefix, &cfg.cluster);
        let announcement = Announcement::start(
            registry.clone(),
            keys.clone(),
            AnnounceConfig {
                node: cfg.node.clone(),
                address: cfg.address.clone(),
                ttl: cfg.ttl,
            },
        );
        let peers = Peers::start(registry.clone(), keys.clone());
        announcement.registered(deadline).await?;
        let role = bootstrap::decide(&registry, &keys, &cfg.node).await?;
        let election = cfg.campaign.then(|| {
            Election::start(
                registry.clone(),
                keys.clone(),
                LeaderRecord {
                    node: cfg.node.clone(),
                    address: cfg.address.clone(),
                },
                announcement.subscribe(),
            )
        });
        Ok(Node {
            cfg,
            announcement,
            peers,
            election,
            role,
        })
    }

    /// This node's bootstrap role.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The peer view.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// The announcement (lease state).
    pub fn announcement(&self) -> &Announcement {
        &self.announcement
    }

    /// The election, if campaigning.
    pub fn election(&self) -> Option<&Election> {
        self.election.as_ref()
    }

    /// Builds the join plan. A joiner waits (up to `deadline`) until at
    /// least one other member is announced, so that it never starts alone.
    pub async fn join_plan(&self, deadline: Duration) -> Result<JoinPlan, DiscoError> {
        let me = self.cfg.node.clone();
        let view: Membership = match &self.role {
            Role::Join { bootstrapper } => {
                // The bootstrapper announced itself before it won the key,
                // but this node's watch may not show it yet: wait for it,
                // so that a joiner never joins only other joiners. If it is
                // gone (its lease ran out), join whoever is there.
                let grace = (self.cfg.ttl * 2).min(deadline);
                match self
                    .peers
                    .wait_for("the bootstrapper's announcement", grace, |m| {
                        m.contains(bootstrapper)
                    })
                    .await
                {
                    Ok(m) => m,
                    Err(_) => {
                        self.peers
                            .wait_for("another announced member to join", deadline, |m| {
                                m.members.iter().any(|x| x.node != me)
                            })
                            .await?
                    }
                }
            }
            Role::Bootstrap | Role::Rejoin => {
                self.peers
                    .wait_for("the first view of the members", deadline, |_| true)
                    .await?
            }
        };
        // A bootstrapper starts a new cluster alone: others join it, never
        // the other way round, whatever it happens to see announced already.
        let peers: Vec<Member> = match self.role {
            Role::Bootstrap => Vec::new(),
            _ => view
                .members
                .iter()
                .filter(|m| m.node != me)
                .cloned()
                .collect(),
        };
        let by_node = |n: &str| peers.iter().find(|m| m.node == n).cloned();
        let leader = match self.election.as_ref().map(Election::current) {
            Some(Leadership::Follower { leader: Some(l) }) if l.node != me => by_node(&l.node),
            _ => None,
        }
        .or_else(|| match &self.role {
            Role::Join { bootstrapper } => by_node(bootstrapper),
            _ => None,
        })
        .or_else(|| peers.first().cloned());
        Ok(JoinPlan {
            me: Member {
                node: me.clone(),
                address: self.cfg.address.clone(),
            },
            role: self.role.clone(),
            peers,
            leader,
        })
    }

    /// Resigns leadership and deregisters.
    pub async fn shutdown(self) {
        if let Some(e) = self.election {
            e.resign().await;
        }
        self.announcement.stop().await;
    }
}
