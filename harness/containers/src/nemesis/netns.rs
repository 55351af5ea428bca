//! A container's network namespace, driven with iptables from the host.

use std::net::Ipv4Addr;
use std::process::Command;

use bollard::Docker;

/// The chain every fault rule goes into.
pub const CHAIN: &str = "CLUSTERLAB";

/// A fault that could not be applied or undone.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// Inspecting the container failed or it is not running.
    #[error("container {container}: {reason}")]
    Container {
        /// Container name or id.
        container: String,
        /// What is wrong.
        reason: String,
    },
    /// An iptables command failed.
    #[error("iptables in {node}'s namespace ({args}): {reason}; clusterlab needs root and the iptables and nsenter tools (ci/setup.sh installs them)")]
    Iptables {
        /// Node name.
        node: String,
        /// The arguments.
        args: String,
        /// stderr or the spawn error.
        reason: String,
    },
}

/// A running container a fault can be applied to.
#[derive(Debug, Clone)]
pub struct Node {
    /// Node name (hostname on the run network).
    pub name: String,
    /// PID of its init process, whose network namespace we enter.
    pub pid: i64,
    /// Its address on the run network.
    pub ip: Ipv4Addr,
}

impl Node {
    /// Looks up `container`'s PID and its address on `network`, and
    /// installs the (empty) fault chain.
    pub async fn of(
        docker: &Docker,
        name: &str,
        container: &str,
        network: &str,
    ) -> Result<Node, NemesisError> {
        let err = |reason: String| NemesisError::Container {
            container: container.to_string(),
            reason,
        };
        let info = docker
            .inspect_container(container, None)
            .await
            .map_err(|e| err(e.to_string()))?;
        let pid = info
            .state
            .and_then(|s| s.pid)
            .filter(|p| *p > 0)
            .ok_or_else(|| err("not running".into()))?;
        let ip = info
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|n| n.get(network).and_then(|e| e.ip_address.clone()))
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| err(format!("no address on network {network}")))?;
        let node = Node {
            name: name.to_string(),
            pid,
            ip,
        };
        node.install()?;
        Ok(node)
    }

    /// Runs `iptables -w <args>` in this node's network namespace.
    pub fn iptables(&self, args: &[&str]) -> Result<(), NemesisError> {
        let out = Command::new("nsenter")
            .args(["-t", &self.pid.to_string(), "-n", "iptables", "-w"])
            .args(args)
            .output();
        let fail = |reason: String| NemesisError::Iptables {
            node: self.name.clone(),
            args: args.join(" "),
            reason,
        };
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(fail(String::from_utf8_lossy(&o.stderr).trim().to_string())),
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// Creates the chain and the jumps to it (idempotent).
    fn install(&self) -> Result<(), NemesisError> {
        let _ = self.iptables(&["-N", CHAIN]); // exists already: fine
        for hook in ["INPUT", "OUTPUT"] {
            if self.iptables(&["-C", hook, "-j", CHAIN]).is_err() {
                self.iptables(&["-I", hook, "1", "-j", CHAIN])?;
            }
        }
        Ok(())
    }

    /// Appends the rule `spec` to the fault chain.
    pub fn append(&self, spec: &[String]) -> Result<(), NemesisError> {
        let args: Vec<&str> = ["-A", CHAIN]
            .into_iter()
            .chain(spec.iter().map(String::as_str))
            .collect();
        self.iptables(&args)
    }

    /// Deletes one instance of the rule `spec` from the fault chain; a rule
    /// that is not there (its container restarted since) is no error.
    pub fn delete(&self, spec: &[String]) {
        let args: Vec<&str> = ["-D", CHAIN]
            .into_iter()
            .chain(spec.iter().map(String::as_str))
            .collect();
        let _ = self.iptables(&args);
    }

    /// Removes every fault rule.
    pub fn clear(&self) -> Result<(), NemesisError> {
        self.iptables(&["-F", CHAIN])
    }
}
