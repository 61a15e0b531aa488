//! The sink interface between monitors and storage. Monitors hand every chunk to a sink in
//! a fixed lifecycle: `begin_chunk`, then `state` / `spikes` for each recorded step in step
//! order, then `end_chunk` (which says whether the chunk is kept), and `end_set` when
//! `get_recordings_and_clear` ends a set. [`super::MemorySink`] keeps recordings in memory;
//! a streaming archive writer is a second implementation of the same trait.

use crate::sim::Population;
use crate::times::ChunkTimes;

/// An error raised by a sink (e.g. an I/O error of an archive writer).
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a monitored projection records: its populations, target and synapses.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionShape {
    /// Pre population.
    pub pre: String,
    /// Post population.
    pub post: String,
    /// Target (`exc` for `g_exc`).
    pub target: String,
    /// `(post, pre)` of each recorded synapse (ranks in the post and pre populations), in
    /// the order of the recorded values: by post, then pre.
    pub synapses: std::sync::Arc<[(u32, u32)]>,
}

/// What is monitored of one compartment, known when a chunk begins.
#[derive(Debug, Clone, PartialEq)]
pub struct CompartmentInfo {
    /// Compartment (population or projection) name.
    pub name: String,
    /// Number of neurons (of a projection: synapses), the values of each sample.
    pub size: usize,
    /// Sampling period of state variables in steps.
    pub period_steps: i64,
    /// Sampling period in ms.
    pub period_ms: f64,
    /// Recorded state variables, in the order the monitor dictionary lists them.
    pub variables: Vec<String>,
    /// Whether spikes are recorded.
    pub spikes: bool,
    /// For a projection: what its values are of (`None` for a population).
    pub projection: Option<ProjectionShape>,
}

/// Where a chunk sits, given to [`Sink::begin_chunk`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkStart<'a> {
    /// Index of the set (one per `get_recordings_and_clear`), from 0.
    pub set: u32,
    /// Index of the chunk within its set, from 0 (a dropped chunk's index is reused).
    pub chunk: u32,
    /// First simulated step of the chunk.
    pub first_step: i64,
    /// Time step in ms.
    pub dt_ms: f64,
    /// Every monitored compartment, in monitor order (indices used by the record calls).
    pub compartments: &'a [CompartmentInfo],
}

/// How a chunk ended, given to [`Sink::end_chunk`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkEnd<'a> {
    pub set: u32,
    pub chunk: u32,
    /// Whether the chunk is kept (some compartment recorded a sample or had a spike period).
    /// A sink discards what it holds of a chunk that is not kept.
    pub keep: bool,
    /// The chunk's period tables and simulated step range.
    pub times: &'a ChunkTimes,
    /// Parameter values of each compartment when the chunk ended, in monitor order.
    pub parameters: &'a [Vec<(String, Vec<f64>)>],
}

/// One recorded sample of a compartment's state variables, borrowed from the population
/// (or, for a projection, from the monitor's buffers in recording order).
#[derive(Debug, Clone, Copy)]
pub struct StateSample<'a> {
    /// The step the sample is labelled with.
    pub step: i64,
    /// Index of the recording period within the chunk.
    pub period: u32,
    source: SampleSource<'a>,
}

#[derive(Debug, Clone, Copy)]
enum SampleSource<'a> {
    Population {
        population: &'a Population,
        variables: &'a [usize],
    },
    Values(&'a [Vec<f64>]),
}

impl<'a> StateSample<'a> {
    pub(crate) fn new(
        step: i64,
        period: u32,
        population: &'a Population,
        variables: &'a [usize],
    ) -> Self {
        Self {
            step,
            period,
            source: SampleSource::Population {
                population,
                variables,
            },
        }
    }

    /// A sample of given values, one vector per recorded variable (a projection's synapses
    /// in recording order).
    pub fn from_values(step: i64, period: u32, values: &'a [Vec<f64>]) -> Self {
        Self {
            step,
            period,
            source: SampleSource::Values(values),
        }
    }

    /// Number of recorded variables.
    pub fn len(&self) -> usize {
        match self.source {
            SampleSource::Population { variables, .. } => variables.len(),
            SampleSource::Values(v) => v.len(),
        }
    }

