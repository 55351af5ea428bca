//! The two real stores behind [`crate::Registry`].

pub mod consul;
pub mod etcd;

pub use consul::ConsulRegistry;
pub use etcd::EtcdRegistry;
