//! Regression benchmarks of join latency and failover (criterion).
//!
//! Not built yet.
