//! The simulated world: the unchanged `disco` logic under turmoil's
//! deterministic network, seeded, replayable and shrinkable.
//!
//! [`etcd`] and [`consul`] are models of the stores' semantics served
//! through their own APIs (etcd's gRPC, the slice of Consul's HTTP API
//! disco uses), so that disco's real backends talk to them unchanged; the
//! differential tests (`tests/differential.rs`) hold them to the real
//! stores. [`world`] runs a scenario's nodes against them with the shared
//! fault engine and checks of `clusterlab-core`; [`schedule`] generates and
//! shrinks fault schedules; [`baseline`] holds the glue the simulator must
//! catch.

pub mod baseline;
pub mod chaos;
pub mod clock;
pub mod consul;
pub mod etcd;
pub mod schedule;
pub mod world;
