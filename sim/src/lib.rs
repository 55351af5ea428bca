//! The simulated world: runs the unchanged `disco` logic under turmoil's
//! deterministic network, seeded, replayable and shrinkable.
//!
//! Not built yet; the `disco` crate's `Registry` trait is the boundary this
//! crate will drive.
