//! What a fault does when it fires: the nodes it hits, the atoms it puts in
//! effect, the restarts and the store and database operations.

use super::*;

impl Engine {
    /// The nodes `fault` hits, the atoms it puts in effect (for the
    /// length of the fault, or for good), the nodes it restarts at once,
    /// and what it does to the store at once.
    pub(super) async fn resolve<N: Nemesis>(
        &self,
        i: usize,
        fault: &Fault,
        leader: Option<&str>,
        world: &mut N,
    ) -> Resolved {
        let up = self.up();
        let live = Live {
            leader,
            up: &up,
            size: self.nodes.len(),
        };
        let mut pick = Picker::for_fault(self.seed, i);
        let each = |targets: &[Target], pick: &mut Picker| resolve::targets(targets, &live, pick);
        let running = |names: Vec<String>| -> Vec<String> {
            names.into_iter().filter(|n| up.contains(n)).collect()
        };
        let mut atoms = Vec::new();
        let mut forever = Vec::new();
        let mut bounce = Vec::new();
        let mut ops = Vec::new();
        let mut db = Vec::new();
        let hit: Vec<String> = match &fault.action {
            Action::Heal => Vec::new(),
            Action::Crash { target } => {
                let names = running(each(target, &mut pick));
                forever.extend(names.iter().map(|n| Atom::Down(n.clone())));
                names
            }
            Action::Leave { target } => {
                let names = running(each(target, &mut pick));
                forever.extend(names.iter().map(|n| Atom::Left(n.clone())));
                names
            }
            Action::DeleteKey { key, target } => match key {
                StoreKey::Leader => {
                    ops.push(StoreOp::DeleteLeaderKey);
                    Vec::new()
                }
                StoreKey::Bootstrap => {
                    ops.push(StoreOp::DeleteBootstrapKey);
                    Vec::new()
                }
                StoreKey::Member => {
                    let names = each(target, &mut pick);
                    ops.extend(names.iter().map(|n| StoreOp::DeleteMemberKey(n.clone())));
                    names
                }
            },
            Action::RevokeLease { target } => {
                let names = each(target, &mut pick);
                ops.extend(names.iter().map(|n| StoreOp::RevokeLease(n.clone())));
                names
            }
            Action::DropReplies { target, rate } => {
                let names = each(target, &mut pick);
                let ppm = (rate * 1e6).round() as u32;
                atoms.extend(names.iter().map(|n| Atom::ReplyLoss(n.clone(), ppm)));
                names
            }
            Action::DelayReplies { target, delay } => {
                let names = each(target, &mut pick);
                let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                atoms.extend(names.iter().map(|n| Atom::ReplyDelay(n.clone(), ms)));
                names
            }
            Action::CancelWatches => {
                ops.push(StoreOp::CancelWatches);
                Vec::new()
            }
            Action::DeregisterNode => {
                atoms.push(Atom::NodeGone);
                Vec::new()
            }
            Action::ClockJump { by } => {
                ops.push(StoreOp::ClockJump(*by));
                Vec::new()
            }
            Action::ClockDrift { rate } => {
                atoms.push(Atom::ClockRate((rate * 1000.0).round() as u32));
                Vec::new()
            }
            Action::ResetIndex => {
                atoms.push(Atom::IndexBack);
                Vec::new()
            }
            Action::Isolate { target } => {
                let names = each(target, &mut pick);
                atoms.extend(names.iter().map(|n| Atom::Isolate(n.clone())));
                names
            }
            Action::CutDiscovery { target } => {
                let names = each(target, &mut pick);
                atoms.extend(names.iter().map(|n| Atom::CutStore(n.clone())));
                names
            }
            Action::PacketLoss { target, rate } => {
                let names = each(target, &mut pick);
                let ppm = (rate * 1e6).round() as u32;
                atoms.extend(names.iter().map(|n| Atom::Loss(n.clone(), ppm)));
                names
            }
            Action::Pause { target } => {
                let names = running(each(target, &mut pick));
                atoms.extend(names.iter().map(|n| Atom::Pause(n.clone())));
                names
            }
            Action::Kill { target } => {
                let names = each(target, &mut pick);
                atoms.extend(names.iter().map(|n| Atom::Down(n.clone())));
                names
            }
            Action::KillLeader => {
                let names: Vec<String> = leader.map(str::to_string).into_iter().collect();
                atoms.extend(names.iter().map(|n| Atom::Down(n.clone())));
                names
            }
            Action::Restart { target } => {
                let names = running(each(target, &mut pick));
                bounce.extend(names.iter().cloned());
                names
            }
            Action::Partition { groups } => {
                let groups = resolve::groups(groups, &self.nodes, &live);
                atoms.extend(cuts(&groups));
                groups.concat()
            }
            Action::Bridge { groups, .. } => {
                atoms.extend(cuts(groups));
                groups.concat()
            }
            Action::PartitionOneWay { from, to } => {
                let (from, to) = (each(from, &mut pick), each(to, &mut pick));
                for a in &from {
                    for b in to.iter().filter(|b| *b != a) {
                        atoms.push(Atom::OneWay(a.clone(), b.clone()));
                    }
                }
                [from, to].concat()
            }
            Action::Shape {
                shape,
                target,
                peer,
                direction,
            } => {
                let names = each(target, &mut pick);
                let peers: Option<Vec<String>> = match peer {
                    Peer::All => None,
                    Peer::Store => Some(self.stores.clone()),
                    Peer::Nodes(t) => Some(each(t, &mut pick)),
                };
                atoms.extend(self.shaped(&names, peers.as_deref(), *direction, shape));
                names
            }
            Action::KillStoreLeader => {
                let names: Vec<String> = world.store_leader().await.into_iter().collect();
                atoms.extend(names.iter().map(|n| Atom::StoreDown(n.clone())));
                names
            }
            Action::DbLeaderMove { target } => {
                // One new leader: the first the targets resolve to.
                let names: Vec<String> = running(each(target, &mut pick))
                    .into_iter()
                    .take(1)
                    .collect();
                db.extend(names.iter().map(|n| DbOp::LeaderTo(n.clone())));
                names
            }
            Action::DbNotReady { target } => {
                let names = each(target, &mut pick);
                atoms.extend(names.iter().map(|n| Atom::DbUnready(n.clone())));
                names
            }
            Action::DbCrash { target } => {
                let names = running(each(target, &mut pick));
                db.extend(names.iter().map(|n| DbOp::Crash(n.clone())));
                names
            }
            Action::Reschedule { target } => {
                let names = running(each(target, &mut pick));
                db.extend(names.iter().map(|n| DbOp::Reschedule(n.clone())));
                names
            }
        };
        let mut hit = hit;
        hit.sort();
        hit.dedup();
        Resolved {
            hit,
            atoms,
            forever,
            bounce,
            ops,
            db,
        }
    }

