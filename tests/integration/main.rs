//! All integration tests, compiled as one binary.

#![allow(clippy::unwrap_used)]

#[cfg(feature = "analysis")]
mod analysis;
mod archive;
mod cli;
mod common;
mod crash;
mod library;
mod model_runs;
mod models;
mod monitors;
mod networks;
mod notebooks;
mod plot;
mod properties;
mod run;
mod seed;
mod trust;
