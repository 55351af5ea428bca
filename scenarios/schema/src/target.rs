//! Resolving a fault's targets to node names when it fires: the same rule
//! in every world, so that `leader`, `minority` or `random` mean the same
//! thing in containers and in the simulator.

use crate::model::{Role, Target};

/// Resolves `targets` against the current `leader` and the `live` nodes
/// (sorted), in a cluster of `size` nodes. `pick(len)` draws an index below
/// `len` from the world's seeded generator. Sorted, without duplicates.
pub fn resolve(
    targets: &[Target],
    leader: Option<&String>,
    live: &[String],
    size: usize,
    pick: &mut dyn FnMut(usize) -> usize,
) -> Vec<String> {
    let others: Vec<&String> = live.iter().filter(|n| Some(*n) != leader).collect();
    let mut out: Vec<String> = Vec::new();
    for t in targets {
        match t {
            Target::Node(name) => out.push(name.clone()),
            Target::Role(Role::Leader) => out.extend(leader.cloned()),
            Target::Role(Role::Follower) if !others.is_empty() => {
                out.push(others[pick(others.len())].clone());
            }
            Target::Role(Role::Follower) => {}
            Target::Role(Role::Minority) => out.extend(
                others
                    .iter()
                    .take(size.saturating_sub(1) / 2)
                    .map(|n| (*n).clone()),
            ),
            Target::Role(Role::Majority) => {
                out.extend(leader.cloned());
                let need = (size / 2 + 1).saturating_sub(out.len());
                out.extend(others.iter().take(need).map(|n| (*n).clone()));
            }
            Target::Role(Role::Random) if !live.is_empty() => {
                out.push(live[pick(live.len())].clone());
            }
            Target::Role(Role::Random) => {}
        }
    }
    out.sort();
    out.dedup();
    out
}
