//! The two real stores behind [`crate::Registry`], and the HTTP boundary the
//! Consul one sends through.

pub mod consul;
pub mod credentials;
pub mod etcd;
pub mod http;
pub mod tls;

pub use consul::ConsulRegistry;
pub use credentials::Credentials;
pub use etcd::EtcdRegistry;
