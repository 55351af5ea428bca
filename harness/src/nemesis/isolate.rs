//! Isolate: a node can reach nobody and nobody can reach it (loopback
//! still works, so its own processes keep talking to each other).

use super::netns::{NemesisError, Node, CHAIN};

/// Cuts `node` off from every address but loopback.
pub fn isolate(node: &Node) -> Result<(), NemesisError> {
    node.iptables(&["-A", CHAIN, "!", "-i", "lo", "-j", "DROP"])?;
    node.iptables(&["-A", CHAIN, "!", "-o", "lo", "-j", "DROP"])
}
