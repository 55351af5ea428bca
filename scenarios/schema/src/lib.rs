//! The scenario file format shared by clusterlab's worlds.
//!
//! A scenario says what cluster to build, which faults to inject when, what
//! load to run and what must hold afterwards. The same file runs against
//! real containers (`clusterlab run`) and under the simulator
//! (`clusterlab sim`). [`load`] returns a validated [`Scenario`] or a
//! [`ScenarioError`] with file, line, column, the offending text and a hint.

pub mod checks;
pub mod error;
pub mod load;
pub mod model;
pub mod probe;
pub mod time;
pub mod write;

pub use error::ScenarioError;
pub use load::{load, parse};
pub use model::*;
