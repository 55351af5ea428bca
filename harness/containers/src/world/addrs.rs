//! Where each container of the run can be reached from the host, and its
//! namespace for the nemesis. Looked up again after a restart, since Docker
//! may give a restarted container a new address and always a new PID.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use crate::netfault::{NetfaultError, Node};
use crate::run::Run;

/// Addresses by node name.
#[derive(Debug, Clone, Default)]
pub struct Addrs {
    nodes: Arc<Mutex<BTreeMap<String, Node>>>,
    /// Node names by container name (a system that names its members by
    /// hostname names them by container).
    containers: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Addrs {
    /// Looks up `name` (a running container of `run`) and remembers it;
    /// installs the fault chains in its namespace the first time it is
    /// seen (a restart's new PID is a new namespace).
    pub async fn refresh(&self, run: &Run, name: &str) -> Result<Node, NetfaultError> {
        let container = run.container(name);
        let node = Node::of(
            run.docker(),
            name,
            &run.target(name).await,
            run.network(),
            run.host_side(),
        )
        .await?;
        let known = self.node(name).is_some_and(|n| n.pid == node.pid);
        if !known {
            node.install()?;
        }
        self.containers
            .lock()
            .expect("addrs lock")
            .insert(container, name.to_string());
        self.nodes
            .lock()
            .expect("addrs lock")
            .insert(name.to_string(), node.clone());
        Ok(node)
    }

    /// The last known address the host reaches `name` by.
    pub fn ip(&self, name: &str) -> Option<Ipv4Addr> {
        self.nodes
            .lock()
            .expect("addrs lock")
            .get(name)
            .map(|n| n.reach)
    }

    /// The last known address of `name` on the run network, as its peers
    /// see it (what the fault rules name).
    pub fn peer_ip(&self, name: &str) -> Option<Ipv4Addr> {
        self.nodes
            .lock()
            .expect("addrs lock")
            .get(name)
            .map(|n| n.ip)
    }

    /// The node `member` names: `member` itself, or the node whose
    /// container it is.
    pub fn node_name(&self, member: &str) -> String {
        self.containers
            .lock()
            .expect("addrs lock")
            .get(member)
            .cloned()
            .unwrap_or_else(|| member.to_string())
    }

    /// Every node and store node looked up so far.
    pub fn names(&self) -> Vec<String> {
        self.nodes
            .lock()
            .expect("addrs lock")
            .keys()
            .cloned()
            .collect()
    }

    /// The last known namespace handle of `name`.
    pub fn node(&self, name: &str) -> Option<Node> {
        self.nodes.lock().expect("addrs lock").get(name).cloned()
    }
}
