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
            crate::timer::sleep(EVERY).await;
        }
    };
    let lost = || AgentError::ClaimLapsed {
        node: claim.node.clone(),
    };
    tokio::select! {
        biased;
        _ = &mut lapsed => return Err(lost()),
        r = crate::timer::timeout(ready_timeout, ready) => {
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
            _ = crate::timer::sleep_until(until.max(Instant::now())) => {}
            r = lease.changed() => if r.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Lease;

    fn held(id: &str, valid_until: Instant) -> Option<LeaseState> {
        Some(LeaseState {
            lease: Lease {
                id: LeaseId(id.into()),
                ttl: Duration::from_secs(10),
            },
            valid_until,
        })
    }

    /// Whether the claim on `a` is taken as lapsed within 100 ms.
    async fn lapses(lease: &mut watch::Receiver<Option<LeaseState>>) -> bool {
        let claimed = LeaseId("a".into());
        crate::timer::timeout(Duration::from_millis(100), lapse(lease, &claimed))
            .await
            .is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_holds_only_on_its_own_lease_while_certainly_alive() {
        let now = Instant::now();
        let (tx, mut lease) = watch::channel(held("a", now + Duration::from_secs(5)));
        assert!(!lapses(&mut lease).await, "its own lease, alive: holds");
        // The node registered again on a new lease: the claim's is gone.
        tx.send_replace(held("b", Instant::now() + Duration::from_secs(5)));
        assert!(lapses(&mut lease).await, "another lease: lapsed");
        let (_tx, mut lease) = watch::channel(None);
        assert!(lapses(&mut lease).await, "no lease: lapsed");
        let (_tx, mut lease) = watch::channel(held("a", Instant::now()));
        assert!(lapses(&mut lease).await, "past its certain life: lapsed");
        // Not renewed: lapsed exactly when its certain life ends.
        let end = Instant::now() + Duration::from_secs(2);
        let (_tx, mut lease) = watch::channel(held("a", end));
        assert!(
            crate::timer::timeout(
                Duration::from_secs(3),
                lapse(&mut lease, &LeaseId("a".into()))
            )
            .await
            .is_ok(),
            "not renewed: lapsed"
        );
        assert_eq!(Instant::now(), end);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_replaced_while_the_claim_waits_lapses_it_at_once() {
        let (tx, mut lease) = watch::channel(held("a", Instant::now() + Duration::from_secs(5)));
        let claimed = LeaseId("a".into());
        let waiting = lapse(&mut lease, &claimed);
        tokio::pin!(waiting);
        assert!(
            crate::timer::timeout(Duration::from_millis(100), &mut waiting)
                .await
                .is_err(),
            "its own lease, alive: holds"
        );
        let t0 = Instant::now();
        tx.send_replace(held("b", Instant::now() + Duration::from_secs(5)));
        assert!(
            crate::timer::timeout(Duration::from_secs(1), &mut waiting)
                .await
                .is_ok(),
            "replaced while waiting: lapsed"
        );
        assert_eq!(Instant::now(), t0, "at once");
    }
}
