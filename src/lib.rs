//! neurorec: simulate spiking neuron populations, record them with monitors that start,
//! pause and reset into chunks and periods, and rebuild recording times from what was
//! recorded.
//!
//! Data flows through the modules in this order:
//! - [`sim`]: the simulator ([`Network`], [`Population`], [`NeuronModel`]).
//! - [`monitor`]: [`Monitors`] (CompNeuroMonitors) feeding a [`Sink`]; [`MemorySink`] keeps
//!   recordings in memory as ndarray arrays.
//! - [`times`]: [`RecordingTimes`], the period tables of every chunk and what is computed
//!   from them.

pub mod alloc;
pub mod sim;

pub use sim::{
    KernelKind, Network, NeuronModel, ParamValue, Population, PopulationSpec, SimError, TimeGrid,
};
pub mod monitor;
pub mod report;
pub mod schedule;
pub mod times;

pub use monitor::{
    ChunkRecordings, CompartmentRecording, MemorySink, MonitorError, MonitorSpec, Monitors,
    NullSink, ResetOptions, Sink,
};
pub use times::{CombineMode, Fill, RecordingTimes, TimesError};
pub mod analysis;
pub mod archive;
pub mod cli;
pub mod pipeline;
pub mod plot;

pub use archive::{Archive, ArchiveError, ArchiveOptions, ArchiveWriter};
