//! Consul, modelled: KV and sessions ([`model`]), the slice of Consul's
//! HTTP API disco uses over them ([`server`]), and the HTTP client that
//! lets disco's unchanged Consul backend reach it through turmoil
//! ([`client`]).

pub mod client;
pub mod model;
pub mod server;
