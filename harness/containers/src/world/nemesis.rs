//! The container world's fault mechanism behind the shared engine: network
//! effects as iptables rules in the containers' namespaces, pauses as the
//! cgroup freezer (`docker pause`), kills as SIGKILL and restarts with the
//! container's data. A restarted container has a fresh namespace: the
//! rules of every effect still in force on it are put back.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use clusterlab_core::fault::{Atom, Nemesis, StoreOp};
use tokio::sync::watch;

use super::addrs::Addrs;
use super::observe::Observed;
use super::store::Store;
use super::WorldError;
use crate::nemesis::rules;
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
    /// Effects in force, to put back after a restart.
    pub installed: BTreeSet<Atom>,
    /// Nodes killed and not restarted yet: their namespaces are gone.
    pub down: BTreeSet<String>,
}

impl Containers<'_> {
    fn store_ips(&self) -> Vec<Ipv4Addr> {
        self.store
            .names
            .iter()
            .filter_map(|s| self.addrs.ip(s))
            .collect()
    }

    /// Installs `atom`'s rules; `only`: in that node's namespace alone.
    async fn install(&self, atom: &Atom, only: Option<&str>) -> Result<(), WorldError> {
        let stores = self.store_ips();
        for (node, spec) in rules::rules(atom, |n| self.addrs.ip(n), &stores) {
            if only.is_some_and(|o| o != node) || self.down.contains(&node) {
                continue;
            }
            let ns = self.addrs.refresh(self.run, &node).await?;
            ns.append(&spec)?;
        }
        Ok(())
    }

    async fn uninstall(&self, atom: &Atom) -> Result<(), WorldError> {
        let stores = self.store_ips();
        for (node, spec) in rules::rules(atom, |n| self.addrs.ip(n), &stores) {
            if self.down.contains(&node) {
                continue;
            }
            if let Some(ns) = self.addrs.node(&node) {
                ns.delete(&spec);
            }
        }
        Ok(())
    }

    /// Docker kills no frozen container: thaw it first (it is frozen again
    /// when it comes back, if its pause is still in force).
    async fn thaw_for_kill(&self, node: &str) -> Result<(), WorldError> {
        if self.installed.contains(&Atom::Pause(node.to_string())) {
            self.run.unpause(node).await?;
        }
        Ok(())
    }

    /// Starts `node` again with its data and puts back what is in force on
    /// it: its rules, and its freeze.
    async fn revive(&mut self, node: &str) -> Result<(), WorldError> {
        self.run.restart(node).await?;
        self.down.remove(node);
        self.addrs.refresh(self.run, node).await?;
        let on_it: Vec<Atom> = self
            .installed
            .iter()
            .filter(|a| a.nodes().contains(&node))
            .cloned()
            .collect();
        for atom in on_it {
            match atom {
                Atom::Pause(_) => self.run.pause(node).await?,
                _ => self.install(&atom, Some(node)).await?,
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
            Atom::StoreDown(s) => self.run.kill(s).await?,
            Atom::NodeGone => self.store.deregister_node(true).await?,
            Atom::ReplyDelay(..) | Atom::ClockRate(_) | Atom::IndexBack => {
                return Err(WorldError::Unsupported(format!(
                    "{atom:?} lives inside the store: only the simulator makes it"
                )))
            }
            network => self.install(network, None).await?,
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
                self.addrs.refresh(self.run, s).await?;
            }
            // Never undone: the node left for good.
            Atom::Left(_) => {}
            Atom::NodeGone => self.store.deregister_node(false).await?,
            network => self.uninstall(network).await?,
        }
        Ok(())
    }

    async fn store(&mut self, op: &StoreOp) -> Result<(), WorldError> {
        self.store.tamper(op).await
    }

    async fn bounce(&mut self, node: &str) -> Result<(), WorldError> {
        self.thaw_for_kill(node).await?;
        self.run.kill(node).await?;
        self.down.insert(node.to_string());
        self.revive(node).await
    }
}
