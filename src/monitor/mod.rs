//! Monitors (SPEC §3, CompNeuroPy's `CompNeuroMonitors`): which compartments and variables
//! are recorded, when (start / pause into *periods*), and how recordings are split into
//! *chunks* (`reset`) and *sets* (`get_recordings_and_clear`).
//!
//! [`Monitors`] keeps the period bookkeeping in integer steps and streams every sample to a
//! [`Sink`]; [`MemorySink`] is the in-memory one that `get_recordings` reads. The recording
//! times it produces are [`crate::times::RecordingTimes`].

mod memory;
mod sink;

pub use crate::recordings::{ChunkRecordings, CompartmentRecording};
pub use memory::MemorySink;
pub use sink::{
    ChunkEnd, ChunkStart, CompartmentInfo, NullSink, ProjectionShape, Sink, SinkError, StateSample,
};

use crate::sim::{py_float_repr, Network, SimError, TimeGrid};
use crate::times::{pair_samples, ChunkTimes, CompartmentTimes, RecordingTimes};

/// Errors of monitor definitions and operations.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("monitor key \"{key}\" is not of the form \"compartment\" or \"compartment;period_ms\" (e.g. \"my_pop1;2\")")]
    MalformedKey { key: String },
    #[error("unknown compartment \"{name}\" in the monitor dictionary; compartments are: {known}")]
    UnknownCompartment { name: String, known: String },
    #[error("compartment \"{name}\" is monitored twice; merge its variables into one entry")]
    DuplicateCompartment { name: String },
    #[error("compartment name \"{name}\" cannot be recorded: names must be plain identifiers (letters, digits, '_', not starting with a digit) so they are safe as directory names; rename the population")]
    UnsafeName { name: String },
    #[error("\"{compartment}\" has no variable \"{name}\"; recordable are: {known}")]
    UnknownVariable {
        compartment: String,
        name: String,
        known: String,
    },
    #[error("monitor \"{compartment}\" lists no variables; give at least one of: {known}")]
    NoVariables { compartment: String, known: String },
    #[error("period {period_ms} ms of \"{compartment}\" is not a positive multiple of dt = {dt_ms} ms; nearest valid periods: {nearest}")]
    InvalidPeriod {
        compartment: String,
        period_ms: f64,
        dt_ms: f64,
        nearest: String,
    },
    #[error("\"{name}\" is not monitored; monitored compartments are: {known}")]
    NotMonitored { name: String, known: String },
    #[error("the network moved from step {from} to step {to} outside the monitors while {recording} recorded, so those steps have no recordings (they count as a pause; recording goes on from step {to}). Advance a monitored network with Monitors::simulate, not Network::simulate")]
    Unobserved {
        from: i64,
        to: i64,
        recording: String,
    },
    #[error("the network was reset outside the monitors (the monitors last saw step {from}, it is now at step {to}); the chunk was closed at step {from} and a new one opened. Reset a monitored network with Monitors::reset, which also closes the chunk")]
    ResetOutside { from: i64, to: i64 },
    #[error("simulate_steps needs a number of steps >= 0, got {steps}")]
    NegativeSteps { steps: i64 },
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("writing recordings failed: {0}")]
    Sink(SinkError),
}

impl MonitorError {
    /// The compartment a monitor definition error is about (`None` for other errors).
    pub fn compartment(&self) -> Option<&str> {
        match self {
            MonitorError::UnknownCompartment { name, .. }
            | MonitorError::DuplicateCompartment { name }
            | MonitorError::UnsafeName { name }
            | MonitorError::NotMonitored { name, .. } => Some(name),
            MonitorError::UnknownVariable { compartment, .. }
            | MonitorError::NoVariables { compartment, .. }
            | MonitorError::InvalidPeriod { compartment, .. } => Some(compartment),
            _ => None,
        }
    }
}

/// One entry of the monitor dictionary: `"compartment[;period_ms]" -> [variables]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSpec {
    pub compartment: String,
    /// Sampling period in ms; `None` means every step (`dt`).
    pub period_ms: Option<f64>,
    pub variables: Vec<String>,
}

