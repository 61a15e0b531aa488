//! All integration tests, compiled as one binary.

#![allow(clippy::unwrap_used)]

mod common;
mod monitors;
mod properties;
mod seed;
