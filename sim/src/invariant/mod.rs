//! The invariants checked on every simulated step (or at the end), one
//! small module each. A violation names the instant and the nodes.

pub mod convergence;
pub mod leader_key;
pub mod registered;
pub mod single_bootstrap;
pub mod single_leader;

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// What was seen, with the simulated time.
    pub detail: String,
}
