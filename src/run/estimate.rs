//! The `--dry-run` estimate: rows, bytes and memory of a run before it runs, from its
//! schedule run on a small probe network and the archive writer's own settings.

use crate::archive::ArchiveOptions;
use crate::monitor::{ChunkEnd, ChunkStart, Monitors, Sink, SinkError, StateSample};
use crate::pipeline::Pipeline;
use crate::schedule::{run_schedule, Unobserved};
use crate::sim::Connector;
use crate::sim::{Network, SimError};

use super::RunError;

/// Neurons per population of the probe network.
const PROBE: usize = 64;

/// Memory of the process besides the archive writer's buffers (code, simulation state of
/// small networks, allocator), measured on small runs.
const BASE_MEMORY: u64 = 64 << 20;

/// Expected size of one compartment's recordings.
#[derive(Debug, Clone, PartialEq)]
pub struct CompartmentEstimate {
    pub name: String,
    pub state_rows: u64,
    /// Estimated from the probe's spikes.
    pub spike_rows: u64,
    pub bytes: u64,
}

/// Expected size of a run (or of all runs of a sweep), from its schedule alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Runs estimated (all of a sweep's, or one shard's share).
    pub runs: usize,
    pub compartments: Vec<CompartmentEstimate>,
    pub state_rows: u64,
    pub spike_rows: u64,
    pub bytes: u64,
    pub peak_memory: u64,
}

impl Estimate {
    /// The text `--dry-run` prints.
    pub fn text(&self) -> String {
        let mut s = if self.runs > 1 {
            format!("estimate (before running, {} runs):\n", self.runs)
        } else {
            String::from("estimate (before running):\n")
        };
        for c in &self.compartments {
            s.push_str(&format!(
                "  {}: {} state rows, ~{} spike rows, ~{:.1} MB\n",
                c.name,
                c.state_rows,
                c.spike_rows,
                c.bytes as f64 / 1e6
            ));
        }
        s.push_str(&format!(
            "  total: ~{:.1} MB on disk, ~{:.0} MB peak memory\n",
            self.bytes as f64 / 1e6,
            self.peak_memory as f64 / 1e6
        ));
        s
    }
}

/// Counts rows without storing them.
#[derive(Default)]
struct Counter {
    state: Vec<u64>,
    spikes: Vec<u64>,
}

impl Sink for Counter {
    type Output = Self;
    fn finish(self) -> Result<Self, SinkError> {
        Ok(self)
    }
    fn begin_chunk(&mut self, start: &ChunkStart<'_>) -> Result<(), SinkError> {
        self.state.resize(start.compartments.len(), 0);
        self.spikes.resize(start.compartments.len(), 0);
        Ok(())
    }
    fn state(&mut self, compartment: usize, sample: StateSample<'_>) -> Result<(), SinkError> {
        self.state[compartment] += sample.values(0).len() as u64;
        Ok(())
    }
    fn spikes(
        &mut self,
        compartment: usize,
        _: i64,
        _: u32,
        neurons: &[u32],
    ) -> Result<(), SinkError> {
        self.spikes[compartment] += neurons.len() as u64;
        Ok(())
    }
    fn end_chunk(&mut self, _: &ChunkEnd<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A network of at most [`PROBE`] neurons per population, evenly spread over the neurons
/// of `pipeline`'s populations with their parameters and initial values; with each
/// population's scale factor (full size / probe size). A monitored projection is stood in
/// for by a population of one neuron of its name, with its recorded variables, scaled by
/// its expected number of synapses (the probe has no projections: their spikes are not
/// counted).
fn probe_network(
    pipeline: &Pipeline,
    overrides: &[(String, String, f64)],
) -> Result<(Network, Vec<(String, f64)>), RunError> {
    let mut probe = Network::new(pipeline.dt_ms)?;
    let mut scale = Vec::new();
    for spec in &pipeline.specs(overrides) {
        let small = spec.probe(PROBE);
        scale.push((spec.name.clone(), spec.size as f64 / small.size as f64));
        probe.add_population(small)?;
    }
    for m in &pipeline.monitors {
        let Some(proj) = pipeline
            .projections
            .iter()
            .find(|p| p.name == m.compartment)
        else {
            continue;
        };
        let equations: Vec<String> = m.variables.iter().map(|v| format!("d{v}/dt = 0")).collect();
        let text = crate::model::NeuronText {
            equations: &equations.join("\n"),
            ..Default::default()
        };
        let model = crate::model::NeuronDef::parse(&m.compartment, &text)
            .and_then(|def| crate::model::eval::Compiled::new(&def))
            .map_err(|e| SimError::Projection {
                projection: m.compartment.clone(),
                message: format!("estimating its recordings: {e}"),
            })?;
        let stand_in = crate::sim::PopulationSpec::new(
            &m.compartment,
            1,
            crate::sim::NeuronModel::equations(model),
        );
        probe.add_population(stand_in)?;
        scale.push((m.compartment.clone(), expected_synapses(pipeline, proj)));
    }
    Ok((probe, scale))
}

/// The monitors of a pipeline as the probe network takes them: a projection's default
/// period made explicit (its stand-in is a population, whose default is dt).
fn probe_monitors(pipeline: &Pipeline) -> Vec<crate::monitor::MonitorSpec> {
    pipeline
        .monitors
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if m.period_ms.is_none() && pipeline.projections.iter().any(|p| p.name == m.compartment)
            {
                let steps = crate::monitor::PROJECTION_DEFAULT_PERIOD_STEPS;
                m.period_ms = Some(steps as f64 * pipeline.dt_ms);
            }
            m
        })
        .collect()
}

