//! Partitions: groups that cannot reach each other (symmetric), and the
//! one-way kind where `from` cannot send to `to` but `to` can still send to
//! `from` (the case that confuses failure detectors most).

use super::netns::{NemesisError, Node};

/// Splits `groups`: every node drops traffic to and from every node of the
/// other groups. Nodes in no group are unaffected.
pub fn partition(groups: &[Vec<&Node>]) -> Result<(), NemesisError> {
    for (i, group) in groups.iter().enumerate() {
        for node in group {
            for (j, other) in groups.iter().enumerate() {
                if i != j {
                    for peer in other {
                        node.cut(peer.ip)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Packets from `from` to `to` are dropped at `to`; the reverse direction
/// still flows.
pub fn one_way(from: &[&Node], to: &[&Node]) -> Result<(), NemesisError> {
    for receiver in to {
        for sender in from {
            receiver.cut_inbound(sender.ip)?;
        }
    }
    Ok(())
}