impl MonitorSpec {
    /// Parses a monitor dictionary key and its variables.
    pub fn parse(key: &str, variables: &[&str]) -> Result<Self, MonitorError> {
        let malformed = || MonitorError::MalformedKey {
            key: key.to_string(),
        };
        let mut parts = key.split(';');
        let compartment = parts.next().unwrap_or("").trim();
        let period = parts.next();
        if compartment.is_empty() || parts.next().is_some() {
            return Err(malformed());
        }
        let period_ms = match period {
            None => None,
            Some(p) => Some(p.trim().parse::<f64>().map_err(|_| malformed())?),
        };
        Ok(Self {
            compartment: compartment.to_string(),
            period_ms,
            variables: variables.iter().map(|v| v.to_string()).collect(),
        })
    }

    /// Parses a whole monitor dictionary, in order.
    pub fn parse_dict(entries: &[(&str, &[&str])]) -> Result<Vec<Self>, MonitorError> {
        entries.iter().map(|(k, v)| Self::parse(k, v)).collect()
    }
}

/// Whether `name` is a plain identifier (safe as a directory name).
pub fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Options of [`Monitors::reset`], as CompNeuroPy's `reset(model=..., parameters=...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetOptions {
    /// Reset the network to its initial state and time 0.
    pub model: bool,
    /// With `model`, parameters also return to their declared values.
    pub parameters: bool,
}

impl Default for ResetOptions {
    fn default() -> Self {
        Self {
            model: true,
            parameters: true,
        }
    }
}

/// The default sampling period of a projection monitor in steps, as CompNeuroPy's
/// (`1000 * dt`).
pub const PROJECTION_DEFAULT_PERIOD_STEPS: i64 = 1000;

/// What a monitor records from.
#[derive(Debug, Clone)]
enum Source {
    /// A population (its index).
    Population(usize),
    /// A projection: its index, the storage index of each synapse in recording order, and
    /// one buffer per recorded variable the values are gathered into.
    Projection {
        index: usize,
        order: std::sync::Arc<[u32]>,
        buffers: Vec<Vec<f64>>,
    },
}

#[derive(Debug, Clone)]
struct CompartmentMonitor {
    info: CompartmentInfo,
    source: Source,
    /// Indices of the recorded variables (population variables, or projection variables in
    /// [`crate::sim::Projection::variable_names`]).
    variable_indices: Vec<usize>,
    running: bool,
    /// Start step of the open pair in the current chunk.
    open: Option<i64>,
    /// Closed, non-empty pairs of the current chunk.
    pairs: Vec<(i64, i64)>,
}

impl CompartmentMonitor {
    /// The monitor of one dictionary entry, checked against the network: the compartment
    /// (a population or a projection) exists and is a plain identifier, the variables are
    /// the model's, the period is a multiple of dt.
    fn new(net: &Network, spec: &MonitorSpec) -> Result<Self, MonitorError> {
        let name = &spec.compartment;
        let population = net.population_index(name).ok();
        let projection = net.projection_index(name);
        if population.is_none() && projection.is_none() {
            let mut known = net.population_names();
            known.extend(net.projections().iter().map(|p| p.name().to_string()));
            return Err(MonitorError::UnknownCompartment {
                name: name.clone(),
                known: known.join(", "),
            });
        }
        if !is_plain_identifier(name) {
            return Err(MonitorError::UnsafeName { name: name.clone() });
        }
        let grid = net.grid();
        let default_period = if population.is_some() {
            1
        } else {
            PROJECTION_DEFAULT_PERIOD_STEPS
        };
        let period_steps = match spec.period_ms {
            None => default_period,
            Some(p) => grid
                .period_to_steps(p)
                .ok_or_else(|| invalid_period(&grid, name, p))?,
        };
        let (source, size, variables, variable_indices, spikes, shape) = match population {
            Some(population) => {
                let pop = &net.populations()[population];
                let (variables, indices, spikes) = recorded_variables(pop, spec)?;
                let source = Source::Population(population);
                (source, pop.size(), variables, indices, spikes, None)
            }
            None => {
                let index = projection.unwrap_or_default();
                let proj = &net.projections()[index];
                let (variables, indices) = projection_variables(&proj.variable_names(), spec)?;
                let (order, synapses) = proj.recording_order();
                let pops = net.populations();
                let post = &pops[proj.post_population()];
                let target = post
                    .model()
                    .variables()
                    .get(proj.target_variable())
                    .map_or("", |(n, _)| n);
                let shape = ProjectionShape {
                    pre: pops[proj.pre_population()].name().to_string(),
                    post: post.name().to_string(),
                    target: target.strip_prefix("g_").unwrap_or(target).to_string(),
                    synapses: synapses.into(),
                };
                let source = Source::Projection {
                    index,
                    order: order.into(),
                    buffers: vec![Vec::new(); indices.len()],
                };
                (source, proj.len(), variables, indices, false, Some(shape))
            }
        };
        Ok(CompartmentMonitor {
            info: CompartmentInfo {
                name: name.clone(),
                size,
                period_steps,
                period_ms: grid.step_to_ms(period_steps),
                variables,
                spikes,
                projection: shape,
            },
            source,
            variable_indices,
            running: false,
            open: None,
            pairs: Vec::new(),
        })
    }

