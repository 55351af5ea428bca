//! The lab's core, the same for every world: what a run records
//! ([`trace`]), what a world observes ([`view`]) and remembers
//! ([`tracker`]), the fault engine ([`fault`]) a world drives through the
//! narrow [`fault::Nemesis`] trait, the checks ([`check`]) and the
//! [`referee`] that applies them to what a world sees, a run's verdict
//! ([`outcome`]) and its reports ([`report`]).
//!
//! It knows no world: the container world (`clusterlab-containers`) and the
//! simulator (`clusterlab-sim`) depend on it, never the other way round,
//! and neither knows the other.

pub mod check;
pub mod driver;
pub mod fault;
pub mod history;
pub mod outcome;
pub mod referee;
pub mod report;
pub mod terms;
pub mod trace;
pub mod tracker;
pub mod view;

pub use outcome::{CheckResult, Outcome};
