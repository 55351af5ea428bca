//! The container world's fault mechanism behind the shared engine: network
//! effects as iptables rules in the containers' namespaces, pauses as the
//! cgroup freezer (`docker pause`), kills as SIGKILL and restarts with the
//! container's data. A restarted container has a fresh namespace: the
//! rules of every effect still in force on it are put back.

mod ledger;
mod leftovers;
mod shape;

pub use ledger::Applied;
pub use leftovers::Cleanliness;
pub use shape::Shaped;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use clusterlab_core::fault::{Atom, DbOp, Nemesis, StoreOp};
use tokio::sync::watch;

use super::addrs::Addrs;
use super::observe::{Observed, Shared};
use super::store::Store;
use super::WorldError;
use crate::run::Run;

/// The fault mechanism of one run.
#[derive(Debug)]
pub struct Containers<'a> {
    /// The run's containers.
    pub run: &'a Run,
    /// Their addresses.
    pub addrs: &'a Addrs,
    /// The discovery store.
    pub store: &'a Store,
    /// The latest observation (who leads).
    pub observed: watch::Receiver<Observed>,
    /// The ledger the observer reads: a revived node is marked up as soon
    /// as its process runs, so that it is probed while its effects are
    /// put back.
    pub ledger: Shared,
    /// Effects in force, to put back after a restart.
    pub installed: BTreeSet<Atom>,
    /// Nodes killed and not restarted yet: their namespaces are gone.
    pub down: BTreeSet<String>,
    /// Shaped links in force: their rules, queue and shaper thread.
    pub shaped: BTreeMap<Atom, Shaped>,
    /// The run's seed (each shaper's draws derive from it).
    pub seed: u64,
    /// What the undos left behind, checked after each ([`Cleanliness`]).
    pub clean: Cleanliness,
    /// The rules each network fault in force installed, and where: what
    /// its undo deletes (rules worked out again would name addresses as
    /// they are now, not as they were).
    pub applied: BTreeMap<Atom, Vec<Applied>>,
}

impl Containers<'_> {
    fn store_ips(&self) -> Vec<Ipv4Addr> {
        self.store
            .names
            .iter()
            .filter_map(|s| self.addrs.peer_ip(s))
            .collect()
    }

    /// Docker kills no frozen container: thaw it first (it is frozen again
    /// when it comes back, if its pause is still in force).
    async fn thaw_for_kill(&self, node: &str) -> Result<(), WorldError> {
        if self.installed.contains(&Atom::Pause(node.to_string())) {
            self.run.unpause(node).await?;
        }
        Ok(())
    }

    /// SIGKILLs `node` (thawed first), down until it starts again: the
    /// first half of a bounce and of a reschedule.
    async fn take_down(&mut self, node: &str) -> Result<(), WorldError> {
        self.thaw_for_kill(node).await?;
        self.run.kill(node).await?;
        self.down.insert(node.to_string());
        Ok(())
    }

    /// Starts `node` again with its data and puts back what is in force on
    /// it: its rules, and its freeze.
    async fn revive(&mut self, node: &str) -> Result<(), WorldError> {
        self.run.restart(node).await?;
        self.readopt(node).await
    }

    /// Takes `node` back after its process started again (by a fault's
    /// undo, or by the engine's restart policy): a new namespace, maybe a
    /// new address; what is in force on it (its rules, its freeze) is put
    /// back.
    pub async fn readopt(&mut self, node: &str) -> Result<(), WorldError> {
        self.run.put_back_files(node).await?;
        self.down.remove(node);
        self.ledger
            .lock()
            .expect("ledger lock")
            .states
            .insert(node.to_string(), clusterlab_core::view::NodeState::Up);
        let was = self.addrs.peer_ip(node);
        self.addrs.refresh(self.run, node).await?;
        self.moved(node, was).await?;
        let on_it: Vec<Atom> = self
            .installed
            .iter()
            .filter(|a| a.nodes().contains(&node))
            .cloned()
            .collect();
        for atom in on_it {
            match atom {
                Atom::Pause(_) => self.run.pause(node).await?,
                // A new namespace, maybe a new address: shaped anew.
                Atom::Shape(..) => {
                    self.unshape(&atom);
                    self.shape(&atom).await?;
                }
                _ if self.applied_in(&atom, node) => {}
                _ => self.install(&atom, &|n| n == node).await?,
            }
        }
        Ok(())
    }
}

