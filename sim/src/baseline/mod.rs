//! Strategies other than disco, run by the same simulator to prove that it
//! finds the bugs they are known for: `naive` (the seeds' shell glue) and
//! `rqlite-style` (a leader key without TTL, overwritten unconditionally).

pub mod naive;
pub mod rqlite_style;

use std::time::Duration;

use disco::backend::EtcdRegistry;

use crate::world::{net, REGISTRY};

/// Which node logic the simulated hosts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `disco`, unchanged.
    Disco,
    /// Announce with TTL 60 then sleep 45; join whoever is listed;
    /// bootstrap when the list is empty.
    Naive,
    /// disco's announce and bootstrap, but the bootstrapper writes the
    /// leader key with no lease, unconditionally.
    RqliteStyle,
}

impl Strategy {
    /// Parses `disco`, `naive` or `rqlite-style`.
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "disco" => Some(Strategy::Disco),
            "naive" => Some(Strategy::Naive),
            "rqlite-style" => Some(Strategy::RqliteStyle),
            _ => None,
        }
    }
}

/// disco's etcd backend on a turmoil channel to the registry host.
pub async fn registry() -> Result<EtcdRegistry, disco::RegistryError> {
    Ok(EtcdRegistry::from_channel(
        etcd_client::Channel::Tonic(net::channel(REGISTRY, 2379)),
        REGISTRY,
    )
    .await?
    .with_timeout(Duration::from_secs(1)))
}
