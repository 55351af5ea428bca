//! Strategies other than disco, run by the same simulator to prove that it
//! finds the bugs they are known for: `naive` (the seeds' shell glue) and
//! `rqlite-style` (a leader key without TTL, overwritten unconditionally).

pub mod naive;
pub mod rqlite_style;

use std::time::Duration;

use disco::Registry;

use crate::world::board::Board;

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

impl Strategy {
    /// Runs node `name` with this strategy over `registry`.
    pub async fn run<R: Registry>(
        self,
        registry: R,
        name: String,
        prefix: String,
        cluster: String,
        ttl: Duration,
        board: Board,
    ) -> turmoil::Result {
        match self {
            Strategy::Disco => {
                crate::world::node::run(registry, name, prefix, cluster, ttl, board).await
            }
            Strategy::Naive => naive::run(registry, name, prefix, cluster, board).await,
            Strategy::RqliteStyle => {
                rqlite_style::run(registry, name, prefix, cluster, ttl, board).await
            }
        }
    }
}
