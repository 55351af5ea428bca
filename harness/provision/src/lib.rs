//! What a secured store needs before it starts: an authority and the
//! certificates it signs ([`pki`], with etcd's RBAC), Consul's secured
//! configuration and per-cluster ACL tokens ([`acl`]), and where the
//! store's server binaries are cached ([`cache`]).
//!
//! The lab's container runs use it as much as the tests do, so it is its
//! own crate: the product depends on it, never on the test servers
//! (`clusterlab-servers`, which re-exports it).

pub mod acl;
pub mod cache;
pub mod pki;
