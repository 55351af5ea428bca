//! A container's network namespace, driven with iptables from the host.

use std::net::Ipv4Addr;
use std::process::Command;

use bollard::Docker;

/// The chain every fault rule goes into.
pub const CHAIN: &str = "CLUSTERLAB";

/// The chain of shaping rules (NFQUEUE), jumped to from OUTPUT after
/// [`CHAIN`]: a queued packet that is let go skips the rest of its chain,
/// so the cuts must have had their say first.
pub const SHAPE_CHAIN: &str = "CLUSTERLAB-SHAPE";

/// The chain of duplicating rules (TEE), in the mangle table.
pub const DUP_CHAIN: &str = "CLUSTERLAB-DUP";

/// A fault that could not be applied or undone.
#[derive(Debug, thiserror::Error)]
pub enum NetfaultError {
    /// Inspecting the container failed or it is not running.
    #[error("container {container}: {reason}")]
    Container {
        /// Container name or id.
        container: String,
        /// What is wrong.
        reason: String,
    },
    /// A shaping queue could not be served.
    #[error(transparent)]
    Shaper(#[from] super::shaper::ShaperError),
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
    /// Its address on the run network: what its peers see.
    pub ip: Ipv4Addr,
    /// The address the host reaches it by: [`Self::ip`] on a bridge; on
    /// an overlay (which the host is not on) its address on the bridge
    /// that links its node's tasks to the host.
    pub reach: Ipv4Addr,
}

/// Whether process `pid` of this host is in container `id`'s cgroup: its
/// cgroup path names the container, whatever the cgroup version or driver.
fn runs_here(pid: i64, id: &str) -> bool {
    !id.is_empty()
        && std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(id))
}