    /// The shaped links of `names` with `peers` (`None`: everyone), each
    /// one way: what a target sends (`out`), what its peers send it
    /// (`in`).
    pub(super) fn shaped(
        &self,
        names: &[String],
        peers: Option<&[String]>,
        direction: Direction,
        shape: &clusterlab_scenario::Shape,
    ) -> Vec<Atom> {
        let s = Shaping::of(shape);
        let everyone: Vec<String> = self.nodes.iter().chain(&self.stores).cloned().collect();
        let mut out = Vec::new();
        for n in names {
            if direction.out() {
                match peers {
                    None => out.push(Atom::Shape(n.clone(), None, s)),
                    Some(ps) => out.extend(
                        ps.iter()
                            .filter(|p| *p != n)
                            .map(|p| Atom::Shape(n.clone(), Some(p.clone()), s)),
                    ),
                }
            }
            if direction.inward() {
                out.extend(
                    peers
                        .unwrap_or(&everyone)
                        .iter()
                        .filter(|p| *p != n)
                        .map(|p| Atom::Shape(p.clone(), Some(n.clone()), s)),
                );
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Whether resolving `action` needs the current leader (which each world
/// resolves live, so its picks may differ between worlds).
pub fn depends_on_leader(action: &Action) -> bool {
    match action {
        Action::KillLeader => true,
        Action::Isolate { target }
        | Action::CutDiscovery { target }
        | Action::PacketLoss { target, .. }
        | Action::Pause { target }
        | Action::Kill { target }
        | Action::Restart { target }
        | Action::Reschedule { target }
        | Action::Crash { target }
        | Action::Leave { target }
        | Action::DbLeaderMove { target }
        | Action::DbNotReady { target }
        | Action::DbCrash { target }
        | Action::DeleteKey { target, .. }
        | Action::RevokeLease { target }
        | Action::DropReplies { target, .. }
        | Action::DelayReplies { target, .. } => resolve::needs_leader(target),
        Action::PartitionOneWay { from, to } => {
            resolve::needs_leader(from) || resolve::needs_leader(to)
        }
        Action::Partition { groups } => {
            matches!(groups, clusterlab_scenario::Groups::MajorityMinority)
        }
        Action::Shape { target, peer, .. } => {
            resolve::needs_leader(target)
                || matches!(peer, Peer::Nodes(p) if resolve::needs_leader(p))
        }
        Action::Bridge { .. }
        | Action::KillStoreLeader
        | Action::Heal
        | Action::CancelWatches
        | Action::ResetIndex
        | Action::DeregisterNode
        | Action::ClockDrift { .. }
        | Action::ClockJump { .. } => false,
    }
}

/// Whether `action` is meant to hit nodes (a fault on the store itself,
/// its keys, clock or watches, hits none).
pub(super) fn hits_nodes(action: &Action) -> bool {
    !matches!(
        action,
        Action::DeleteKey {
            key: StoreKey::Leader | StoreKey::Bootstrap,
            ..
        } | Action::CancelWatches
            | Action::ResetIndex
            | Action::DeregisterNode
            | Action::ClockDrift { .. }
            | Action::ClockJump { .. }
    )
}

/// A cut between every pair of nodes on different sides.
pub(super) fn cuts(groups: &[Vec<String>]) -> Vec<Atom> {
    let mut out = Vec::new();
    for (i, a) in groups.iter().enumerate() {
        for b in groups.iter().skip(i + 1) {
            for x in a {
                for y in b.iter().filter(|y| *y != x) {
                    out.push(Atom::cut(x, y));
                }
            }
        }
    }
    out
}
