//! etcd, modelled: the semantics ([`model`]) and etcd's own gRPC API over
//! them ([`server`]).

pub mod model;
pub mod server;
