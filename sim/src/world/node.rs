//! A simulated cluster node: the unchanged `disco` node logic over disco's
//! real etcd or Consul backend, reaching the registry host through turmoil. Instead
//! of exec'ing a database it publishes what the database would be told
//! (bootstrap or join, the members) and when it may act as leader.

use std::time::Duration;

use disco::bootstrap::Role;
use disco::leader::Leadership;
use disco::node::{Node, NodeConfig};
use disco::Registry;
use tokio::time::Instant;

use super::board::{now, Board};

/// Runs node `name` over `registry` until the simulation ends or the host
/// is crashed.
pub async fn run<R: Registry>(
    registry: R,
    name: String,
    prefix: String,
    cluster: String,
    ttl: Duration,
    board: Board,
) -> turmoil::Result {
    let cfg = NodeConfig {
        prefix,
        cluster,
        node: name.clone(),
        address: format!("{name}:7000"),
        ttl,
        campaign: true,
    };
    // The simulated database is up at once: a bootstrap commits in start.
    let node = Node::start(registry, cfg, Duration::from_secs(3600)).await?;
    if *node.role() == Role::Bootstrap {
        board.bootstrap(&name);
    }
    let plan = node.join_plan(Duration::from_secs(3600)).await?;
    board.members(&name, plan.members().into_iter().map(|m| m.node).collect());
    let mut lead = node.election().expect("campaigning").subscribe();
    let mut peers = node.peers().subscribe();
    let mut leaving = board.leaving(&name);
    loop {
        let leader = match &*lead.borrow_and_update() {
            Leadership::Leader { token, valid_until } => {
                let left = valid_until.saturating_duration_since(Instant::now());
                Some((now() + left, token.0))
            }
            _ => None,
        };
        board.leadership(&name, leader);
        let members = peers
            .borrow_and_update()
            .as_ref()
            .map(|m| m.members.iter().map(|x| x.node.clone()).collect());
        if let Some(members) = members {
            board.members(&name, members);
        }
        tokio::select! {
            r = lead.changed() => if r.is_err() { return Ok(()) },
            r = peers.changed() => if r.is_err() { return Ok(()) },
            _ = leaving.wait_for(|l| *l) => {
                // A clean stop: resign and deregister, as disco-agent does
                // on SIGTERM; then the process is gone.
                node.shutdown().await;
                board.leadership(&name, None);
                return std::future::pending().await;
            }
        }
    }
}
