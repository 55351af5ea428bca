//! Resolving a fault's targets and groups to node names when it fires: one
//! rule for every world, so that `leader`, `minority` or `random` mean the
//! same thing in containers and in the simulator.
//!
//! `leader` is whoever leads at that moment (asked of the world); every
//! other choice is made from the fault ledger's own idea of which nodes are
//! up and the seeded [`Picker`], so it does not depend on the world.

use clusterlab_scenario::{Groups, Role, Target};

use super::pick::Picker;

/// What a resolution may look at.
#[derive(Debug, Clone, Copy)]
pub struct Live<'a> {
    /// The current leader, if known.
    pub leader: Option<&'a str>,
    /// Nodes the schedule has not killed, sorted.
    pub up: &'a [String],
    /// The cluster's size (all nodes, up or not).
    pub size: usize,
}

impl Live<'_> {
    fn others(&self) -> Vec<&String> {
        self.up
            .iter()
            .filter(|n| Some(n.as_str()) != self.leader)
            .collect()
    }
}

/// Whether resolving `targets` needs to know the leader.
pub fn needs_leader(targets: &[Target]) -> bool {
    targets
        .iter()
        .any(|t| matches!(t, Target::Role(r) if *r != Role::Random))
}

/// The nodes `targets` name now: sorted, without duplicates.
pub fn targets(targets: &[Target], live: &Live<'_>, pick: &mut Picker) -> Vec<String> {
    let others = live.others();
    let mut out: Vec<String> = Vec::new();
    for t in targets {
        match t {
            Target::Node(name) => out.push(name.clone()),
            Target::Role(Role::Leader) => out.extend(live.leader.map(str::to_string)),
            Target::Role(Role::Follower) if !others.is_empty() => {
                out.push(others[pick.below(others.len())].clone());
            }
            Target::Role(Role::Follower) => {}
            Target::Role(Role::Minority) => out.extend(
                others
                    .iter()
                    .take(live.size.saturating_sub(1) / 2)
                    .map(|n| (*n).clone()),
            ),
            Target::Role(Role::Majority) => out.extend(majority(live)),
            Target::Role(Role::Random) if !live.up.is_empty() => {
                out.push(live.up[pick.below(live.up.len())].clone());
            }
            Target::Role(Role::Random) => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The leader and enough others (in name order) to make a majority.
fn majority(live: &Live<'_>) -> Vec<String> {
    let mut out: Vec<String> = live.leader.map(str::to_string).into_iter().collect();
    let need = (live.size / 2 + 1).saturating_sub(out.len());
    out.extend(live.others().into_iter().take(need).cloned());
    out
}

/// The sides of a partition: explicit lists, two halves of `nodes` (the
/// first gets the extra node), or a majority with the leader and the rest.
pub fn groups(groups: &Groups, nodes: &[String], live: &Live<'_>) -> Vec<Vec<String>> {
    match groups {
        Groups::Explicit(g) => g.clone(),
        Groups::Halves => {
            let mid = nodes.len().div_ceil(2);
            vec![nodes[..mid].to_vec(), nodes[mid..].to_vec()]
        }
        Groups::MajorityMinority => {
            let mut maj = majority(live);
            maj.sort();
            let min = nodes.iter().filter(|n| !maj.contains(n)).cloned().collect();
            vec![maj, min]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn roles_resolve_against_the_leader_and_the_up_nodes() {
        let up = names(&["n1", "n2", "n3", "n4", "n5"]);
        let live = Live {
            leader: Some("n3"),
            up: &up,
            size: 5,
        };
        let mut p = Picker::for_fault(1, 0);
        let t = |r| vec![Target::Role(r)];
        assert_eq!(targets(&t(Role::Leader), &live, &mut p), ["n3"]);
        assert_eq!(targets(&t(Role::Minority), &live, &mut p), ["n1", "n2"]);
        assert_eq!(
            targets(&t(Role::Majority), &live, &mut p),
            ["n1", "n2", "n3"]
        );
        let f = targets(&t(Role::Follower), &live, &mut p);
        assert!(f.len() == 1 && f[0] != "n3", "{f:?}");
        let g = groups(&Groups::MajorityMinority, &up, &live);
        assert_eq!(g, [names(&["n1", "n2", "n3"]), names(&["n4", "n5"])]);
        assert_eq!(
            groups(&Groups::Halves, &up, &live),
            [names(&["n1", "n2", "n3"]), names(&["n4", "n5"])]
        );
    }

    #[test]
    fn no_leader_means_no_leader_target() {
        let up = names(&["n1", "n2"]);
        let live = Live {
            leader: None,
            up: &up,
            size: 3,
        };
        let mut p = Picker::for_fault(1, 0);
        assert!(targets(&[Target::Role(Role::Leader)], &live, &mut p).is_empty());
        assert!(needs_leader(&[Target::Role(Role::Leader)]));
        assert!(!needs_leader(&[Target::Role(Role::Random)]));
        assert!(!needs_leader(&[Target::Node("n1".into())]));
    }
}