    /// The population recorded (`None` for a projection).
    fn population(&self) -> Option<usize> {
        match self.source {
            Source::Population(p) => Some(p),
            Source::Projection { .. } => None,
        }
    }

    fn pairs_until(&self, t: i64) -> Vec<(i64, i64)> {
        let mut pairs = self.pairs.clone();
        if let Some(s0) = self.open {
            if t > s0 {
                pairs.push((s0, t));
            }
        }
        pairs
    }
}

/// The state variables a monitor entry records (names and indices, each once, in the order
/// given) and whether it records spikes.
fn recorded_variables(
    pop: &crate::sim::Population,
    spec: &MonitorSpec,
) -> Result<(Vec<String>, Vec<usize>, bool), MonitorError> {
    let model = pop.model();
    let mut known: Vec<&str> = model.variables().iter().map(|(n, _)| *n).collect();
    if model.spiking() {
        known.push("spike");
    }
    if spec.variables.is_empty() {
        return Err(MonitorError::NoVariables {
            compartment: spec.compartment.clone(),
            known: known.join(", "),
        });
    }
    let mut variables = Vec::new();
    let mut variable_indices = Vec::new();
    let mut spikes = false;
    for v in &spec.variables {
        if v == "spike" && model.spiking() {
            spikes = true;
        } else if let Some(i) = model.variable_index(v) {
            if !variable_indices.contains(&i) {
                variable_indices.push(i);
                variables.push(v.clone());
            }
        } else {
            return Err(MonitorError::UnknownVariable {
                compartment: spec.compartment.clone(),
                name: v.clone(),
                known: known.join(", "),
            });
        }
    }
    Ok((variables, variable_indices, spikes))
}

/// Checks a monitor entry of a projection whose synapse has the per-synapse variables
/// `names` (`w` first) without the projection: its name, period and variables, as
/// [`Monitors::with_sink`] would.
pub fn check_projection_monitor(
    grid: &TimeGrid,
    spec: &MonitorSpec,
    names: &[String],
) -> Result<(), MonitorError> {
    if !is_plain_identifier(&spec.compartment) {
        return Err(MonitorError::UnsafeName {
            name: spec.compartment.clone(),
        });
    }
    if let Some(p) = spec.period_ms {
        grid.period_to_steps(p)
            .ok_or_else(|| invalid_period(grid, &spec.compartment, p))?;
    }
    projection_variables(names, spec).map(|_| ())
}