/// The expected number of synapses of a projection (exact for the deterministic
/// connectors).
fn expected_synapses(pipeline: &Pipeline, proj: &crate::sim::ProjectionSpec) -> f64 {
    let size = |name: &str, range: &Option<std::ops::Range<usize>>| {
        let all = pipeline
            .populations
            .iter()
            .find(|p| p.name == name)
            .map_or(0, |p| p.size);
        range.as_ref().map_or(all, |r| r.len()) as f64
    };
    let (pre, post) = (
        size(&proj.pre, &proj.pre_range),
        size(&proj.post, &proj.post_range),
    );
    // Random connectors leave out a neuron's connection to itself.
    let own = if proj.pre == proj.post && !proj.allow_self {
        let all = |r: &Option<std::ops::Range<usize>>| r.clone().unwrap_or(0..usize::MAX);
        let (a, b) = (all(&proj.pre_range), all(&proj.post_range));
        (a.end.min(b.end).saturating_sub(a.start.max(b.start)) as f64).min(pre.min(post))
    } else {
        0.0
    };
    match &proj.connector {
        Connector::AllToAll => pre * post - own,
        Connector::OneToOne => pre,
        Connector::FixedProbability(p) => p * (pre * post - own),
        Connector::FixedNumberPre(n) => *n as f64 * post,
        Connector::FixedNumberPost(n) => *n as f64 * pre,
        Connector::Synapses(list) => list.len() as f64,
    }
}

/// Estimates rows, bytes and memory of a run (of the sweep's run with `overrides`) by
/// running the schedule on a probe network (see [`probe_network`]) and scaling the counts
/// to the full populations; bytes and memory come from the archive writer's settings in
/// `options` ([`ArchiveOptions::expected_bytes`], [`ArchiveOptions::expected_memory`]) and
/// the network's size ([`network_bytes`]).
pub fn estimate_run(
    pipeline: &Pipeline,
    overrides: &[(String, String, f64)],
    options: &ArchiveOptions,
) -> Result<Estimate, RunError> {
    let (mut probe, scale) = probe_network(pipeline, overrides)?;
    let mut mon = Monitors::with_sink(&probe, &probe_monitors(pipeline), Counter::default())?;
    run_schedule(&mut probe, &mut mon, &pipeline.schedule, Unobserved)?;
    let counter = mon.finish(&probe)?;
    let mut out = Estimate {
        runs: 1,
        compartments: Vec::new(),
        state_rows: 0,
        spike_rows: 0,
        bytes: 0,
        peak_memory: BASE_MEMORY + network_bytes(pipeline),
    };
    for (i, m) in pipeline.monitors.iter().enumerate() {
        let factor = scale
            .iter()
            .find(|(n, _)| n == &m.compartment)
            .map_or(1.0, |s| s.1);
        let scaled =
            |counts: &[u64]| (counts.get(i).copied().unwrap_or(0) as f64 * factor).round() as u64;
        let state_rows = scaled(&counter.state);
        let spike_rows = scaled(&counter.spikes);
        let variables = m.variables.iter().filter(|v| *v != "spike").count();
        let bytes = options.expected_bytes(state_rows, variables, spike_rows);
        let size = match pipeline
            .projections
            .iter()
            .find(|p| p.name == m.compartment)
        {
            Some(proj) => expected_synapses(pipeline, proj).round() as usize,
            None => pipeline
                .populations
                .iter()
                .find(|p| p.name == m.compartment)
                .map_or(0, |p| p.size),
        };
        out.peak_memory += options.expected_memory(size, variables);
        out.state_rows += state_rows;
        out.spike_rows += spike_rows;
        out.bytes += bytes;
        out.compartments.push(CompartmentEstimate {
            name: m.compartment.clone(),
            state_rows,
            spike_rows,
            bytes,
        });
    }
    Ok(out)
}

