//! Images the project builds itself, offline: no registry is reachable, so
//! every image comes from binaries already on this machine.
//!
//! A [`Recipe`] lists host files to copy into a `FROM scratch` image
//! (binaries plus the shared libraries `ldd` says they need). The tag is a
//! hash of every input's path and content, so an unchanged image is never
//! rebuilt and a changed binary always is.

pub mod build;
pub mod recipe;
pub mod setup;
pub mod stock;

pub use build::{ensure, Built, ImageError};
pub use recipe::{Inputs, Recipe};
