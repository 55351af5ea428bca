//! rqlite's disco design as the seeds describe it: the leader writes the
//! leader key with no TTL and overwrites it unconditionally. Announce and
//! bootstrap are disco's own, so that the only difference is the key: when
//! the leader dies, the key keeps naming it.

use std::time::Duration;

use disco::announce::{AnnounceConfig, Announcement};
use disco::bootstrap::{self, Decision, Role};
use disco::keys::Keys;
use disco::peers::Peers;
use disco::Registry;

use crate::world::board::Board;

/// Runs node `name`; the bootstrapper is the leader for good.
pub async fn run<R: Registry>(
    registry: R,
    name: String,
    prefix: String,
    cluster: String,
    ttl: Duration,
    board: Board,
) -> turmoil::Result {
    let keys = Keys::new(&prefix, &cluster);
    let address = format!("{name}:7000");
    let announce = Announcement::start(
        registry.clone(),
        keys.clone(),
        AnnounceConfig {
            node: name.clone(),
            address: address.clone(),
            ttl,
        },
    );
    let peers = Peers::start(registry.clone(), keys.clone());
    announce.registered(Duration::from_secs(3600)).await?;
    let lease = announce.subscribe();
    let current = || lease.borrow().as_ref().map(|l| l.lease.id.clone());
    let decision = bootstrap::decide(&registry, &keys, &name, current).await?;
    if let Decision::Bootstrap(claim) = &decision {
        bootstrap::commit(&registry, &keys, claim).await?;
        board.bootstrap(&name);
    }
    let role = decision.role();
    let leads = matches!(role, Role::Bootstrap | Role::Rejoin);
    let mut view = peers.subscribe();
    loop {
        if leads {
            let record = format!(r#"{{"node":"{name}","address":"{address}"}}"#);
            let _ = registry.put(&keys.leader(), &record, None).await;
            board.leadership(&name, Some((Duration::MAX, 0)));
        }
        let members = view
            .borrow_and_update()
            .as_ref()
            .map(|m| m.members.iter().map(|x| x.node.clone()).collect());
        if let Some(members) = members {
            board.members(&name, members);
        }
        tokio::select! {
            _ = view.changed() => {}
            _ = disco::timer::sleep(Duration::from_secs(1)) => {}
        }
    }
}
