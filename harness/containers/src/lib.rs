//! The container world: runs `disco` against real etcd, Consul and Patroni
//! clusters in Docker, injects faults and observes the cluster, with the
//! fault engine, the checks and the reports of `clusterlab-core`.
//!
//! [`world`] runs one scenario in containers; [`image`] builds the images it
//! needs offline; [`run`] owns a run's Docker resources; [`netfault`] turns
//! the engine's network effects into iptables rules (the mechanism the
//! world's nemesis, [`world::nemesis`], drives); [`docker`] reaches
//! the daemon.

pub mod docker;
pub mod image;
pub mod netfault;
pub mod run;
pub mod world;
