//! Bootstrap: when several nodes start at once on an empty cluster, exactly
//! one of them creates it.
//!
//! The seeds' glue ("bootstrap when the peer list is empty") lets two nodes
//! that boot together both see an empty list and both start new clusters.
//! Here the decision is a create-if-absent on a key with no lease, as
//! rqlite's InitializeLeader does: the store serialises the contenders and
//! exactly one create succeeds. The key stays after the winner dies, so a
//! cluster is never bootstrapped twice; delete it by hand to start over.

use tracing::{info, warn};

use crate::backoff::Backoff;
use crate::error::RegistryError;
use crate::keys::Keys;
use crate::registry::{Cas, Registry};

/// What a node must do with its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// This node won: start a new cluster.
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

/// Decides this node's role, retrying transient store errors with backoff.
pub async fn decide<R: Registry>(
    registry: &R,
    keys: &Keys,
    node: &str,
) -> Result<Role, RegistryError> {
    let key = keys.bootstrap();
    let mut backoff = Backoff::for_registry(node);
    loop {
        match registry.create(&key, node, None).await {
            Ok(Cas::Written(rev)) => {
                info!(node, %rev, "won the bootstrap key: bootstrapping a new cluster");
                return Ok(Role::Bootstrap);
            }
            Ok(Cas::Conflict(Some(e))) if e.value == node => return Ok(Role::Rejoin),
            Ok(Cas::Conflict(Some(e))) => {
                info!(node, bootstrapper = %e.value, "cluster already bootstrapped: joining");
                return Ok(Role::Join {
                    bootstrapper: e.value,
                });
            }
            // Deleted between our create and read: contend again.
            Ok(Cas::Conflict(None)) => continue,
            Err(e) if e.is_transient() => {
                let delay = backoff.next_delay();
                warn!(node, error = %e, retry_in = ?delay, "bootstrap decision failed; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}
