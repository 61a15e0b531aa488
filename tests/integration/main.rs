//! All integration tests, compiled as one binary.

mod common;
mod monitors;
mod properties;
mod seed;
