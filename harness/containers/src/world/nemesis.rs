//! The container world's fault mechanism behind the shared engine: network
//! effects as iptables rules in the containers' namespaces, pauses as the
//! cgroup freezer (`docker pause`), kills as SIGKILL and restarts with the
//! container's data. A restarted container has a fresh namespace: the
//! rules of every effect still in force on it are put back.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use clusterlab_core::fault::{Atom, DbOp, Nemesis, StoreOp};
use tokio::sync::watch;

use super::addrs::Addrs;
use super::observe::{Observed, Shared};
use super::store::Store;
use super::WorldError;
use crate::netfault::netns::{DUP_CHAIN, SHAPE_CHAIN};
use crate::netfault::rules::{self, ShapedLink};
use crate::netfault::shaper::Shaper;
use crate::netfault::NetfaultError;
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

/// What the nemesis found in the namespaces it undid its rules in: after
/// each undo, every live node it touched that has no fault left in force
/// must hold none of the lab's rules and no bound queue.
#[derive(Debug, Default)]
pub struct Cleanliness {
    /// Namespaces looked into after an undo.
    pub checked: usize,
    /// What was left: (node, the undone fault, each rule or queue).
    pub left: Vec<(String, String, Vec<String>)>,
    /// Namespaces that could not be looked into, and why.
    pub unread: Vec<String>,
}

/// One shaped link in force.
#[derive(Debug)]
pub struct Shaped {
    link: ShapedLink,
    queue: Option<u16>,
    shaper: Option<Shaper>,
}

impl Containers<'_> {
    fn store_ips(&self) -> Vec<Ipv4Addr> {
        self.store
            .names
            .iter()
            .filter_map(|s| self.addrs.peer_ip(s))
            .collect()
    }

    /// Installs `atom`'s rules in the namespaces of the nodes `on` keeps.
    async fn install(&mut self, atom: &Atom, on: &dyn Fn(&str) -> bool) -> Result<(), WorldError> {
        self.install_where(atom, on, false).await
    }

    /// As [`Self::install`]; with `skip_gone`, a node whose container does
    /// not run (it died on its own) is passed over: it gets the rules when
    /// it starts again.
    async fn install_where(
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
    async fn moved(&mut self, node: &str, was: Option<Ipv4Addr>) -> Result<(), WorldError> {
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
    fn applied_in(&self, atom: &Atom, node: &str) -> bool {
        let pid = self.addrs.node(node).map(|n| n.pid);
        self.applied
            .get(atom)
            .is_some_and(|v| v.iter().any(|a| a.node == node && Some(a.pid) == pid))
    }

    /// The nodes whose namespaces hold rules of `atom` (or its shaping).
    fn ruled(&self, atom: &Atom) -> BTreeSet<String> {
        let stores = self.store_ips();
        let mut nodes: BTreeSet<String> = rules::rules(atom, |n| self.addrs.peer_ip(n), &stores)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        if let Atom::Shape(from, ..) = atom {
            nodes.insert(from.clone());
        }
        nodes
    }

    /// After `atom` was undone: looks into each live namespace it touched
    /// that no fault still in force touches, which must now be empty.
    fn verify_undone(&mut self, atom: &Atom) {
        let busy: BTreeSet<String> = self
            .installed
            .iter()
            .chain(self.shaped.keys())
            .flat_map(|a| self.ruled(a))
            .collect();
        for node in self.ruled(atom) {
            if busy.contains(&node) || self.down.contains(&node) {
                continue;
            }
            let Some(ns) = self.addrs.node(&node) else {
                continue;
            };
            match ns.leftovers() {
                Ok(left) => {
                    self.clean.checked += 1;
                    if !left.is_empty() {
                        self.clean.left.push((node, format!("{atom:?}"), left));
                    }
                }
                // A namespace that vanished (the node died meanwhile) holds
                // nothing, but it was not looked into: said in the verdict.
                Err(e) => self.clean.unread.push(format!("{node}: {e}")),
            }
        }
    }

    async fn uninstall(&mut self, atom: &Atom) -> Result<(), WorldError> {
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

    /// Shapes the link of `atom` (an [`Atom::Shape`]): a shaper thread in
    /// the sender's namespace and the rules that feed it. A sender that is
    /// down gets it when it comes back.
    async fn shape(&mut self, atom: &Atom) -> Result<(), WorldError> {
        let Atom::Shape(from, _, shaping) = atom else {
            return Ok(());
        };
        if self.down.contains(from) {
            return Ok(());
        }
        let everyone = self.addrs.names();
        let Some(link) = rules::shaped(atom, |n| self.addrs.peer_ip(n), &everyone) else {
            return Ok(());
        };
        let ns = self.addrs.refresh(self.run, from).await?;
        let mut queue = None;
        let mut shaper = None;
        if shaping.delays() {
            let used: BTreeSet<u16> = self
                .shaped
                .values()
                .filter(|s| s.link.node == link.node)
                .filter_map(|s| s.queue)
                .collect();
            let q = (0u16..).find(|q| !used.contains(q)).expect("a free queue");
            let seed = self.seed ^ disco::backoff::fnv1a(format!("{atom:?}").as_bytes());
            shaper = Some(
                Shaper::start(&ns.netns(), q, *shaping, seed)
                    .map_err(crate::netfault::NetfaultError::from)?,
            );
            ns.append_to("filter", SHAPE_CHAIN, &link.queue_rule(q))?;
            queue = Some(q);
        }
        for dup in &link.duplicates {
            ns.append_to("mangle", DUP_CHAIN, dup)?;
        }
        self.shaped.insert(
            atom.clone(),
            Shaped {
                link,
                queue,
                shaper,
            },
        );
        Ok(())
    }

    /// Undoes [`Self::shape`]: the rules go first, then the shaper lets
    /// what it holds go.
    fn unshape(&mut self, atom: &Atom) {
        let Some(s) = self.shaped.remove(atom) else {
            return;
        };
        if !self.down.contains(&s.link.node) {
            if let Some(ns) = self.addrs.node(&s.link.node) {
                if let Some(q) = s.queue {
                    ns.delete_from("filter", SHAPE_CHAIN, &s.link.queue_rule(q));
                }
                for dup in &s.link.duplicates {
                    ns.delete_from("mangle", DUP_CHAIN, dup);
                }
            }
        }
        if let Some(shaper) = s.shaper {
            if let Err(e) = shaper.stop() {
                tracing::warn!("{e}");
            }
        }
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
        Err(WorldError::Unsupported(format!(
            "{op:?}: a real database's leadership and crashes are its own; only the simulator makes them"
        )))
    }

    async fn bounce(&mut self, node: &str) -> Result<(), WorldError> {
        self.thaw_for_kill(node).await?;
        self.run.kill(node).await?;
        self.down.insert(node.to_string());
        self.revive(node).await
    }
}
