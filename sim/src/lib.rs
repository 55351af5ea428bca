//! The simulated world: runs the unchanged `disco` logic under turmoil's
//! deterministic network, seeded, replayable and shrinkable.
//!
//! Built so far: [`etcd`], a model of etcd's semantics served through
//! etcd's own gRPC API, so that `disco`'s real etcd backend talks to it
//! unchanged; the differential tests (`tests/differential.rs`) hold it to
//! real etcd. The turmoil world that runs nodes against it comes next.

pub mod baseline;
pub mod clock;
pub mod consul;
pub mod etcd;
pub mod invariant;
pub mod schedule;
pub mod world;
