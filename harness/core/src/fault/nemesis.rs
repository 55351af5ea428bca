//! What a world supplies to the fault engine: the mechanism ([`Nemesis`])
//! and the one-instant operations on the store and the databases.

use std::future::Future;
use std::time::Duration;

use super::Atom;

/// A world's fault mechanism. Futures may complete at once (the simulator
/// acts on its network directly) or talk to Docker (containers).
pub trait Nemesis {
    /// Why an effect could not be applied or undone.
    type Error;

    /// The node that leads now, if the world knows one.
    fn leader(&mut self) -> impl Future<Output = Option<String>>;

    /// The discovery store node that leads now.
    fn store_leader(&mut self) -> impl Future<Output = Option<String>>;

    /// Puts `atom` in effect.
    fn apply(&mut self, atom: &Atom) -> impl Future<Output = Result<(), Self::Error>>;

    /// Takes `atom` out of effect.
    fn undo(&mut self, atom: &Atom) -> impl Future<Output = Result<(), Self::Error>>;

    /// Kills `node` and starts it again with its data, at once.
    fn bounce(&mut self, node: &str) -> impl Future<Output = Result<(), Self::Error>>;

    /// Does `op` to the discovery store from outside, at once.
    fn store(&mut self, op: &StoreOp) -> impl Future<Output = Result<(), Self::Error>>;

    /// Does `op` to a node's database, at once.
    fn database(&mut self, op: &DbOp) -> impl Future<Output = Result<(), Self::Error>>;
}

/// Something a node's database does on its own, at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbOp {
    /// Its cluster's leadership moves to this node.
    LeaderTo(String),
    /// This node's database crashes.
    Crash(String),
    /// This node's task moves: it starts again with none of its data.
    Reschedule(String),
}

/// Something done to the discovery store from outside, at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Delete the leader key.
    DeleteLeaderKey,
    /// Delete the bootstrap key.
    DeleteBootstrapKey,
    /// Delete this node's member key.
    DeleteMemberKey(String),
    /// Revoke the lease (destroy the session) this node's member key is on.
    RevokeLease(String),
    /// Cancel every watch (etcd).
    CancelWatches,
    /// Move the store's lease clock forward.
    ClockJump(Duration),
}
