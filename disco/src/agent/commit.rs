//! A bootstrapper's commit: once its new database is ready, it rewrites the
//! bootstrap claim without a lease, and the cluster exists for good. The
//! claim lives on the node's lease until then, so the whole wait is held to
//! that lease: a claim that may have lapsed (the lease replaced, or not
//! renewed in time by this node's own clock) never commits, and the
//! database that started a cluster under it must stop, because another
//! node may be bootstrapping a second one. The wait for readiness has a
//! deadline of its own.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::database::Probe;
use super::AgentError;
use crate::announce::LeaseState;
use crate::node::Node;
use crate::registry::{LeaseId, Registry};

/// How often the database is asked whether it is ready.
pub const EVERY: Duration = Duration::from_millis(250);

/// Waits for `probe` to say ready (up to `ready_timeout`), then commits
/// `node`'s claim; both steps end at once if the claim may have lapsed.
/// A node with no claim has nothing to commit.
pub async fn when_ready<R: Registry, P: Probe>(
    registry: &R,
    node: &Node,
    probe: &P,
    ready_timeout: Duration,
) -> Result<(), AgentError> {
    let Some(claim) = node.claim() else {
        return Ok(());
    };
    let mut lease = node.announcement().subscribe();
    let lapsed = lapse(&mut lease, &claim.lease);
    tokio::pin!(lapsed);
    let ready = async {
        while !probe.ready().await {
            tokio::time::sleep(EVERY).await;
        }
    };
    let lost = || AgentError::ClaimLapsed {
        node: claim.node.clone(),
    };
    tokio::select! {
        biased;
        _ = &mut lapsed => return Err(lost()),
        r = tokio::time::timeout(ready_timeout, ready) => {
            if r.is_err() {
                return Err(AgentError::NotReady { after: ready_timeout });
            }
        }
    }
    tokio::select! {
        biased;
        _ = &mut lapsed => Err(lost()),
        r = node.bootstrapped(registry) => r.map_err(AgentError::from),
    }
}

/// Resolves when the claim on `claimed` may have lapsed: the node holds
/// another lease, none, or one it has not renewed in time.
async fn lapse(lease: &mut watch::Receiver<Option<LeaseState>>, claimed: &LeaseId) {
    loop {
        let until = match &*lease.borrow_and_update() {
            Some(l) if l.lease.id == *claimed && l.is_valid() => l.valid_until,
            _ => return,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(until.max(Instant::now())) => {}
            r = lease.changed() => if r.is_err() { return },
        }
    }
}