/// The variables a projection monitor records (names and indices, each once, in the order
/// given) among the synapse's variables `names` (`w` first).
fn projection_variables(
    names: &[String],
    spec: &MonitorSpec,
) -> Result<(Vec<String>, Vec<usize>), MonitorError> {
    let known = || names.join(", ");
    if spec.variables.is_empty() {
        return Err(MonitorError::NoVariables {
            compartment: spec.compartment.clone(),
            known: known(),
        });
    }
    let mut variables = Vec::new();
    let mut indices = Vec::new();
    for v in &spec.variables {
        match names.iter().position(|n| n == v) {
            Some(i) if !indices.contains(&i) => {
                indices.push(i);
                variables.push(v.clone());
            }
            Some(_) => {}
            None => {
                return Err(MonitorError::UnknownVariable {
                    compartment: spec.compartment.clone(),
                    name: v.clone(),
                    known: known(),
                })
            }
        }
    }
    Ok((variables, indices))
}

/// The error for a period `p` ms of `compartment` that is not a multiple of dt, naming the
/// nearest valid periods.
fn invalid_period(grid: &TimeGrid, compartment: &str, p: f64) -> MonitorError {
    let dt = grid.dt_ms();
    let below = (p / dt).floor().max(1.0) as i64;
    let mut nearest = vec![below];
    if (p / dt).is_finite() && p > 0.0 {
        nearest.push(below + 1);
    }
    MonitorError::InvalidPeriod {
        compartment: compartment.to_string(),
        period_ms: p,
        dt_ms: dt,
        nearest: nearest
            .iter()
            .map(|s| format!("{} ms", py_float_repr(grid.step_to_ms(*s))))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// CompNeuroMonitors: records compartments of a [`Network`] into a [`Sink`].
///
/// The monitors do not own the network; every operation that needs the current time takes
/// it, and [`Monitors::simulate`] steps it while recording. Use one `Monitors` with the
/// network it was created for.
#[derive(Debug)]
pub struct Monitors<S: Sink = MemorySink> {
    grid: TimeGrid,
    compartments: Vec<CompartmentMonitor>,
    sink: S,
    set: u32,
    chunk: u32,
    chunk_first_step: i64,
    /// The network's step when the monitors last saw it: a different step at the next call
    /// means it was advanced or reset behind their back.
    observed_step: i64,
    /// The network's reset count when the monitors last saw it.
    observed_resets: u64,
    /// Steps simulated in chunks dropped since the last kept chunk of this set.
    skipped_steps: i64,
    chunk_begun: bool,
    finished_times: Vec<ChunkTimes>,
}

impl Monitors<MemorySink> {
    /// Monitors recording into memory, from a monitor dictionary such as
    /// `[("my_pop1;2", &["v", "spike"]), ("my_pop2", &["v"])]`.
    pub fn new(net: &Network, dict: &[(&str, &[&str])]) -> Result<Self, MonitorError> {
        Self::with_sink(net, &MonitorSpec::parse_dict(dict)?, MemorySink::new())
    }

    /// Recordings of every chunk so far in this set, the current one included.
    pub fn get_recordings(&self, net: &Network) -> Vec<ChunkRecordings> {
        let mut out = self.sink.finished().to_vec();
        if self.current_chunk_kept(self.view_step(net)) {
            out.push(self.sink.current(&self.parameters(net)));
        }
        out
    }

    /// Ends the set: returns its recordings and recording times, then returns the monitors
    /// to their initial state (all paused, no chunks).
    pub fn get_recordings_and_clear(
        &mut self,
        net: &Network,
    ) -> Result<(Vec<ChunkRecordings>, RecordingTimes), MonitorError> {
        let times = self.end_set(net)?;
        Ok((self.sink.take_finished(), times))
    }
}

impl<S: Sink> Monitors<S> {
    /// Monitors for `specs`, streaming into `sink`. Validates every compartment, variable and
    /// period against the network.
    pub fn with_sink(net: &Network, specs: &[MonitorSpec], sink: S) -> Result<Self, MonitorError> {
        let grid = net.grid();
        let mut compartments: Vec<CompartmentMonitor> = Vec::with_capacity(specs.len());
        for spec in specs {
            if compartments.iter().any(|c| c.info.name == spec.compartment) {
                return Err(MonitorError::DuplicateCompartment {
                    name: spec.compartment.clone(),
                });
            }
            compartments.push(CompartmentMonitor::new(net, spec)?);
        }
        Ok(Self {
            grid,
            compartments,
            sink,
            set: 0,
            chunk: 0,
            chunk_first_step: net.t(),
            observed_step: net.t(),
            observed_resets: net.resets(),
            skipped_steps: 0,
            chunk_begun: false,
            finished_times: Vec::new(),
        })
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Gives the sink back.
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// What is monitored, in monitor order.
    pub fn compartments(&self) -> Vec<&CompartmentInfo> {
        self.compartments.iter().map(|c| &c.info).collect()
    }

    /// Index of the chunk the running recordings go to (chunks kept so far in this set), or
    /// `None` while no compartment is recording (as CompNeuroPy's `current_chunk()`).
    pub fn current_chunk(&self) -> Option<usize> {
        self.compartments
            .iter()
            .any(|c| c.running)
            .then_some(self.chunk as usize)
    }

    /// The step up to which the looking calls (`get_recordings`, `get_recording_times`)
    /// describe the current chunk: the network's step, unless it moved behind the monitors'
    /// back while something recorded or was reset, in which case the last step they saw
    /// (so the times never claim samples that were not recorded; the next changing call
    /// reports the move).
    fn view_step(&self, net: &Network) -> i64 {
        let moved_while_recording =
            net.t() != self.observed_step && self.compartments.iter().any(|c| c.running);
        if moved_while_recording || net.resets() != self.observed_resets {
            self.observed_step
        } else {
            net.t()
        }
    }

    /// Checks that the network is where the monitors last saw it. While nothing records, a
    /// network advanced on its own is fine (the time simply passed unrecorded); while
    /// something records, the steps in between would be claimed by the recording times
    /// without having been recorded, and a network moved back in time breaks the chunk.
    ///
    /// Either is reported once, after the monitors have made their state true again: the
    /// running periods end where recording stopped and go on from the current step (the
    /// unrecorded steps become a pause), and a chunk overtaken by a reset is closed where
    /// the monitors last saw it and a new one opens. Nothing recorded is lost and the next
    /// call works.
    fn observe(&mut self, net: &Network) -> Result<(), MonitorError> {
        let t = net.t();
        let seen = self.observed_step;
        let reset = net.resets() != self.observed_resets;
        if t == seen && !reset {
            return Ok(());
        }
        let chunk_is_empty = !self.chunk_begun
            && self
                .compartments
                .iter()
                .all(|c| c.pairs.is_empty() && c.open.is_none());
        if (reset || t < seen) && chunk_is_empty {
            // Nothing recorded in this chunk yet: it simply starts again at the new time,
            // its simulated span counted as a dropped chunk's.
            self.skipped_steps += (seen - self.chunk_first_step).max(0);
            self.chunk_first_step = t;
            self.observed_step = t;
            self.observed_resets = net.resets();
            return Ok(());
        }
        if reset || t < seen {
            self.observed_step = t;
            self.observed_resets = net.resets();
            self.close_chunk_at(net, seen)?;
            self.open_chunk(net);
            return Err(MonitorError::ResetOutside { from: seen, to: t });
        }
        let recording: Vec<&str> = self
            .compartments
            .iter()
            .filter(|c| c.running)
            .map(|c| c.info.name.as_str())
            .collect();
        let recording = recording.join(", ");
        self.observed_step = t;
        if recording.is_empty() {
            return Ok(());
        }
        for c in self.compartments.iter_mut().filter(|c| c.running) {
            if let Some(s0) = c.open.replace(t) {
                if seen > s0 {
                    c.pairs.push((s0, seen));
                }
            }
        }
        Err(MonitorError::Unobserved {
            from: seen,
            to: t,
            recording,
        })
    }

    /// Index of the current set (number of `get_recordings_and_clear` calls so far).
    pub fn current_set(&self) -> usize {
        self.set as usize
    }

    /// Whether a compartment is currently recording.
    pub fn is_running(&self, compartment: &str) -> Option<bool> {
        self.compartments
            .iter()
            .find(|c| c.info.name == compartment)
            .map(|c| c.running)
    }

    fn select(&self, list: Option<&[&str]>) -> Result<Vec<usize>, MonitorError> {
        match list {
            None => Ok((0..self.compartments.len()).collect()),
            Some(names) => names
                .iter()
                .map(|n| {
                    self.compartments
                        .iter()
                        .position(|c| c.info.name == *n)
                        .ok_or_else(|| MonitorError::NotMonitored {
                            name: n.to_string(),
                            known: self
                                .compartments
                                .iter()
                                .map(|c| c.info.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        })
                })
                .collect(),
        }
    }

    /// Starts recording the listed compartments (`None`: all). Starting a running
    /// compartment changes nothing.
    pub fn start(
        &mut self,
        net: &Network,
        compartments: Option<&[&str]>,
    ) -> Result<(), MonitorError> {
        self.observe(net)?;
        let t = net.t();
        for i in self.select(compartments)? {
            let c = &mut self.compartments[i];
            if !c.running {
                c.running = true;
                c.open = Some(t);
            }
        }
        Ok(())
    }

    /// Pauses the listed compartments (`None`: all). Pausing a paused compartment changes
    /// nothing; a pause at the time of the start leaves no period.
    pub fn pause(
        &mut self,
        net: &Network,
        compartments: Option<&[&str]>,
    ) -> Result<(), MonitorError> {
        self.observe(net)?;
        let t = net.t();
        for i in self.select(compartments)? {
            let c = &mut self.compartments[i];
            if c.running {
                c.running = false;
                if let Some(s0) = c.open.take() {
                    if t > s0 {
                        c.pairs.push((s0, t));
                    }
                }
            }
        }
        Ok(())
    }

    fn parameters(&self, net: &Network) -> Vec<Vec<(String, Vec<f64>)>> {
        self.compartments
            .iter()
            .map(|c| match &c.source {
                Source::Population(p) => net.populations()[*p].parameter_values(),
                Source::Projection { index, order, .. } => net.projections()[*index]
                    .parameter_values()
                    .into_iter()
                    .map(|(name, values)| {
                        let ordered = order
                            .iter()
                            .map(|&k| values.get(k as usize).copied().unwrap_or(f64::NAN))
                            .collect();
                        (name, ordered)
                    })
                    .collect(),
            })
            .collect()
    }

    fn chunk_times(&self, t: i64) -> ChunkTimes {
        ChunkTimes {
            first_step: self.chunk_first_step,
            end_step: t,
            skipped_steps: self.skipped_steps,
            compartments: self
                .compartments
                .iter()
                .map(|c| {
                    CompartmentTimes::from_pairs(
                        &c.info.name,
                        c.info.period_steps,
                        c.pairs_until(t),
                        &self.grid,
                    )
                })
                .collect(),
        }
    }

    /// The chunk is kept when a compartment recorded a state sample or had a spike period.
    fn current_chunk_kept(&self, t: i64) -> bool {
        self.compartments.iter().any(|c| {
            let pairs = c.pairs_until(t);
            (c.info.spikes && !pairs.is_empty())
                || (!c.info.variables.is_empty()
                    && pairs
                        .iter()
                        .any(|&(s0, s1)| pair_samples(s0, s1, c.info.period_steps).2 > 0))
        })
    }

    fn begin_chunk_if_needed(&mut self) -> Result<(), MonitorError> {
        if !self.chunk_begun {
            let infos: Vec<CompartmentInfo> =
                self.compartments.iter().map(|c| c.info.clone()).collect();
            self.sink
                .begin_chunk(&ChunkStart {
                    set: self.set,
                    chunk: self.chunk,
                    first_step: self.chunk_first_step,
                    dt_ms: self.grid.dt_ms(),
                    compartments: &infos,
                })
                .map_err(MonitorError::Sink)?;
            self.chunk_begun = true;
        }
        Ok(())
    }

    /// Closes the current chunk at the network's current step (running compartments stay
    /// running, without an open pair).
    fn close_chunk(&mut self, net: &Network) -> Result<(), MonitorError> {
        self.close_chunk_at(net, net.t())
    }

    /// Closes the current chunk as of step `t` (see [`Monitors::close_chunk`]).
    fn close_chunk_at(&mut self, net: &Network, t: i64) -> Result<(), MonitorError> {
        let keep = self.current_chunk_kept(t);
        let times = self.chunk_times(t);
        if keep {
            self.begin_chunk_if_needed()?;
        }
        if self.chunk_begun {
            let parameters = self.parameters(net);
            self.sink
                .end_chunk(&ChunkEnd {
                    set: self.set,
                    chunk: self.chunk,
                    keep,
                    times: &times,
                    parameters: &parameters,
                })
                .map_err(MonitorError::Sink)?;
            self.chunk_begun = false;
        }
        if keep {
            self.finished_times.push(times);
            self.chunk += 1;
            self.skipped_steps = 0;
        } else {
            // A model reset can move time back, so the span is what the chunk simulated.
            self.skipped_steps += (times.end_step - times.first_step).max(0);
        }
        for c in &mut self.compartments {
            c.pairs.clear();
            c.open = None;
        }
        Ok(())
    }

    /// Opens a new chunk at the network's current step; running compartments start a period.
    fn open_chunk(&mut self, net: &Network) {
        let t = net.t();
        self.chunk_first_step = t;
        for c in &mut self.compartments {
            if c.running {
                c.open = Some(t);
            }
        }
    }

    /// Closes the current chunk and opens a new one. With `model`, the network returns to its
    /// initial state and time 0 (and, with `parameters`, its declared parameters); compartments
    /// that were recording go on recording in the new chunk.
    pub fn reset(&mut self, net: &mut Network, options: ResetOptions) -> Result<(), MonitorError> {
        self.observe(net)?;
        self.close_chunk(net)?;
        if options.model {
            net.reset(options.parameters);
        }
        self.open_chunk(net);
        self.observed_step = net.t();
        self.observed_resets = net.resets();
        Ok(())
    }

    /// Drops the current chunk if nothing in it is kept (no sample and no period with
    /// simulated time), telling the sink when it had begun one; a chunk with recordings is
    /// left alone. For the end of a run that stops right after a start: otherwise the sink
    /// would hold a begun chunk that never ends (an archive would report it unfinished).
    pub fn discard_empty_chunk(&mut self, net: &Network) -> Result<(), MonitorError> {
        self.observe(net)?;
        if self.chunk_begun && !self.current_chunk_kept(net.t()) {
            self.close_chunk(net)?;
            self.open_chunk(net);
        }
        Ok(())
    }

    /// Ends the set: closes the current chunk, hands the set's end to the sink and returns its
    /// recording times; then all compartments are paused and a new set begins.
    pub fn end_set(&mut self, net: &Network) -> Result<RecordingTimes, MonitorError> {
        self.observe(net)?;
        self.close_chunk(net)?;
        self.sink.end_set(self.set).map_err(MonitorError::Sink)?;
        let times =
            RecordingTimes::new(self.grid.dt_ms(), std::mem::take(&mut self.finished_times));
        for c in &mut self.compartments {
            c.running = false;
        }
        self.set += 1;
        self.chunk = 0;
        self.skipped_steps = 0;
        self.open_chunk(net);
        Ok(times)
    }

    /// The end of recording: ends the set when chunks were recorded since the last one
    /// ended (returning its times), and otherwise drops a chunk that recorded nothing, so the
    /// sink never holds a begun chunk that does not end. [`Monitors::finish`] calls it; a
    /// schedule calls it at its end to hand the last set on.
    pub fn end(&mut self, net: &Network) -> Result<Option<RecordingTimes>, MonitorError> {
        if self.get_recording_times(net).nr_chunks() > 0 {
            Ok(Some(self.end_set(net)?))
        } else {
            self.discard_empty_chunk(net)?;
            Ok(None)
        }
    }

    /// Finishes the monitors and their sink in one step: [`Monitors::end`], then
    /// [`Sink::finish`]; returns what the sink leaves (an archive writer: its manifest).
    pub fn finish(mut self, net: &Network) -> Result<S::Output, MonitorError> {
        self.end(net)?;
        self.sink.finish().map_err(MonitorError::Sink)
    }

    /// Recording times of every chunk so far in this set, the current one included (its
    /// open periods close at the current step).
    pub fn get_recording_times(&self, net: &Network) -> RecordingTimes {
        let mut chunks = self.finished_times.clone();
        let t = self.view_step(net);
        if self.current_chunk_kept(t) {
            chunks.push(self.chunk_times(t));
        }
        RecordingTimes::new(self.grid.dt_ms(), chunks)
    }

    /// Advances the network by `duration_ms` (`ceil(d / dt)` steps), recording after every
    /// step what the running monitors ask for.
    pub fn simulate(&mut self, net: &mut Network, duration_ms: f64) -> Result<(), MonitorError> {
        let steps = net.steps_for(duration_ms)?;
        self.simulate_steps(net, steps)
    }

    /// Advances the network by `steps` steps, recording as [`Monitors::simulate`] does.
    pub fn simulate_steps(&mut self, net: &mut Network, steps: i64) -> Result<(), MonitorError> {
        if steps < 0 {
            return Err(MonitorError::NegativeSteps { steps });
        }
        self.observe(net)?;
        let result = self.simulate_observed(net, steps);
        self.observed_step = net.t();
        result
    }

    fn simulate_observed(&mut self, net: &mut Network, steps: i64) -> Result<(), MonitorError> {
        if !self.compartments.iter().any(|c| c.running) {
            net.advance_unobserved(steps);
            return Ok(());
        }
        self.begin_chunk_if_needed()?;
        // Populations whose recorded variables include a projection target keep it as it
        // was at the start of each step.
        for p in 0..net.populations().len() {
            let keep = self.compartments.iter().any(|c| {
                c.running
                    && c.population() == Some(p)
                    && c.variable_indices
                        .iter()
                        .any(|i| net.populations()[p].is_target(*i))
            });
            if let Some(pop) = net.population_at_mut(p) {
                pop.keep_targets(keep);
            }
        }
        let t = net.t();
        for (i, c) in self.compartments.iter().enumerate() {
            if c.running && !c.variable_indices.is_empty() {
                let samples = pair_samples(t, t + steps, c.info.period_steps).2;
                self.sink.reserve(i, samples as usize);
            }
        }
        for _ in 0..steps {
            let label = net.step();
            self.record(net, label)?;
        }
        Ok(())
    }

    fn record(&mut self, net: &Network, step: i64) -> Result<(), MonitorError> {
        let sink = &mut self.sink;
        for (i, c) in self.compartments.iter_mut().enumerate() {
            if !c.running {
                continue;
            }
            let period = c.pairs.len() as u32;
            let sample_due = !c.variable_indices.is_empty() && step % c.info.period_steps == 0;
            match &mut c.source {
                Source::Population(p) => {
                    let pop = &net.populations()[*p];
                    if sample_due {
                        sink.state(i, StateSample::new(step, period, pop, &c.variable_indices))
                            .map_err(MonitorError::Sink)?;
                    }
                    if c.info.spikes {
                        let spikes = pop.last_spikes();
                        if !spikes.is_empty() {
                            sink.spikes(i, step, period, spikes)
                                .map_err(MonitorError::Sink)?;
                        }
                    }
                }
                Source::Projection {
                    index,
                    order,
                    buffers,
                } if sample_due => {
                    let proj = &net.projections()[*index];
                    for (buffer, &v) in buffers.iter_mut().zip(&c.variable_indices) {
                        let values = proj.variable_values(v).unwrap_or(&[]);
                        buffer.clear();
                        buffer.extend(
                            order
                                .iter()
                                .map(|&k| values.get(k as usize).copied().unwrap_or(f64::NAN)),
                        );
                    }
                    sink.state(i, StateSample::from_values(step, period, buffers))
                        .map_err(MonitorError::Sink)?;
                }
                Source::Projection { .. } => {}
            }
        }
        Ok(())
    }
}
