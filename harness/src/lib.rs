//! The container world: runs `disco` against real etcd, Consul and Patroni
//! clusters in Docker, injects faults and checks convergence and data safety.
//!
//! Not built yet; the `disco` crate's `Registry` trait is the boundary this
//! crate will drive.
