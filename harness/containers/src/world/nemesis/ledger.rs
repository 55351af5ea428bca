//! The rules each network fault in force installed, and where: what its
//! undo deletes, and what a restarted node must get back.

use std::net::Ipv4Addr;

use clusterlab_core::fault::Atom;

use super::{Containers, WorldError};
use crate::netfault::rules;
use crate::netfault::NetfaultError;

/// One rule a fault installed.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The node whose namespace holds it.
    node: String,
    /// The process whose namespace that was: a restarted node's rules went
    /// with its old process.
    pid: i64,
    /// The rule.
    spec: Vec<String>,
}

impl Containers<'_> {
    /// Installs `atom`'s rules in the namespaces of the nodes `on` keeps.
    pub(super) async fn install(
        &mut self,
        atom: &Atom,
        on: &dyn Fn(&str) -> bool,
    ) -> Result<(), WorldError> {
        self.install_where(atom, on, false).await
    }

    /// As [`Self::install`]; with `skip_gone`, a node whose container does
    /// not run (it died on its own) is passed over: it gets the rules when
    /// it starts again.
    pub(super) async fn install_where(
        &mut self,
        atom: &Atom,
        on: &dyn Fn(&str) -> bool,
        skip_gone: bool,
    ) -> Result<(), WorldError> {
        let stores = self.store_ips();
        for (node, spec) in rules::rules(atom, |n| self.addrs.peer_ip(n), &stores) {
            if !on(&node) || self.down.contains(&node) {
                continue;
            }
            let ns = match self.addrs.refresh(self.run, &node).await {
                Ok(ns) => ns,
                Err(NetfaultError::Container { .. }) if skip_gone => continue,
                Err(e) => return Err(e.into()),
            };
            ns.append(&spec)?;
            self.applied.entry(atom.clone()).or_default().push(Applied {
                node,
                pid: ns.pid,
                spec,
            });
        }
        Ok(())
    }

    /// After `node` started again (`was`: its address before): the rules
    /// applied in its old namespace are gone with it, and if its address
    /// moved, every network fault in force is set anew in the other
    /// namespaces, whose rules named the old one.
    pub(super) async fn moved(
        &mut self,
        node: &str,
        was: Option<Ipv4Addr>,
    ) -> Result<(), WorldError> {
        // Rules set in its new namespace already (a fault set anew since
        // it started) stay, and are not set twice.
        let pid = self.addrs.node(node).map(|n| n.pid);
        for specs in self.applied.values_mut() {
            specs.retain(|a| a.node != node || Some(a.pid) == pid);
        }
        if was.is_none() || was == self.addrs.peer_ip(node) {
            return Ok(());
        }
        let atoms: Vec<Atom> = self.applied.keys().cloned().collect();
        for atom in atoms {
            for a in self.applied.remove(&atom).unwrap_or_default() {
                if !self.down.contains(&a.node) {
                    if let Some(ns) = self.addrs.node(&a.node) {
                        ns.delete(&a.spec);
                    }
                }
            }
            self.install_where(&atom, &|_| true, true).await?;
        }
        Ok(())
    }

    /// Whether `atom`'s rules are in `node`'s current namespace.
    pub(super) fn applied_in(&self, atom: &Atom, node: &str) -> bool {
        let pid = self.addrs.node(node).map(|n| n.pid);
        self.applied
            .get(atom)
            .is_some_and(|v| v.iter().any(|a| a.node == node && Some(a.pid) == pid))
    }

    pub(super) async fn uninstall(&mut self, atom: &Atom) -> Result<(), WorldError> {
        for a in self.applied.remove(atom).unwrap_or_default() {
            if self.down.contains(&a.node) {
                continue;
            }
            if let Some(ns) = self.addrs.node(&a.node) {
                ns.delete(&a.spec);
            }
        }
        Ok(())
    }
}
