//! Packet loss: drop a random fraction of a node's packets, both ways
//! (`-m statistic --mode random`, since this kernel has no netem).

use super::netns::{NemesisError, Node, CHAIN};

/// Drops `rate` (0, 1] of `node`'s non-loopback packets in each direction.
pub fn packet_loss(node: &Node, rate: f64) -> Result<(), NemesisError> {
    let p = format!("{:.4}", rate.clamp(0.0, 1.0));
    for dir in [["!", "-i", "lo"], ["!", "-o", "lo"]] {
        let mut args = vec!["-A", CHAIN];
        args.extend(dir);
        args.extend([
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            &p,
            "-j",
            "DROP",
        ]);
        node.iptables(&args)?;
    }
    Ok(())
}
