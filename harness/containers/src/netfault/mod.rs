//! The container world's network faults: each effect of the shared fault
//! engine as iptables rules ([`rules`]) in the containers' own network
//! namespaces, set from the host with `nsenter -t <pid> -n` ([`netns`];
//! this kernel has no netem). Every rule lives in one chain,
//! `CLUSTERLAB`, jumped to from INPUT and OUTPUT; an effect is undone by
//! deleting exactly its own rules, so ending one fault never lifts
//! another's. Shaped links (latency, jitter, reorder) queue their packets
//! to a [`shaper`] thread in the sender's namespace; duplicates are the
//! kernel's TEE target.

pub mod netns;
pub mod rules;
pub mod shaper;
pub mod testbed;

pub use netns::{NetfaultError, Node};

/// Removes every fault rule on `nodes`.
pub fn heal(nodes: &[Node]) -> Result<(), NetfaultError> {
    nodes.iter().try_for_each(Node::clear)
}
