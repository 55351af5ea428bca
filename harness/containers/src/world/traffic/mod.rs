//! The traffic a scenario drives at its cluster while faults happen
//! (etcd's robustness suite calls it traffic, Jepsen a client): writes
//! read back at the end, a register and a set whose histories are judged,
//! and messages published and counted. Each is started after the nodes and
//! stopped before the verdict; [`ops`] records every call as an operation.

pub mod messages;
pub mod ops;
pub mod register;
pub mod set;
pub mod writes;
