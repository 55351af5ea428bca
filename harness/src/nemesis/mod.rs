//! The nemesis: faults injected into a run's containers, one small module
//! per fault, every one undone by [`heal`].
//!
//! Network faults are iptables rules in the container's own network
//! namespace, set from the host with `nsenter -t <pid> -n` (this kernel has
//! no netem). All rules live in one chain, `CLUSTERLAB`, jumped to from
//! INPUT and OUTPUT, so healing is flushing that chain.

pub mod isolate;
pub mod loss;
pub mod netns;
pub mod partition;

pub use netns::{NemesisError, Node};

/// Undoes every network fault on `nodes`.
pub fn heal(nodes: &[Node]) -> Result<(), NemesisError> {
    nodes.iter().try_for_each(Node::clear)
}
