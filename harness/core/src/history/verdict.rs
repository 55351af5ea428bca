//! Both checkers over one history: the register keys' linearizability and
//! the sets' anomalies, counted once, for the run's check events and for
//! `clusterlab check` alike.

use super::linearizable::{self, Anomaly, Budget, Verdict};
use super::set::{self, SetReport};
use super::Op;

/// What the checkers say of a history.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// Each register key's verdict, keys in order.
    pub registers: Vec<(String, Verdict)>,
    /// Each set's report.
    pub sets: Vec<SetReport>,
}

impl Judgement {
    /// Runs both checkers over `ops`.
    pub fn of(ops: &[Op], budget: Budget) -> Judgement {
        Judgement {
            registers: linearizable::check(ops, budget),
            sets: set::check(ops),
        }
    }

    /// The register anomalies, keys in order.
    pub fn anomalies(&self) -> impl Iterator<Item = &Anomaly> {
        self.registers.iter().filter_map(|(_, v)| match v {
            Verdict::NotLinearizable(a) => Some(a),
            _ => None,
        })
    }

    /// Why each undecided key is undecided.
    pub fn undecided(&self) -> impl Iterator<Item = &String> {
        self.registers.iter().filter_map(|(_, v)| match v {
            Verdict::Unknown { reason } => Some(reason),
            _ => None,
        })
    }

    /// The sets with an anomaly.
    pub fn bad_sets(&self) -> impl Iterator<Item = &SetReport> {
        self.sets.iter().filter(|r| !r.valid())
    }
}