impl Nemesis for Containers<'_> {
    type Error = WorldError;

    async fn leader(&mut self) -> Option<String> {
        self.observed.borrow().view.leader()
    }

    async fn store_leader(&mut self) -> Option<String> {
        self.store.leader(self.addrs).await
    }

    async fn apply(&mut self, atom: &Atom) -> Result<(), WorldError> {
        match atom {
            Atom::Pause(n) => self.run.pause(n).await?,
            Atom::Down(n) => {
                self.thaw_for_kill(n).await?;
                self.down.insert(n.clone());
                self.run.kill(n).await?;
            }
            Atom::Left(n) => {
                self.thaw_for_kill(n).await?;
                self.down.insert(n.clone());
                self.run.stop(n).await?;
            }
            Atom::StoreDown(s) => {
                self.down.insert(s.clone());
                self.run.kill(s).await?;
            }
            Atom::NodeGone => self.store.deregister_node(true).await?,
            Atom::Shape(..) => self.shape(atom).await?,
            Atom::ReplyDelay(..) | Atom::ClockRate(_) | Atom::IndexBack | Atom::DbUnready(_) => {
                return Err(WorldError::Unsupported(format!(
                    "{atom:?} lives inside the store: only the simulator makes it"
                )))
            }
            network => self.install(network, &|_| true).await?,
        }
        self.installed.insert(atom.clone());
        Ok(())
    }

    async fn undo(&mut self, atom: &Atom) -> Result<(), WorldError> {
        self.installed.remove(atom);
        match atom {
            Atom::Pause(n) => {
                if !self.down.contains(n) {
                    self.run.unpause(n).await?;
                }
            }
            Atom::Down(n) => self.revive(n).await?,
            Atom::StoreDown(s) => {
                self.run.restart(s).await?;
                self.down.remove(s);
                let was = self.addrs.peer_ip(s);
                self.addrs.refresh(self.run, s).await?;
                self.moved(s, was).await?;
                let on_it: Vec<Atom> = self
                    .shaped
                    .keys()
                    .filter(|a| a.nodes().contains(&s.as_str()))
                    .cloned()
                    .collect();
                for atom in on_it {
                    self.unshape(&atom);
                    self.shape(&atom).await?;
                }
            }
            Atom::Shape(..) => {
                self.unshape(atom);
                self.verify_undone(atom);
            }
            // Never undone: the node left for good.
            Atom::Left(_) => {}
            Atom::NodeGone => self.store.deregister_node(false).await?,
            network => {
                self.uninstall(network).await?;
                self.verify_undone(network);
            }
        }
        Ok(())
    }

    async fn store(&mut self, op: &StoreOp) -> Result<(), WorldError> {
        self.store.tamper(op).await
    }

    async fn database(&mut self, op: &DbOp) -> Result<(), WorldError> {
        match op {
            DbOp::Reschedule(node) => {
                self.take_down(node).await?;
                self.run.reschedule(node).await?;
                self.readopt(node).await
            }
            DbOp::LeaderTo(_) | DbOp::Crash(_) => Err(WorldError::Unsupported(format!(
                "{op:?}: a real database's leadership and crashes are its own; only the simulator makes them"
            ))),
        }
    }

    async fn bounce(&mut self, node: &str) -> Result<(), WorldError> {
        self.take_down(node).await?;
        self.revive(node).await
    }
}
