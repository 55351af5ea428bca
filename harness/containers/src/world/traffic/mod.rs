//! The traffic a scenario drives at its cluster while faults happen
//! (etcd's robustness suite calls it traffic, Jepsen a client): writes
//! read back at the end, a register and a set whose histories are judged,
//! and messages published and counted. Each is started after the nodes
//! ([`start`]) and ended before the verdict ([`Traffic::finish`]), the one
//! seam the run loop sees; [`ops`] records every call as an operation.

pub mod messages;
pub mod ops;
pub mod register;
pub mod set;
pub mod writes;

use std::time::Duration;

use clusterlab_core::history::judge;
use clusterlab_core::view::View;
use clusterlab_scenario::{Workload, WorkloadKind};
use futures_util::future::BoxFuture;
use tokio::sync::watch;

use super::addrs::Addrs;
use super::clock::Clock;
use super::kind::Kind;
use super::observe::{Observed, Shared};

/// What every workload's clients start from.
#[derive(Debug, Clone)]
pub struct Env {
    /// The cluster's kind (its client protocol).
    pub kind: Kind,
    /// The cluster's nodes.
    pub nodes: Vec<String>,
    /// The fault engine's ledger (who is down, who reaches what).
    pub ledger: Shared,
    /// Where each node is reached.
    pub addrs: Addrs,
    /// The run's clock and trace.
    pub rec: Clock,
    /// The latest observation (who leads).
    pub observed: watch::Receiver<Observed>,
    /// The run's seed.
    pub seed: u64,
}

/// One workload's clients: running from [`start`] until [`Self::finish`].
pub trait Traffic: Send {
    /// What its ending does, for the progress line.
    fn ending(&self) -> &'static str;

    /// Stops the clients, reads back what they wrote from the live nodes
    /// of `last` (the leaders first: they hold every commit), and records
    /// the verdicts on what was read.
    fn finish<'a>(self: Box<Self>, last: &'a View) -> BoxFuture<'a, ()>;
}

/// Starts the clients of workload `w`.
pub fn start(w: Workload, env: &Env) -> Box<dyn Traffic> {
    let (addrs, rec, observed) = (env.addrs.clone(), env.rec.clone(), env.observed.clone());
    match w.kind {
        WorkloadKind::Register => Box::new(Register(
            register::Clients::spawn(
                env.kind.clone(),
                w,
                &env.nodes,
                addrs,
                rec.clone(),
                env.seed,
            ),
            rec,
        )),
        WorkloadKind::Set => Box::new(Set(
            set::Clients::spawn(&env.kind, &env.nodes, &w, addrs, rec.clone(), observed),
            rec,
        )),
        WorkloadKind::Messages => Box::new(Messages(
            messages::Publishers::spawn(
                &w,
                env.nodes.clone(),
                env.ledger.clone(),
                addrs,
                rec.clone(),
                observed,
            ),
            rec,
        )),
        WorkloadKind::Writes => Box::new(Writes {
            writer: writes::Writer::spawn(
                env.kind.clone(),
                w,
                env.nodes.clone(),
                env.ledger.clone(),
                addrs.clone(),
                rec.clone(),
                observed,
            ),
            kind: env.kind.clone(),
            addrs,
            rec,
        }),
    }
}

/// The live nodes of `view`, its leaders first.
fn leaders_first(view: &View) -> Vec<String> {
    let leaders = view.leaders();
    let mut order: Vec<String> = view.live().into_iter().collect();
    order.sort_by_key(|n| !leaders.contains(n));
    order
}

/// The history checks of a register workload.
const REGISTER: judge::Wants = judge::Wants {
    linearizable: true,
    set: false,
};

/// The history checks of a set or messages workload.
const SETS: judge::Wants = judge::Wants {
    linearizable: false,
    set: true,
};

/// Records the history checks `wants` calls for.
fn judge_history(rec: &Clock, wants: judge::Wants) {
    for (at, e) in judge::judge(&rec.trace(), wants) {
        rec.insert(at, e);
    }
}

struct Register(register::Clients, Clock);

impl Traffic for Register {
    fn ending(&self) -> &'static str {
        "checking the register history for linearizability"
    }

    fn finish<'a>(self: Box<Self>, _last: &'a View) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.0.stop().await;
            judge_history(&self.1, REGISTER);
        })
    }
}

struct Set(set::Clients, Clock);

impl Traffic for Set {
    fn ending(&self) -> &'static str {
        "reading the set back"
    }

    fn finish<'a>(self: Box<Self>, last: &'a View) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.0
                .stop(&leaders_first(last), Duration::from_secs(30))
                .await;
            judge_history(&self.1, SETS);
        })
    }
}

struct Messages(messages::Publishers, Clock);

impl Traffic for Messages {
    fn ending(&self) -> &'static str {
        "draining the queues"
    }

    fn finish<'a>(self: Box<Self>, last: &'a View) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let live: Vec<String> = last.live().into_iter().collect();
            self.0.stop(&live, Duration::from_secs(60)).await;
            judge_history(&self.1, SETS);
        })
    }
}

struct Writes {
    writer: writes::Writer,
    kind: Kind,
    addrs: Addrs,
    rec: Clock,
}

impl Traffic for Writes {
    fn ending(&self) -> &'static str {
        "reading acknowledged writes back"
    }

    fn finish<'a>(self: Box<Self>, last: &'a View) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let ledger = self.writer.stop().await;
            let ips: Vec<_> = leaders_first(last)
                .iter()
                .filter_map(|n| self.addrs.ip(n))
                .collect();
            writes::verify(
                &self.kind,
                &ledger,
                &ips,
                Duration::from_secs(30),
                &self.rec,
            )
            .await;
        })
    }
}
