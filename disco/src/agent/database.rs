//! The database an agent supervises, as the agent sees it: something it
//! starts with a join plan, stops, and waits for, and a probe that says
//! whether it leads and whether it is ready. `disco-agent` runs a real
//! process behind HTTP probes; the simulator runs a model whose leadership
//! and readiness its nemesis moves.

use std::future::Future;

use crate::node::JoinPlan;

/// Why the database could not be prepared or started.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DatabaseError(pub String);

/// The database process (or its model).
pub trait Database: Send + 'static {
    /// Its probe, which the agent's tasks share.
    type Probe: Probe;

    /// A probe of this database.
    fn probe(&self) -> Self::Probe;

    /// Adjusts the plan before the database starts (etcd: add itself as a
    /// learner through a peer, and take etcd's own member list). Nothing by
    /// default.
    fn prepare(
        &mut self,
        _plan: &mut JoinPlan,
    ) -> impl Future<Output = Result<(), DatabaseError>> + Send {
        async { Ok(()) }
    }

    /// Starts it with `plan`; returns once it has started (not once it is
    /// ready).
    fn start(&mut self, plan: &JoinPlan) -> impl Future<Output = Result<(), DatabaseError>> + Send;

    /// Asks it to stop (SIGTERM, or the signal the agent received); it
    /// exits in its own time, through [`Database::exited`].
    fn stop(&mut self);

    /// Resolves when it has exited, with its exit code; may be polled again
    /// after a cancelled wait.
    fn exited(&mut self) -> impl Future<Output = i32> + Send;
}

/// Asks the running database about itself.
pub trait Probe: Clone + Send + Sync + 'static {
    /// Whether it says it leads (its replication's primary, its Raft
    /// leader).
    fn leads(&self) -> impl Future<Output = bool> + Send;

    /// Whether it is ready to be joined (a bootstrap commits then).
    fn ready(&self) -> impl Future<Output = bool> + Send;
}
