//! neurorec: simulate spiking neuron populations, record them with monitors that start,
//! pause and reset into chunks and periods, and rebuild recording times from what was
//! recorded.
//!
//! Modules in layers; each uses only the ones above it:
//! - [`sim`]: the simulator ([`Network`], [`Population`], [`NeuronModel`]).
//! - [`model`]: neuron models defined by equations (ANNarchy's language), parsed and checked.
//! - [`recordings`]: what was recorded, as `get_recordings` returns it ([`ChunkRecordings`]).
//! - [`times`]: [`RecordingTimes`], the period tables of every chunk and what is computed
//!   from them.
//! - [`monitor`]: [`Monitors`] (CompNeuroMonitors) feeding a [`Sink`]; [`MemorySink`] keeps
//!   recordings in memory as ndarray arrays.
//! - [`schedule`]: a script of actions and the one loop that runs it ([`schedule::run_schedule`]).
//! - [`archive`]: the Parquet archive, a [`Sink`] ([`ArchiveWriter`]) and its reader ([`Archive`]).
//! - [`report`]: text reports (the "ALL RECORDINGS INFO" block, `inspect`).
//! - [`plot`]: figures drawn from an archive.
//! - [`pipeline`]: pipeline files, validated.
//! - [`run`]: running a pipeline or a sweep into an archive, figures, the dry-run estimate.
//! - [`cli`]: the command line over [`run`], [`report`] and [`plot`].
//! - `analysis` (feature `analysis`): polars lazy scans of an archive.

pub mod alloc;
pub mod sim;

pub use sim::{
    KernelKind, Network, NeuronModel, ParamValue, Population, PopulationSpec, SimError, TimeGrid,
};
pub mod model;
pub mod monitor;
pub mod recordings;
pub mod report;
pub mod schedule;
pub mod times;

pub use monitor::{
    ChunkRecordings, CompartmentRecording, MemorySink, MonitorError, MonitorSpec, Monitors,
    NullSink, ResetOptions, Sink,
};
pub use times::{CombineMode, Fill, RecordingTimes, TimesError};
#[cfg(feature = "analysis")]
pub mod analysis;
pub mod archive;
pub mod cli;
pub mod connectivity;
pub mod pipeline;
pub mod plot;
pub mod run;

pub use archive::{Archive, ArchiveError, ArchiveOptions, ArchiveWriter};
