//! Bootstrap: when several nodes start at once on an empty cluster, exactly
//! one of them creates it, and if that one dies before its database
//! exists, another does.
//!
//! The seeds' glue ("bootstrap when the peer list is empty") lets two nodes
//! that boot together both see an empty list and both start new clusters.
//! Here the decision is a create-if-absent on one key, as rqlite's
//! InitializeLeader does: the store serialises the contenders and exactly
//! one create succeeds. It happens in two steps:
//!
//! 1. **claim**: the winner's create puts the key on its own lease. If the
//!    winner dies before its database exists, the lease expires, the claim
//!    goes with it, and the others contend again. Joiners wait while a
//!    claim is pending: there is nothing to join yet.
//! 2. **commit** ([`commit`]): once its database exists, the winner
//!    rewrites the key without a lease, so a cluster is never bootstrapped
//!    twice; delete the key by hand to start over.
//!
//! A create whose reply was lost (applied, then a timeout) is recognised on
//! the retry: the key names this node on a lease this decision used.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::backoff::Backoff;
use crate::error::{DiscoError, RegistryError};
use crate::keys::Keys;
use crate::registry::{Cas, Entry, LeaseId, Registry, Revision};

/// What a node must do with its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// This node won: start a new cluster (then [`commit`] it).
    Bootstrap,
    /// Another node bootstrapped the cluster: join the announced peers.
    Join {
        /// The node that bootstrapped.
        bootstrapper: String,
    },
    /// This node bootstrapped the cluster in an earlier life: restart with
    /// its data and rejoin its peers, never bootstrap again.
    Rejoin,
}

impl Role {
    /// `new` for a bootstrap, `existing` otherwise (etcd's
    /// `--initial-cluster-state` words).
    pub fn state(&self) -> &'static str {
        match self {
            Role::Bootstrap => "new",
            Role::Join { .. } | Role::Rejoin => "existing",
        }
    }
}

/// What the bootstrap key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapRecord {
    /// The node that claimed (and maybe committed) the bootstrap.
    pub node: String,
    /// The lease the claim was made on: the claim's identity, so that a
    /// retry knows its own and a commit knows it landed.
    pub lease: String,
    /// Whether the winner's database exists (the key then has no lease).
    pub committed: bool,
}

impl BootstrapRecord {
    /// Reads a bootstrap key's value. A plain node id (what disco wrote
    /// before claims existed) is a committed bootstrap by that node.
    pub fn parse(value: &str) -> BootstrapRecord {
        serde_json::from_str(value).unwrap_or_else(|_| BootstrapRecord {
            node: value.to_string(),
            lease: String::new(),
            committed: true,
        })
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).expect("plain struct")
    }
}

/// A won, not yet committed, bootstrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The claiming node.
    pub node: String,
    /// The lease the claim lives on.
    pub lease: LeaseId,
    /// The key's revision as claimed.
    pub revision: Revision,
}

/// The decision of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// This node claimed the bootstrap: start the database alone, then
    /// [`commit`] the claim.
    Bootstrap(Claim),
    /// Join, or rejoin: the cluster exists.
    Existing(Role),
}

impl Decision {
    /// The role this decision gives the node.
    pub fn role(&self) -> Role {
        match self {
            Decision::Bootstrap(_) => Role::Bootstrap,
            Decision::Existing(r) => r.clone(),
        }
    }
}

