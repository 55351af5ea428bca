//! Peers: a live, watch-driven view of the announced members.
//!
//! Replaces `etcdctl ls | sed | tr` run once at boot: the view follows the
//! store's watch (etcd) or blocking queries (Consul), so a new member is seen
//! as soon as the store publishes it, and members are always in node-id
//! order so every node renders the same join list.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::backoff::Backoff;
use crate::error::DiscoError;
use crate::keys::Keys;
use crate::registry::{Registry, Revision, Snapshot};

/// One announced node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    /// Node id.
    pub node: String,
    /// Its advertise address.
    pub address: String,
}

/// The announced members at a store revision, sorted by node id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Membership {
    /// Store revision of the snapshot this came from.
    pub revision: Revision,
    /// Members, sorted by node id.
    pub members: Vec<Member>,
}

impl Membership {
    /// Builds the view from a snapshot of the members prefix.
    pub fn from_snapshot(keys: &Keys, snap: &Snapshot) -> Membership {
        let mut members: Vec<Member> = snap
            .entries
            .iter()
            .filter_map(|e| {
                keys.node_of(&e.key).map(|node| Member {
                    node: node.to_string(),
                    address: e.value.clone(),
                })
            })
            .collect();
        members.sort();
        Membership {
            revision: snap.revision,
            members,
        }
    }

    /// Whether `node` is announced.
    pub fn contains(&self, node: &str) -> bool {
        self.members.iter().any(|m| m.node == node)
    }

    /// Node ids, in order.
    pub fn nodes(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.node.as_str()).collect()
    }
}

/// A running peer view.
#[derive(Debug)]
pub struct Peers {
    rx: watch::Receiver<Option<Membership>>,
    task: JoinHandle<()>,
}

impl Peers {
    /// Starts following the members of the cluster `keys` describes. The
    /// view is `None` until the first snapshot arrives; store errors are
    /// logged and retried with backoff.
    pub fn start<R: Registry>(registry: R, keys: Keys) -> Peers {
        Peers::start_as(registry, keys, "")
    }

    /// [`Peers::start`] for node `node`: its retries are jittered by its
    /// own id, so that the nodes of a cluster that lost the store together
    /// do not list it again in lockstep.
    pub fn start_as<R: Registry>(registry: R, keys: Keys, node: &str) -> Peers {
        let (tx, rx) = watch::channel(None);
        let task = tokio::spawn(follow(registry, keys, node.to_string(), tx));
        Peers { rx, task }
    }

    /// The latest view, `None` before the first snapshot.
    pub fn current(&self) -> Option<Membership> {
        self.rx.borrow().clone()
    }

    /// A receiver notified on every change.
    pub fn subscribe(&self) -> watch::Receiver<Option<Membership>> {
        self.rx.clone()
    }

    /// Waits until the view satisfies `pred`, up to `deadline`.
    pub async fn wait_for(
        &self,
        what: &str,
        deadline: Duration,
        mut pred: impl FnMut(&Membership) -> bool,
    ) -> Result<Membership, DiscoError> {
        let mut rx = self.rx.clone();
        let got = crate::timer::timeout(deadline, async {
            rx.wait_for(|m| m.as_ref().is_some_and(&mut pred))
                .await
                .map(|m| m.clone())
        })
        .await;
        match got {
            Ok(Ok(m)) => Ok(m.expect("checked")),
            Ok(Err(_)) => Err(DiscoError::Shutdown),
            Err(_) => Err(DiscoError::Timeout {
                what: what.to_string(),
                after: deadline,
            }),
        }
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn follow<R: Registry>(
    registry: R,
    keys: Keys,
    node: String,
    tx: watch::Sender<Option<Membership>>,
) {
    let prefix = keys.members();
    let mut backoff = Backoff::for_registry(&format!("{prefix}@{node}"));
    loop {
        let mut watch = match registry.watch(&prefix).await {
            Ok(w) => w,
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(prefix, error = %e, retry_in = ?delay, "peer watch failed; retrying");
                crate::timer::sleep(delay).await;
                continue;
            }
        };
        while let Some(item) = watch.next().await {
            match item {
                Ok(snap) => {
                    backoff.reset();
                    let view = Membership::from_snapshot(&keys, &snap);
                    tx.send_if_modified(|cur| {
                        let changed = cur.as_ref().is_none_or(|c| c.members != view.members);
                        if changed {
                            *cur = Some(view);
                        }
                        changed
                    });
                }
                Err(e) => {
                    warn!(prefix, error = %e, "peer watch interrupted; the store backend reconnects")
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        crate::timer::sleep(backoff.next_delay()).await;
    }
}
