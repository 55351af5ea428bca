//! Where a cluster's state lives in the store.
//!
//! ```text
//! <prefix>/<cluster>/members/<node>   value: node's advertise address, on the node's lease
//! <prefix>/<cluster>/bootstrap        value: the claim (node, lease, committed); on the claimer's lease until committed
//! <prefix>/<cluster>/leader           value: "<node> <address>", on the leader's lease
//! ```
//!
//! Several clusters share one store under different cluster names.

/// Key layout for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    root: String,
}

impl Keys {
    /// Keys for `cluster` under `prefix` (leading/trailing slashes ignored).
    pub fn new(prefix: &str, cluster: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        let root = if prefix.is_empty() {
            format!("{cluster}/")
        } else {
            format!("{prefix}/{cluster}/")
        };
        Keys { root }
    }

    /// The prefix under which members announce themselves (ends in `/`).
    pub fn members(&self) -> String {
        format!("{}members/", self.root)
    }

    /// One member's key.
    pub fn member(&self, node: &str) -> String {
        format!("{}members/{node}", self.root)
    }

    /// The node id a member key belongs to.
    pub fn node_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.root)?.strip_prefix("members/")
    }

    /// The create-once key that records who bootstrapped the cluster.
    pub fn bootstrap(&self) -> String {
        format!("{}bootstrap", self.root)
    }

    /// The leader key.
    pub fn leader(&self) -> String {
        format!("{}leader", self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let k = Keys::new("/disco/", "pg");
        assert_eq!(k.member("n1"), "disco/pg/members/n1");
        assert_eq!(k.members(), "disco/pg/members/");
        assert_eq!(k.node_of("disco/pg/members/n1"), Some("n1"));
        assert_eq!(k.node_of("disco/other/members/n1"), None);
        assert_eq!(k.leader(), "disco/pg/leader");
        assert_eq!(Keys::new("", "c").bootstrap(), "c/bootstrap");
    }
}