    /// Whether no variable is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values of the `j`-th recorded variable, one per neuron (or synapse).
    pub fn values(&self, j: usize) -> &'a [f64] {
        match self.source {
            SampleSource::Population {
                population,
                variables,
            } => population.recorded_by_index(variables[j]),
            SampleSource::Values(v) => &v[j],
        }
    }
}

/// Receives what monitors record. `compartment` arguments index
/// [`ChunkStart::compartments`].
pub trait Sink {
    /// What the sink leaves when recording is over ([`Sink::finish`]).
    type Output;
    /// A chunk begins; record calls for it follow.
    fn begin_chunk(&mut self, start: &ChunkStart<'_>) -> Result<(), SinkError>;
    /// One sample of the state variables of a compartment.
    fn state(&mut self, compartment: usize, sample: StateSample<'_>) -> Result<(), SinkError>;
    /// The neurons (ascending) of a compartment that spiked at `step`.
    fn spikes(
        &mut self,
        compartment: usize,
        step: i64,
        period: u32,
        neurons: &[u32],
    ) -> Result<(), SinkError>;
    /// The chunk ends; `end.keep` says whether it is kept.
    fn end_chunk(&mut self, end: &ChunkEnd<'_>) -> Result<(), SinkError>;
    /// A hint that up to `samples` more state samples of a compartment follow (sent before a
    /// `simulate`), so a sink can allocate once.
    fn reserve(&mut self, _compartment: usize, _samples: usize) {}
    /// A set ends (after its last chunk).
    fn end_set(&mut self, _set: u32) -> Result<(), SinkError> {
        Ok(())
    }
    /// Recording is over (after the last set ended): completes what the sink writes and
    /// returns what it leaves. Called by [`super::Monitors::finish`].
    fn finish(self) -> Result<Self::Output, SinkError>
    where
        Self: Sized;
}

/// A sink that stores nothing (monitors still keep the recording times).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl Sink for NullSink {
    type Output = ();
    fn finish(self) -> Result<(), SinkError> {
        Ok(())
    }
    fn begin_chunk(&mut self, _: &ChunkStart<'_>) -> Result<(), SinkError> {
        Ok(())
    }
    fn state(&mut self, _: usize, _: StateSample<'_>) -> Result<(), SinkError> {
        Ok(())
    }
    fn spikes(&mut self, _: usize, _: i64, _: u32, _: &[u32]) -> Result<(), SinkError> {
        Ok(())
    }
    fn end_chunk(&mut self, _: &ChunkEnd<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Two sinks fed the same stream (e.g. memory and an archive).
impl<A: Sink, B: Sink> Sink for (A, B) {
    type Output = (A::Output, B::Output);
    fn finish(self) -> Result<Self::Output, SinkError> {
        Ok((self.0.finish()?, self.1.finish()?))
    }
    fn begin_chunk(&mut self, start: &ChunkStart<'_>) -> Result<(), SinkError> {
        self.0.begin_chunk(start)?;
        self.1.begin_chunk(start)
    }
    fn state(&mut self, compartment: usize, sample: StateSample<'_>) -> Result<(), SinkError> {
        self.0.state(compartment, sample)?;
        self.1.state(compartment, sample)
    }
    fn spikes(
        &mut self,
        compartment: usize,
        step: i64,
        period: u32,
        neurons: &[u32],
    ) -> Result<(), SinkError> {
        self.0.spikes(compartment, step, period, neurons)?;
        self.1.spikes(compartment, step, period, neurons)
    }
    fn end_chunk(&mut self, end: &ChunkEnd<'_>) -> Result<(), SinkError> {
        self.0.end_chunk(end)?;
        self.1.end_chunk(end)
    }
    fn reserve(&mut self, compartment: usize, samples: usize) {
        self.0.reserve(compartment, samples);
        self.1.reserve(compartment, samples);
    }
    fn end_set(&mut self, set: u32) -> Result<(), SinkError> {
        self.0.end_set(set)?;
        self.1.end_set(set)
    }
}
