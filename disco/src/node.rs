//! A node: announce, follow peers, decide bootstrap, campaign for leader.
//!
//! This is what `disco-agent` runs before it starts the database, and what
//! the simulator runs on each simulated host.

use std::time::Duration;

use tokio::time::Instant;

use crate::announce::{AnnounceConfig, Announcement};
use crate::bootstrap::{self, Claim, Decision, Role};
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
    claim: Option<Claim>,
    keys: Keys,
}

/// A node on its way up: announced (or trying to be) and following its
/// peers, its bootstrap role not decided yet. Each step may be abandoned
/// (a stop during start-up), which deregisters at once.
#[derive(Debug)]
pub struct Starting<R> {
    registry: R,
    cfg: NodeConfig,
    keys: Keys,
    announcement: Announcement,
    peers: Peers,
}

impl<R: Registry> Starting<R> {
    /// Starts announcing and following the peers, in the background.
    pub fn begin(registry: R, cfg: NodeConfig) -> Starting<R> {
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
        let peers = Peers::start_as(registry.clone(), keys.clone(), &cfg.node);
        Starting {
            registry,
            cfg,
            keys,
            announcement,
            peers,
        }
    }

    /// The announcement (lease state).
    pub fn announcement(&self) -> &Announcement {
        &self.announcement
    }

    /// Waits until registered, up to `deadline`.
    pub async fn registered(&self, deadline: Duration) -> Result<(), DiscoError> {
        self.announcement.registered(deadline).await.map(|_| ())
    }

    /// Decides the bootstrap role; a claim another node holds is waited
    /// for up to `deadline`, to commit or lapse.
    pub async fn decide(&self, deadline: Duration) -> Result<Decision, DiscoError> {
        let lease = self.announcement.subscribe();
        let current = || lease.borrow().as_ref().map(|l| l.lease.id.clone());
        match crate::timer::timeout(
            deadline,
            bootstrap::decide(&self.registry, &self.keys, &self.cfg.node, current),
        )
        .await
        {
            Ok(d) => Ok(d?),
            Err(_) => Err(DiscoError::Timeout {
                what: "the bootstrap decision (another node's pending claim to commit or lapse)"
                    .into(),
                after: deadline,
            }),
        }
    }

    /// The started node, with `decision`'s role; campaigns if configured.
    pub fn into_node(self, decision: Decision) -> Node {
        let role = decision.role();
        let claim = match decision {
            Decision::Bootstrap(c) => Some(c),
            Decision::Existing(_) => None,
        };
        let election = self.cfg.campaign.then(|| {
            Election::start(
                self.registry.clone(),
                self.keys.clone(),
                LeaderRecord {
                    node: self.cfg.node.clone(),
                    address: self.cfg.address.clone(),
                },
                self.announcement.subscribe(),
            )
        });
        Node {
            cfg: self.cfg,
            announcement: self.announcement,
            peers: self.peers,
            election,
            role,
            claim,
            keys: self.keys,
        }
    }

    /// Gives up: deregisters (deletes the key, revokes the lease) at once.
    pub async fn abandon(self) {
        self.announcement.stop().await;
    }
}

impl Node {
    /// Announces the node, starts its peer view, decides its bootstrap role
    /// and (if configured) starts campaigning; a bootstrap is committed at
    /// once, for callers whose database is up when this returns (see
    /// [`Node::start_uncommitted`] for one that takes time to initialise).
    /// Store errors are retried with backoff; `deadline` bounds the wait
    /// for the first registration.
    pub async fn start<R: Registry>(
        registry: R,
        cfg: NodeConfig,
        deadline: Duration,
    ) -> Result<Node, DiscoError> {
        let node = Node::start_uncommitted(registry.clone(), cfg, deadline).await?;
        if let Err(e) = node.bootstrapped(&registry).await {
            node.shutdown().await;
            return Err(e);
        }
        Ok(node)
    }

    /// [`Node::start`] without committing a bootstrap: the caller starts
    /// its new database and calls [`Node::bootstrapped`] once it exists.
    /// Until then the claim lives on this node's lease, and other nodes
    /// wait to join. `deadline` bounds the registration, and then the wait
    /// for a bootstrap claim another node holds to commit or lapse.
    pub async fn start_uncommitted<R: Registry>(
        registry: R,
        cfg: NodeConfig,
        deadline: Duration,
    ) -> Result<Node, DiscoError> {
        let starting = Starting::begin(registry, cfg);
        let decided = async {
            starting.registered(deadline).await?;
            starting.decide(deadline).await
        }
        .await;
        match decided {
            Ok(d) => Ok(starting.into_node(d)),
            Err(e) => {
                // Registered, perhaps, but not going on: take the key away
                // now rather than leave it to the TTL.
                starting.abandon().await;
                Err(e)
            }
        }
    }

    /// Tells the store that this node's new cluster exists (its database is
    /// up), committing its bootstrap claim. A node that did not bootstrap
    /// has nothing to commit. Fails with [`DiscoError::BootstrapLost`] if
    /// the claim lapsed first.
    pub async fn bootstrapped<R: Registry>(&self, registry: &R) -> Result<(), DiscoError> {
        match &self.claim {
            Some(c) => bootstrap::commit(registry, &self.keys, c).await,
            None => Ok(()),
        }
    }

    /// This node's bootstrap claim, while it is not committed.
    pub fn claim(&self) -> Option<&Claim> {
        self.claim.as_ref()
    }

    /// This node's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// This node's settings.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
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

    /// Builds the join plan. A joiner waits (up to `deadline` in all) until
    /// at least one other member is announced, so that it never starts
    /// alone, and gives its bootstrapper's announcement up to two TTLs of
    /// that to show up.
    pub async fn join_plan(&self, deadline: Duration) -> Result<JoinPlan, DiscoError> {
        let asked = Instant::now();
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
                        // One deadline for both waits: the grace spent on
                        // the bootstrapper counts against it.
                        let left = deadline.saturating_sub(asked.elapsed());
                        let what = "another announced member to join";
                        self.peers
                            .wait_for(what, left, |m| m.members.iter().any(|x| x.node != me))
                            .await
                            .map_err(|e| match e {
                                DiscoError::Timeout { what, .. } => DiscoError::Timeout {
                                    what,
                                    after: deadline,
                                },
                                e => e,
                            })?
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
