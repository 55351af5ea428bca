//! Shaped links (delay, loss, duplication): a shaper thread on a netfilter
//! queue in the sender's namespace, and the rules that feed it.

use std::collections::BTreeSet;

use clusterlab_core::fault::Atom;

use super::{Containers, WorldError};
use crate::netfault::netns::{DUP_CHAIN, SHAPE_CHAIN};
use crate::netfault::rules::{self, ShapedLink};
use crate::netfault::shaper::Shaper;

/// One shaped link in force.
#[derive(Debug)]
pub struct Shaped {
    link: ShapedLink,
    queue: Option<u16>,
    shaper: Option<Shaper>,
}
impl Containers<'_> {
    /// Shapes the link of `atom` (an [`Atom::Shape`]): a shaper thread in
    /// the sender's namespace and the rules that feed it. A sender that is
    /// down gets it when it comes back.
    pub(super) async fn shape(&mut self, atom: &Atom) -> Result<(), WorldError> {
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
    pub(super) fn unshape(&mut self, atom: &Atom) {
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
}
