//! Regression benchmarks of joining and failover, with the seed-style glue
//! measured beside disco in the same run as the yardstick.
//!
//! The benches (`benches/*.rs`, criterion) time real etcd 3.5 and Consul 1.8
//! processes on loopback; `ci/bench-compare` runs the fast ones and
//! [`gate`] compares their medians with `benches/baseline.json`.

pub use clusterlab_servers as servers;

pub mod failover;
pub mod gate;
pub mod join;
pub mod naive;
pub mod process;
pub mod sim_join;

use std::time::Duration;

use disco::keys::Keys;

/// Which real store a bench runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// etcd 3.5 (v3 API, leases).
    Etcd,
    /// Consul 1.8 (sessions).
    Consul,
}

impl Backend {
    /// Both, in report order.
    pub const ALL: [Backend; 2] = [Backend::Etcd, Backend::Consul];

    /// `etcd` or `consul`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Etcd => "etcd",
            Backend::Consul => "consul",
        }
    }

    /// The smallest lease the store grants: etcd rounds up to 2 s, Consul
    /// refuses sessions under 10 s.
    pub fn min_ttl(self) -> Duration {
        match self {
            Backend::Etcd => Duration::from_secs(2),
            Backend::Consul => Duration::from_secs(10),
        }
    }
}

/// Starts a fresh server of `backend` on loopback.
pub async fn server(backend: Backend) -> servers::Server {
    match backend {
        Backend::Etcd => servers::Server::etcd().await,
        Backend::Consul => servers::Server::consul().await,
    }
}

/// The key prefix every bench cluster lives under; each bench names its
/// own cluster so that runs never see each other.
pub const PREFIX: &str = "bench";

/// The keys of bench cluster `cluster`.
pub fn keys(cluster: &str) -> Keys {
    Keys::new(PREFIX, cluster)
}