/// Decides this node's role. `lease` gives the node's current lease (it
/// may change while a claim by someone else is pending). Store errors are
/// retried with backoff; so is a refused create whose key is absent (Consul
/// answers 409 for any failed operation of a transaction: lock-delay, a
/// permission), so that a refusing store is not hammered.
pub async fn decide<R: Registry>(
    registry: &R,
    keys: &Keys,
    node: &str,
    mut lease: impl FnMut() -> Option<LeaseId>,
) -> Result<Decision, RegistryError> {
    let key = keys.bootstrap();
    let mut backoff = Backoff::for_registry(node);
    // Every lease this decision claimed with: a claim on one of them is
    // ours even if the create's reply never came.
    let mut used: Vec<LeaseId> = Vec::new();
    loop {
        let Some(l) = lease() else {
            // Not registered right now: wait for the announcement.
            crate::timer::sleep(backoff.next_delay()).await;
            continue;
        };
        if !used.contains(&l) {
            used.push(l.clone());
        }
        let claim = BootstrapRecord {
            node: node.to_string(),
            lease: l.0.clone(),
            committed: false,
        };
        match registry.create(&key, &claim.encode(), Some(&l)).await {
            Ok(Cas::Written(rev)) => {
                info!(node, %rev, "claimed the bootstrap: starting a new cluster");
                return Ok(Decision::Bootstrap(Claim {
                    node: node.to_string(),
                    lease: l,
                    revision: rev,
                }));
            }
            Ok(Cas::Conflict(Some(e))) => {
                let r = BootstrapRecord::parse(&e.value);
                if r.node == node && !r.committed && used.iter().any(|u| u.0 == r.lease) {
                    info!(node, rev = %e.revision, "the bootstrap claim is ours (its reply was lost): starting a new cluster");
                    return Ok(Decision::Bootstrap(Claim {
                        node: node.to_string(),
                        lease: LeaseId(r.lease),
                        revision: e.revision,
                    }));
                }
                if r.committed {
                    if r.node == node {
                        return Ok(Decision::Existing(Role::Rejoin));
                    }
                    info!(node, bootstrapper = %r.node, "cluster already bootstrapped: joining");
                    return Ok(Decision::Existing(Role::Join {
                        bootstrapper: r.node,
                    }));
                }
                // A claim in progress (another node's, or an earlier life
                // of ours): it commits, or its lease lapses and we contend
                // again.
                info!(node, claimant = %r.node, "a bootstrap is in progress: waiting for it");
                wait_for_change(registry, &key, &e).await;
            }
            Ok(Cas::Conflict(None)) => {
                let delay = backoff.next_delay();
                warn!(node, retry_in = ?delay, "the store refused the bootstrap claim; retrying");
                crate::timer::sleep(delay).await;
            }
            Err(e) if e.is_transient() || matches!(e, RegistryError::LeaseLost(_)) => {
                let delay = backoff.next_delay();
                warn!(node, error = %e, retry_in = ?delay, "bootstrap decision failed; retrying");
                crate::timer::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Waits until the bootstrap key is no longer `seen` (committed, gone,
/// rewritten), or a while if the store cannot be watched.
async fn wait_for_change<R: Registry>(registry: &R, key: &str, seen: &Entry) {
    let Ok(mut watch) = registry.watch(key).await else {
        crate::timer::sleep(Duration::from_millis(500)).await;
        return;
    };
    while let Some(item) = watch.next().await {
        if let Ok(snap) = item {
            if !snap
                .entries
                .iter()
                .any(|e| e.key == key && e.revision == seen.revision)
            {
                return;
            }
        }
    }
}

/// Commits `claim`: the winner's database exists, so the key drops its
/// lease and stays for good. Fails with [`DiscoError::BootstrapLost`] if
/// the claim lapsed meanwhile (its lease expired and another node may have
/// claimed): the caller's new cluster must not be used.
pub async fn commit<R: Registry>(
    registry: &R,
    keys: &Keys,
    claim: &Claim,
) -> Result<(), DiscoError> {
    let key = keys.bootstrap();
    let done = BootstrapRecord {
        node: claim.node.clone(),
        lease: claim.lease.0.clone(),
        committed: true,
    };
    let mut backoff = Backoff::for_registry(&claim.node);
    loop {
        match registry
            .compare_and_swap(&key, claim.revision, &done.encode(), None)
            .await
        {
            Ok(Cas::Written(rev)) => {
                info!(node = %claim.node, %rev, "won the bootstrap key: bootstrap committed");
                return Ok(());
            }
            // A retry after a lost reply finds its own commit.
            Ok(Cas::Conflict(Some(e))) if BootstrapRecord::parse(&e.value) == done => return Ok(()),
            Ok(Cas::Conflict(_)) => {
                return Err(DiscoError::BootstrapLost {
                    node: claim.node.clone(),
                })
            }
            Err(e) if e.is_transient() => {
                let delay = backoff.next_delay();
                warn!(node = %claim.node, error = %e, retry_in = ?delay, "bootstrap commit failed; retrying");
                crate::timer::sleep(delay).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