impl Node {
    /// Looks up `container`'s PID and its address on `network` (and on
    /// `host_side`, when the host is not on `network`). The fault chains
    /// are not installed: see [`Node::install`].
    pub async fn of(
        docker: &Docker,
        name: &str,
        container: &str,
        network: &str,
        host_side: Option<&str>,
    ) -> Result<Node, NetfaultError> {
        let err = |reason: String| NetfaultError::Container {
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
        // The pid is the daemon's: on another host (a remote DOCKER_HOST, a
        // swarm task elsewhere, a daemon in a container) it names some
        // other process here, whose namespace the faults must never touch.
        let id = info.id.clone().unwrap_or_default();
        if !runs_here(pid, &id) {
            return Err(err(format!(
                "its process (pid {pid} to its Docker daemon) is not a process of this host; \
                 the nemesis sets faults in a container's namespace from the host it runs on, \
                 so run clusterlab on the Docker host that runs the container (on Swarm: the \
                 node its task was placed on)"
            )));
        }
        let ip = info
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|n| n.get(network).and_then(|e| e.ip_address.clone()))
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| err(format!("no address on network {network}")))?;
        let reach = match host_side {
            None => ip,
            Some(bridge) => docker
                .inspect_network(bridge, None)
                .await
                .map_err(|e| err(e.to_string()))?
                .containers
                .and_then(|c| c.get(&id).and_then(|e| e.ipv4_address.clone()))
                .and_then(|a| a.split('/').next()?.parse().ok())
                .ok_or_else(|| err(format!("no address on network {bridge}")))?,
        };
        Ok(Node {
            name: name.to_string(),
            pid,
            ip,
            reach,
        })
    }

    /// Runs `iptables -w <args>` in this node's network namespace.
    pub fn iptables(&self, args: &[&str]) -> Result<(), NetfaultError> {
        self.inside(&["iptables", "-w"], args).map(drop)
    }

    /// Runs `cmd args` in this node's network namespace; its stdout.
    fn inside(&self, cmd: &[&str], args: &[&str]) -> Result<String, NetfaultError> {
        let out = Command::new("nsenter")
            .args(["-t", &self.pid.to_string(), "-n"])
            .args(cmd)
            .args(args)
            .output();
        let fail = |reason: String| NetfaultError::Iptables {
            node: self.name.clone(),
            args: args.join(" "),
            reason,
        };
        match out {
            Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
            Ok(o) => Err(fail(String::from_utf8_lossy(&o.stderr).trim().to_string())),
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// What the lab's faults left in this namespace: every rule still in
    /// its chains (as `iptables -S` prints it) and every netfilter queue a
    /// process bound in it. With no fault in force on the node, an undo
    /// must have left nothing: rules left behind outlive the experiment.
    pub fn leftovers(&self) -> Result<Vec<String>, NetfaultError> {
        let mut left = Vec::new();
        for (table, chain) in [
            ("filter", CHAIN),
            ("filter", SHAPE_CHAIN),
            ("mangle", DUP_CHAIN),
        ] {
            let rules = self.inside(&["iptables", "-w"], &["-t", table, "-S", chain])?;
            left.extend(
                rules
                    .lines()
                    .filter(|l| l.starts_with("-A "))
                    .map(|l| format!("{table}: {l}")),
            );
        }
        // /proc/net is the reader's namespace: read from inside. No file:
        // no queue module loaded, so no queue.
        if let Ok(queues) = self.inside(&["cat"], &["/proc/net/netfilter/nfnetlink_queue"]) {
            left.extend(
                queues
                    .lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .map(|q| format!("netfilter queue {q} still bound")),
            );
        }
        Ok(left)
    }

    /// The path of its network namespace.
    pub fn netns(&self) -> std::path::PathBuf {
        format!("/proc/{}/ns/net", self.pid).into()
    }

    /// Creates the chains and the jumps to them (idempotent, but some ten
    /// `nsenter iptables` runs: done once per namespace, see
    /// `world::addrs`).
    pub fn install(&self) -> Result<(), NetfaultError> {
        for (table, chain) in [
            ("filter", CHAIN),
            ("filter", SHAPE_CHAIN),
            ("mangle", DUP_CHAIN),
        ] {
            let _ = self.iptables(&["-t", table, "-N", chain]); // exists already: fine
        }
        for hook in ["INPUT", "OUTPUT"] {
            if self.iptables(&["-C", hook, "-j", CHAIN]).is_err() {
                self.iptables(&["-I", hook, "1", "-j", CHAIN])?;
            }
        }
        for (table, chain) in [("filter", SHAPE_CHAIN), ("mangle", DUP_CHAIN)] {
            if self
                .iptables(&["-t", table, "-C", "OUTPUT", "-j", chain])
                .is_err()
            {
                self.iptables(&["-t", table, "-A", "OUTPUT", "-j", chain])?;
            }
        }
        Ok(())
    }

    fn rule(
        op: &'static str,
        table: &'static str,
        chain: &'static str,
        spec: &[String],
    ) -> Vec<String> {
        ["-t", table, op, chain]
            .into_iter()
            .map(str::to_string)
            .chain(spec.iter().cloned())
            .collect()
    }

    /// Appends the rule `spec` to the fault chain.
    pub fn append(&self, spec: &[String]) -> Result<(), NetfaultError> {
        self.append_to("filter", CHAIN, spec)
    }

    /// Appends the rule `spec` to `chain` of `table`.
    pub fn append_to(
        &self,
        table: &'static str,
        chain: &'static str,
        spec: &[String],
    ) -> Result<(), NetfaultError> {
        let args = Self::rule("-A", table, chain, spec);
        self.iptables(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Deletes one instance of the rule `spec` from the fault chain; a rule
    /// that is not there (its container restarted since) is no error.
    pub fn delete(&self, spec: &[String]) {
        self.delete_from("filter", CHAIN, spec);
    }

    /// Deletes one instance of the rule `spec` from `chain` of `table`, if
    /// it is there.
    pub fn delete_from(&self, table: &'static str, chain: &'static str, spec: &[String]) {
        let args = Self::rule("-D", table, chain, spec);
        let _ = self.iptables(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Removes every fault rule.
    pub fn clear(&self) -> Result<(), NetfaultError> {
        self.iptables(&["-F", CHAIN])?;
        self.iptables(&["-F", SHAPE_CHAIN])?;
        self.iptables(&["-t", "mangle", "-F", DUP_CHAIN])
    }
}

#[cfg(test)]
mod tests {
    use super::runs_here;

    #[test]
    fn a_process_is_here_only_in_the_container_its_cgroup_names() {
        let me = i64::from(std::process::id());
        assert!(!runs_here(me, "not-a-container-of-this-process"));
        assert!(!runs_here(me, ""), "no id names no container");
        assert!(!runs_here(i64::from(i32::MAX), "x"), "no such process");
        // This process's own cgroup (a container's, on a CI runner) is here.
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        if let Some(leaf) = own
            .lines()
            .filter_map(|l| l.rsplit('/').next())
            .find(|s| s.len() >= 12)
        {
            assert!(runs_here(me, leaf));
        }
    }
}
