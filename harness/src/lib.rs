//! The container world: runs `disco` against real etcd, Consul and Patroni
//! clusters in Docker, injects faults and checks convergence and data safety.
//! Also home of the `clusterlab` command.
//!
//! [`world`] runs one scenario in containers; [`image`] builds the images it
//! needs offline; [`run`] owns a run's Docker resources; [`nemesis`] injects
//! network faults; [`catalog`] finds scenario files for the command and
//! [`report`] writes the per-run reports every world shares.

pub mod catalog;
pub mod docker;
pub mod image;
pub mod nemesis;
pub mod report;
pub mod run;
pub mod world;
