//! disco: service discovery and leader compare-and-set for clustered
//! databases, over etcd or Consul.
//!
//! The pieces, each in its own module and each written against the
//! [`Registry`] trait only (and tokio's clock), so that the `sim` crate can
//! run them unchanged under a deterministic network:
//!
//! - [`announce`]: keep this node's member key alive on a lease.
//! - [`peers`]: a watch-driven, ordered view of the announced members.
//! - [`bootstrap`]: exactly one node of a cold start creates the cluster.
//! - [`leader`]: a lease-bound leader key with fencing tokens.
//! - [`node`]: the four together.
//! - [`agent`]: a node around the database it supervises: what the
//!   `disco-agent` binary runs, and the simulator too.
//! - [`render`]: the database's command line from the resolved peers.
//! - [`journal`]: the agent's leadership and bootstrap, written down as
//!   they happen for a harness to read from outside.
//!
//! Clocks: leases and leadership windows are measured with tokio's
//! `Instant` (`CLOCK_MONOTONIC` on Linux), immune to wall-clock steps, with
//! a 10% margin for rate drift against the store. That clock stops while
//! the host is suspended and the store's does not: a leader suspended past
//! its lease wakes inside its window as it measures it. Do not suspend a
//! host that may lead, and have guarded resources check
//! [`leader::fence_holds`], which holds against any pause.

pub mod agent;
pub mod announce;
pub mod backend;
pub mod backoff;
pub mod bootstrap;
pub mod error;
pub mod journal;
pub mod keys;
pub mod leader;
pub mod node;
pub mod peers;
pub mod registry;
pub mod render;
pub mod timer;

pub use error::{DiscoError, RegistryError};
pub use keys::Keys;
pub use registry::{Cas, Entry, ExpiryBounds, Lease, LeaseId, Registry, Revision, Snapshot, Watch};
