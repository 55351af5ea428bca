//! Strategies other than disco, run by the same simulator to prove that it
//! finds the bugs they are known for: `naive` (the seeds' shell glue),
//! `rqlite-style` (a leader key without TTL, overwritten unconditionally),
//! and `late-window` (a bug planted a few milliseconds wide).

pub mod late_window;
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
    /// disco over an adapter whose lease contract is a few milliseconds
    /// long ([`late_window`]): windows outlive their leases by less than a
    /// message takes under tick stepping.
    LateWindow,
}

impl Strategy {
    /// Parses `disco`, `naive` or `rqlite-style`.
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "disco" => Some(Strategy::Disco),
            "naive" => Some(Strategy::Naive),
            "rqlite-style" => Some(Strategy::RqliteStyle),
            "late-window" => Some(Strategy::LateWindow),
            _ => None,
        }
    }

    /// Its name on the command line ([`Strategy::parse`] reads it back).
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Disco => "disco",
            Strategy::Naive => "naive",
            Strategy::RqliteStyle => "rqlite-style",
            Strategy::LateWindow => "late-window",
        }
    }
}

/// What a simulated node is given: who it is, its cluster's keys and TTL,
/// and where it reports.
#[derive(Debug, Clone)]
pub struct Seat {
    /// The node's name.
    pub name: String,
    /// The key prefix.
    pub prefix: String,
    /// The cluster name.
    pub cluster: String,
    /// The lease TTL.
    pub ttl: Duration,
    /// Where it publishes.
    pub board: Board,
    /// The simulated databases (the agent supervises its node's).
    pub dbs: crate::world::database::Databases,
}

impl Strategy {
    /// Runs the node of `seat` with this strategy over `registry`.
    pub async fn run<R: Registry>(self, registry: R, seat: Seat) -> turmoil::Result {
        match self {
            Strategy::Disco => crate::world::node::run(registry, seat).await,
            Strategy::LateWindow => {
                crate::world::node::run(late_window::Overstated(registry), seat).await
            }
            Strategy::Naive => {
                naive::run(registry, seat.name, seat.prefix, seat.cluster, seat.board).await
            }
            Strategy::RqliteStyle => {
                let Seat {
                    name,
                    prefix,
                    cluster,
                    ttl,
                    board,
                    ..
                } = seat;
                rqlite_style::run(registry, name, prefix, cluster, ttl, board).await
            }
        }
    }
}
