//! The check after every undo: the namespaces the undone fault touched
//! hold none of the lab's rules and no bound queue (rules left behind
//! are the most common complaint about fault injectors).

use std::collections::BTreeSet;

use clusterlab_core::fault::Atom;

use super::Containers;
use crate::netfault::rules;

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

impl Containers<'_> {
    /// The nodes whose namespaces hold rules of `atom` (or its shaping).
    pub(super) fn ruled(&self, atom: &Atom) -> BTreeSet<String> {
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
    pub(super) fn verify_undone(&mut self, atom: &Atom) {
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
}
