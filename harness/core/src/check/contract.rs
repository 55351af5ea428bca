//! The discovery stores' documented expiry contracts, written here so that
//! the checks hold disco to what the store promises, never to disco's own
//! idea of it.
//!
//! - etcd: a lease expires TTL after its last keep-alive, and the leader
//!   revokes expired leases from a loop that runs every 500 ms
//!   (`leaseRevokeRate`, `lessor.go`); a granted TTL is at least
//!   `minLeaseTTL` = ceil(3/2 x election timeout) = 2 s with the default
//!   1 s election timeout (`--election-timeout`).
//! - Consul: a session is invalidated at the earliest TTL after its last
//!   renewal; the server arms its timer at TTL x 2 (`session_ttl.go`,
//!   "we use a multiplier of 2"), so it may live up to twice the TTL; its
//!   keys go at once with `behavior = delete` and no lock-delay.
//! - Both refresh every lease when a new leader takes over (etcd's lessor
//!   `Promote` extends each lease by its TTL; Consul's new leader resets
//!   its session timers): a holder that died during a store outage or a
//!   store leader change keeps its keys until a lease life after the new
//!   leader took over, which happens within [`LEADER_ELECTION`].

use std::time::Duration;

use clusterlab_scenario::StoreKind;

/// etcd's expiry loop period.
pub const ETCD_REVOKE_PERIOD: Duration = Duration::from_millis(500);
/// etcd's smallest lease TTL with the default election timeout.
pub const ETCD_MIN_TTL: Duration = Duration::from_secs(2);

/// How soon a store elects a new leader after losing one or coming back:
/// a few election timeouts (etcd's default 1 s; Consul's with
/// `raft_multiplier = 1`, as the harness runs it, about 1 s).
pub const LEADER_ELECTION: Duration = Duration::from_secs(3);

/// How long an agent may take to see that its database leads and to take
/// the free leader key: the lab's promise for disco-agent (it asks its
/// database four times a second), not a store's.
pub const NOTICE: Duration = Duration::from_secs(1);

/// How long a clean stop may take to remove a node's keys: a delete and a
/// revoke, each a round trip; far below any lease, which is the point of
/// stopping cleanly.
pub const CLEAN_STOP: Duration = Duration::from_secs(2);

/// The longest a lease (session) of `ttl` may outlive its last renewal on
/// `store`, by the store's own documentation.
pub fn longest_life(store: StoreKind, ttl: Duration) -> Duration {
    match store {
        StoreKind::Etcd => ttl.max(ETCD_MIN_TTL) + ETCD_REVOKE_PERIOD,
        StoreKind::Consul => ttl * 2,
    }
}

/// The shortest a lease (session) of `ttl` lives after the store granted
/// or renewed it on `store`, by the store's own documentation: etcd keeps
/// a lease for its TTL (at least its minimum) after each keepalive it
/// receives; Consul invalidates a session no sooner than its TTL after a
/// renewal.
pub fn shortest_life(store: StoreKind, ttl: Duration) -> Duration {
    match store {
        StoreKind::Etcd => ttl.max(ETCD_MIN_TTL),
        StoreKind::Consul => ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_bounds() {
        let s = Duration::from_secs;
        assert_eq!(
            longest_life(StoreKind::Etcd, s(3)),
            Duration::from_millis(3500)
        );
        assert_eq!(
            longest_life(StoreKind::Etcd, s(1)),
            Duration::from_millis(2500)
        );
        assert_eq!(longest_life(StoreKind::Consul, s(10)), s(20));
        assert_eq!(shortest_life(StoreKind::Etcd, s(1)), s(2));
        assert_eq!(shortest_life(StoreKind::Etcd, s(5)), s(5));
        assert_eq!(shortest_life(StoreKind::Consul, s(10)), s(10));
    }
}