/// Bytes of the simulation state of the pipeline's populations (every parameter twice,
/// its current and declared values, and every state variable twice, current and initial,
/// per neuron) and of its projections (the expected number of synapses, each with its post
/// neuron, weight and delay, and the variables and parameters of its synapse model, plus
/// the connectivity while it is built).
pub fn network_bytes(pipeline: &Pipeline) -> u64 {
    let neurons: u64 = pipeline
        .populations
        .iter()
        .map(|p| {
            let values = 2 * (p.model.parameters().len() + p.model.variables().len()) as u64;
            p.size as u64 * values * 8
        })
        .sum();
    let synapses: u64 = pipeline
        .projections
        .iter()
        .map(|proj| {
            let count = expected_synapses(pipeline, proj);
            let per_synapse = 4 + 8 + 4 + 24 // stored, and built (pre, post, w, delay)
                + proj.synapse.as_ref().map_or(0, |s| {
                    8 * (s.variables().len() + s.parameters.len() + 1)
                });
            (count * per_synapse as f64) as u64
        })
        .sum();
    neurons + synapses
}

/// Most runs of a sweep estimated one by one; the rest are counted as their average.
const ESTIMATED_RUNS: usize = 64;

/// Estimates a pipeline: its one run, or every run of its sweep (`shard`'s share, run
/// `jobs` at a time: memory is that of `jobs` runs side by side).
pub fn estimate(
    pipeline: &Pipeline,
    options: &ArchiveOptions,
    shard: Option<super::Shard>,
    jobs: usize,
) -> Result<Estimate, RunError> {
    if pipeline.sweep.is_empty() {
        return estimate_run(pipeline, &[], options);
    }
    let combos = pipeline.sweep_runs();
    let mine: Vec<&Vec<(String, String, f64)>> = combos
        .iter()
        .enumerate()
        .filter(|(r, _)| shard.is_none_or(|s| s.contains(*r)))
        .map(|(_, c)| c)
        .collect();
    let step = mine.len().div_ceil(ESTIMATED_RUNS).max(1);
    let sampled: Vec<Estimate> = mine
        .iter()
        .step_by(step)
        .map(|c| estimate_run(pipeline, c, options))
        .collect::<Result<_, _>>()?;
    let factor = mine.len() as f64 / sampled.len().max(1) as f64;
    let scale = |x: u64| (x as f64 * factor).round() as u64;
    let Some(mut total) = sampled.first().cloned() else {
        // A shard without runs writes nothing.
        return Ok(Estimate {
            runs: 0,
            compartments: Vec::new(),
            state_rows: 0,
            spike_rows: 0,
            bytes: 0,
            peak_memory: BASE_MEMORY,
        });
    };
    for (i, c) in total.compartments.iter_mut().enumerate() {
        let sum = |f: fn(&CompartmentEstimate) -> u64| {
            sampled.iter().map(|e| f(&e.compartments[i])).sum::<u64>()
        };
        c.state_rows = scale(sum(|c| c.state_rows));
        c.spike_rows = scale(sum(|c| c.spike_rows));
        c.bytes = scale(sum(|c| c.bytes));
    }
    total.runs = mine.len();
    total.state_rows = total.compartments.iter().map(|c| c.state_rows).sum();
    total.spike_rows = total.compartments.iter().map(|c| c.spike_rows).sum();
    total.bytes = total.compartments.iter().map(|c| c.bytes).sum();
    let one = sampled.iter().map(|e| e.peak_memory).max().unwrap_or(0);
    total.peak_memory = one * jobs.clamp(1, mine.len().max(1)) as u64;
    Ok(total)
}
