//! The in-memory sink: recordings as ndarray `[samples, neurons]` arrays and spikes as
//! neuron -> steps, the form `get_recordings` returns (CompNeuroPy's recordings dicts).

use ndarray::Array2;

use super::sink::{ChunkEnd, ChunkStart, CompartmentInfo, Sink, SinkError, StateSample};
use crate::recordings::{ChunkRecordings, CompartmentRecording};

#[derive(Debug, Clone)]
struct Building {
    info: CompartmentInfo,
    /// Per variable, row-major `[samples * neurons]`.
    values: Vec<Vec<f64>>,
    samples: usize,
    spikes: Vec<Vec<i64>>,
}

/// Keeps every chunk in memory. Finished chunks of the current set are in order; the chunk
/// being recorded can be looked at with [`MemorySink::current`].
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    dt_ms: f64,
    finished: Vec<ChunkRecordings>,
    current: Vec<Building>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The finished chunks of the current set.
    pub fn finished(&self) -> &[ChunkRecordings] {
        &self.finished
    }

    /// Takes the finished chunks, leaving none.
    pub fn take_finished(&mut self) -> Vec<ChunkRecordings> {
        std::mem::take(&mut self.finished)
    }

    /// The chunk being recorded, as it stands, with the given parameter values.
    pub fn current(&self, parameters: &[Vec<(String, Vec<f64>)>]) -> ChunkRecordings {
        ChunkRecordings {
            dt_ms: self.dt_ms,
            compartments: self
                .current
                .iter()
                .zip(parameters)
                .map(|(b, p)| to_recording(b.clone(), p.clone()))
                .collect(),
        }
    }
}

fn to_recording(b: Building, parameters: Vec<(String, Vec<f64>)>) -> CompartmentRecording {
    let n = b.info.size;
    let samples = b.samples;
    CompartmentRecording {
        name: b.info.name,
        period_ms: b.info.period_ms,
        parameters,
        variables: b
            .info
            .variables
            .into_iter()
            .zip(b.values)
            .map(|(name, values)| {
                let arr = Array2::from_shape_vec((samples, n), values)
                    .unwrap_or_else(|_| Array2::zeros((0, n)));
                (name, arr)
            })
            .collect(),
        spikes: b.info.spikes.then_some(b.spikes),
        synapses: b.info.projection.map(|p| p.synapses.to_vec()),
    }
}

impl Sink for MemorySink {
    /// The sink itself, with the chunks of the last set not taken.
    type Output = Self;
    fn finish(self) -> Result<Self, SinkError> {
        Ok(self)
    }
    fn begin_chunk(&mut self, start: &ChunkStart<'_>) -> Result<(), SinkError> {
        self.dt_ms = start.dt_ms;
        self.current = start
            .compartments
            .iter()
            .map(|info| Building {
                values: vec![Vec::new(); info.variables.len()],
                samples: 0,
                spikes: if info.spikes {
                    vec![Vec::new(); info.size]
                } else {
                    Vec::new()
                },
                info: info.clone(),
            })
            .collect();
        Ok(())
    }

    fn state(&mut self, compartment: usize, sample: StateSample<'_>) -> Result<(), SinkError> {
        let b = &mut self.current[compartment];
        for (j, column) in b.values.iter_mut().enumerate() {
            column.extend_from_slice(sample.values(j));
        }
        b.samples += 1;
        Ok(())
    }

    fn spikes(
        &mut self,
        compartment: usize,
        step: i64,
        _period: u32,
        neurons: &[u32],
    ) -> Result<(), SinkError> {
        let b = &mut self.current[compartment];
        for &n in neurons {
            b.spikes[n as usize].push(step);
        }
        Ok(())
    }

    fn reserve(&mut self, compartment: usize, samples: usize) {
        if let Some(b) = self.current.get_mut(compartment) {
            let n = b.info.size;
            for column in &mut b.values {
                column.reserve(samples.saturating_mul(n));
            }
        }
    }

    fn end_chunk(&mut self, end: &ChunkEnd<'_>) -> Result<(), SinkError> {
        let building = std::mem::take(&mut self.current);
        if end.keep {
            self.finished.push(ChunkRecordings {
                dt_ms: self.dt_ms,
                compartments: building
                    .into_iter()
                    .zip(end.parameters)
                    .map(|(b, p)| to_recording(b, p.clone()))
                    .collect(),
            });
        }
        Ok(())
    }
}
