//! What an agent tells the world around it as it happens: the phase it is
//! in, its leadership, its member view, its bootstrap claim and commit,
//! and whether its database runs. `disco-agent` turns these into its
//! journal, its status endpoint and its peers file; the simulator into its
//! board. Every method defaults to nothing.

use crate::leader::Leadership;
use crate::node::JoinPlan;
use crate::peers::Membership;

/// Where an agent is, from start to stop. Each phase that waits has its
/// own deadline (`AgentConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Announcing itself (up to the start-up timeout).
    Registering,
    /// Deciding bootstrap or join (a pending claim: up to the join timeout).
    Deciding,
    /// Waiting for someone to join, and preparing the database (up to the
    /// join timeout).
    Joining,
    /// Its database runs, not yet ready to be joined (a bootstrapper: up
    /// to the ready timeout).
    WaitingReady,
    /// Its database runs.
    Running,
    /// Asked to stop, or its database exited: resigning and deregistering.
    Stopping,
    /// Done.
    Stopped,
}

impl Phase {
    /// The phase's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Registering => "registering",
            Phase::Deciding => "deciding",
            Phase::Joining => "joining",
            Phase::WaitingReady => "waiting-ready",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
        }
    }
}

/// The agent's observers.
pub trait Report: Send + Sync + 'static {
    /// It entered `phase`.
    fn phase(&self, _phase: Phase) {}

    /// Its leadership changed (or was renewed).
    fn leadership(&self, _leadership: &Leadership) {}

    /// Its view of the members changed.
    fn members(&self, _members: &Membership) {}

    /// It decided its role and resolved whom to join.
    fn plan(&self, _plan: &JoinPlan) {}

    /// It won the bootstrap claim: its database starts a new cluster.
    fn claimed(&self) {}

    /// Its bootstrap is committed: the cluster exists for good.
    fn bootstrapped(&self) {}

    /// Its database started (`true`) or exited (`false`).
    fn database(&self, _running: bool) {}
}

/// Reports to nobody.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nobody;

impl Report for Nobody {}
