//! A simulated cluster node: the agent users deploy ([`disco::agent`]),
//! unchanged, over disco's real etcd or Consul backend reaching the
//! registry host through turmoil, supervising a simulated database
//! ([`super::database`]). Its leader key follows the database's leadership
//! (gate mode), as every built-in kind's does in containers. What it
//! reports goes on the board.
//!
//! When the agent ends (its database crashed, its claim lapsed, a deadline
//! ran out), it is started again a moment later, as `restart: always`
//! would; a node asked to leave stays gone.

use std::sync::Arc;
use std::time::Duration;

use disco::agent::{self, AgentConfig, LeaderMode, Phase, Report};
use disco::leader::Leadership;
use disco::node::{JoinPlan, NodeConfig};
use disco::peers::Membership;
use disco::Registry;
use tokio::time::Instant;

use super::board::{now, Board};
use crate::baseline::Seat;

/// How long a node waits before its agent starts again.
pub const RESTART_DELAY: Duration = Duration::from_secs(1);

/// The agent's deadlines in the simulator: registration, joining (a
/// pending bootstrap, someone to join) and a new database's readiness.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(3600);
/// See [`STARTUP_TIMEOUT`].
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(120);
/// See [`STARTUP_TIMEOUT`].
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs node `name`'s agent over `registry` until the simulation ends or
/// the host is crashed.
pub async fn run<R: Registry>(registry: R, seat: Seat) -> turmoil::Result {
    let Seat {
        name,
        prefix,
        cluster,
        ttl,
        board,
        dbs,
    } = seat;
    let cfg = AgentConfig {
        node: NodeConfig {
            prefix,
            cluster,
            node: name.clone(),
            address: format!("{name}:7000"),
            ttl,
            campaign: false,
        },
        leader: LeaderMode::Gate,
        startup_timeout: STARTUP_TIMEOUT,
        join_timeout: JOIN_TIMEOUT,
        ready_timeout: READY_TIMEOUT,
    };
    let report = Arc::new(OnBoard {
        name: name.clone(),
        board: board.clone(),
    });
    loop {
        let mut leaving = board.leaving(&name);
        let stop = async move {
            let _ = leaving.wait_for(|l| *l).await;
        };
        let ended = agent::run(
            registry.clone(),
            dbs.of(&name),
            cfg.clone(),
            report.clone(),
            stop,
        )
        .await;
        if let Err(e) = &ended {
            tracing::warn!(node = %name, error = %e, "the agent ended");
        }
        if *board.leaving(&name).borrow() {
            // A clean stop: resigned and deregistered; the process is gone.
            return std::future::pending().await;
        }
        disco::timer::sleep(RESTART_DELAY).await;
    }
}

/// An agent's reports, on the board.
struct OnBoard {
    name: String,
    board: Board,
}

impl Report for OnBoard {
    fn phase(&self, phase: Phase) {
        self.board.phase(&self.name, phase);
    }

    fn leadership(&self, l: &Leadership) {
        let leader = match l {
            Leadership::Leader { token, valid_until } => {
                let left = valid_until.saturating_duration_since(Instant::now());
                Some((now() + left, token.0))
            }
            _ => None,
        };
        self.board.leadership(&self.name, leader);
    }

    fn members(&self, m: &Membership) {
        self.board.members(
            &self.name,
            m.members.iter().map(|x| x.node.clone()).collect(),
        );
    }

    fn plan(&self, plan: &JoinPlan) {
        self.board.members(
            &self.name,
            plan.members().into_iter().map(|m| m.node).collect(),
        );
    }

    fn claimed(&self) {
        self.board.claimed(&self.name);
    }

    fn bootstrapped(&self) {
        self.board.bootstrap(&self.name);
    }

    fn database(&self, running: bool) {
        self.board.database(&self.name, running);
    }
}
