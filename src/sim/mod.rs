//! The spiking simulator (SPEC §2, NETWORKS §3): a [`Network`] with one time step `dt` and
//! an integer step counter, holding [`Population`]s of a [`NeuronModel`] and the
//! [`Projection`]s between them. State is stored as one array per variable so the update
//! loop vectorises. Stepping allocates nothing per neuron or synapse: the built-in kernel,
//! spike delivery and the equation engine on one thread allocate nothing at all; split over
//! threads, the engine builds a few small vectors (its pieces) per step.
//!
//! Monitors (crate::monitor) sit on top: they call [`Network::step`] and read the state
//! after each step; this module knows nothing about recording.

mod kernel;
mod projection;
mod time;

pub use kernel::KernelKind;
pub use projection::{Connector, Projection, ProjectionError, ProjectionSpec, MAX_DELAY_STEPS};
pub use time::{decimals_of, py_float_repr, TimeGrid};

use std::sync::Arc;

use kernel::{collect_spikes, IzhParams, IzhScalars, IzhSlices, IzhState};

use crate::model::column::Column;
use crate::model::eval::{self, Compiled, Stream, Values};

/// Errors of the simulator: all caused by what a user asked for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("dt must be a positive, finite number of ms, got {dt_ms}")]
    InvalidDt { dt_ms: f64 },
    #[error("simulate() needs a finite duration >= 0 ms, got {duration_ms}")]
    InvalidDuration { duration_ms: f64 },
    #[error("population name must not be empty")]
    EmptyPopulationName,
    #[error("a population named \"{name}\" already exists; give each population its own name")]
    DuplicatePopulation { name: String },
    #[error("population \"{name}\" must have at least one neuron")]
    EmptyPopulation { name: String },
    #[error("unknown population \"{name}\"; populations are: {known}")]
    UnknownPopulation { name: String, known: String },
    #[error("neuron model {model} has no parameter \"{name}\"; its parameters are: {known}")]
    UnknownParameter {
        model: String,
        name: String,
        known: String,
    },
    #[error("neuron model {model} has no state variable \"{name}\" to initialise; its variables are: {known}")]
    UnknownVariable {
        model: String,
        name: String,
        known: String,
    },
    #[error("{what} of population \"{population}\" has {got} values, but the population has {size} neurons; give one value for all or exactly {size}")]
    WrongLength {
        what: Quantity,
        population: String,
        got: usize,
        size: usize,
    },
    #[error("{what} of population \"{population}\" must be finite, got {value}")]
    NonFinite {
        what: Quantity,
        population: String,
        value: f64,
    },
    #[error("unknown neuron model \"{name}\"; available models: {known}")]
    UnknownModel { name: String, known: String },
    #[error("projection {projection}: {message}")]
    Projection { projection: String, message: String },
    #[error("{what} of population \"{population}\" is declared `: population` in model {model}: it takes one value for all neurons, not one per neuron")]
    PopulationWide {
        what: Quantity,
        population: String,
        model: String,
    },
    #[error("{what} of population \"{population}\": {message}")]
    BadDistribution {
        what: Quantity,
        population: String,
        message: String,
    },
}

/// Which values of a population an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quantity {
    /// A parameter, by name.
    Parameter(String),
    /// The initial value of a state variable, by name.
    Initial(String),
    /// A state variable's current value, by name.
    Variable(String),
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quantity::Parameter(name) => write!(f, "parameter {name}"),
            Quantity::Initial(name) => write!(f, "initial value of {name}"),
            Quantity::Variable(name) => write!(f, "variable {name}"),
        }
    }
}

/// A neuron model: its parameters with defaults and its state variables.
#[derive(Debug, Clone, PartialEq)]
pub enum NeuronModel {
    /// Izhikevich (2007), Dynamical Systems in Neuroscience, as CompNeuroPy's
    /// `Izhikevich2007`: `C dv/dt = k (v - v_r)(v - v_t) - u + I_v`,
    /// `du/dt = a (b (v - v_r) - u)`, spike at `v >= v_peak`, then `v = c`, `u += d`. Runs
    /// on the hand-scheduled kernel.
    Izhikevich2007,
    /// A model defined by equations (the library's or a user's), run by [`Compiled::step`].
    Equations(Arc<Compiled>),
}

impl NeuronModel {
    /// The built-in models (the rest of the library runs as equations).
    pub const BUILTIN: [&'static str; 1] = ["Izhikevich2007"];

    /// A model defined by equations.
    pub fn equations(model: Compiled) -> Self {
        NeuronModel::Equations(Arc::new(model))
    }

    /// The model's name as users write it.
    pub fn name(&self) -> &str {
        match self {
            NeuronModel::Izhikevich2007 => "Izhikevich2007",
            NeuronModel::Equations(c) => &c.name,
        }
    }

    /// Looks a model up by name: a built-in model, else one of the library's.
    pub fn from_name(name: &str) -> Result<Self, SimError> {
        if name == "Izhikevich2007" {
            return Ok(NeuronModel::Izhikevich2007);
        }
        match crate::model::library::compiled(name) {
            Some(c) => Ok(NeuronModel::Equations(c)),
            None => Err(SimError::UnknownModel {
                name: name.to_string(),
                known: crate::model::library::names().join(", "),
            }),
        }
    }

    /// Parameter names with their defaults, in declaration order.
    pub fn parameters(&self) -> Vec<(&str, f64)> {
        match self {
            NeuronModel::Izhikevich2007 => vec![
                ("C", 100.0),
                ("k", 0.7),
                ("v_r", -60.0),
                ("v_t", -40.0),
                ("a", 0.03),
                ("b", -2.0),
                ("c", -50.0),
                ("d", 100.0),
                ("v_peak", 35.0),
                ("I_app", 0.0),
            ],
            NeuronModel::Equations(c) => {
                c.parameters.iter().map(|(n, x)| (n.as_str(), *x)).collect()
            }
        }
    }

    /// State variables with their initial values (all recordable), in declaration order.
    pub fn variables(&self) -> Vec<(&str, f64)> {
        match self {
            NeuronModel::Izhikevich2007 => vec![("v", 0.0), ("u", 0.0), ("I_v", 0.0)],
            NeuronModel::Equations(c) => c
                .variables
                .iter()
                .zip(&c.initial)
                .map(|(n, x)| (n.as_str(), *x))
                .collect(),
        }
    }

    /// The names of the model's variables and of its parameters.
    pub fn names(&self) -> (Vec<String>, Vec<String>) {
        let names = |list: Vec<(&str, f64)>| list.iter().map(|(n, _)| n.to_string()).collect();
        (names(self.variables()), names(self.parameters()))
    }

    /// Whether the model emits spikes (recordable as `spike`).
    pub fn spiking(&self) -> bool {
        match self {
            NeuronModel::Izhikevich2007 => true,
            NeuronModel::Equations(c) => c.spiking(),
        }
    }

    /// Whether parameter `index` takes one value for the whole population.
    fn population_wide(&self, index: usize) -> bool {
        match self {
            NeuronModel::Izhikevich2007 => false,
            NeuronModel::Equations(c) => c.population_wide[index],
        }
    }

    fn parameter_index(&self, name: &str) -> Result<usize, SimError> {
        let parameters = self.parameters();
        parameters
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| SimError::UnknownParameter {
                model: self.name().to_string(),
                name: name.to_string(),
                known: parameters
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Index of a state variable, if the model has it.
    pub fn variable_index(&self, name: &str) -> Option<usize> {
        self.variables().iter().position(|(n, _)| *n == name)
    }

    /// Index of a state variable, or the error listing the model's variables.
    fn variable_index_or_err(&self, name: &str) -> Result<usize, SimError> {
        self.variable_index(name)
            .ok_or_else(|| SimError::UnknownVariable {
                model: self.name().to_string(),
                name: name.to_string(),
                known: self
                    .variables()
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// A value given population-wide, per neuron, or drawn per neuron from a distribution.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Scalar(f64),
    PerNeuron(Vec<f64>),
    /// One draw per neuron from the uniform distribution on `[low, high)`.
    Uniform(f64, f64),
    /// One draw per neuron from the normal distribution with this mean and standard
    /// deviation.
    Normal(f64, f64),
}

impl From<f64> for ParamValue {
    fn from(x: f64) -> Self {
        ParamValue::Scalar(x)
    }
}

impl From<Vec<f64>> for ParamValue {
    fn from(x: Vec<f64>) -> Self {
        ParamValue::PerNeuron(x)
    }
}

/// What a population is made of, before it joins a network.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationSpec {
    pub name: String,
    pub size: usize,
    pub model: NeuronModel,
    /// Parameter overrides; the rest keep the model's defaults.
    pub parameters: Vec<(String, ParamValue)>,
    /// Initial values of state variables; the rest start at the model's initial values.
    pub initial: Vec<(String, ParamValue)>,
}

impl PopulationSpec {
    /// A population of `size` neurons of `model` with default parameters.
    pub fn new(name: impl Into<String>, size: usize, model: NeuronModel) -> Self {
        Self {
            name: name.into(),
            size,
            model,
            parameters: Vec::new(),
            initial: Vec::new(),
        }
    }

    /// Sets a parameter (builder style).
    pub fn with_parameter(mut self, name: &str, value: impl Into<ParamValue>) -> Self {
        self.parameters.push((name.to_string(), value.into()));
        self
    }

    /// Sets an initial value (builder style).
    pub fn with_initial(mut self, name: &str, value: impl Into<ParamValue>) -> Self {
        self.initial.push((name.to_string(), value.into()));
        self
    }
}

/// How a population's neurons are advanced.
#[derive(Debug, Clone)]
enum Engine {
    /// The hand-scheduled Izhikevich2007 kernel.
    Izhikevich {
        /// The last step's spikes, one bit per neuron.
        spiked: Vec<u8>,
        /// Whether `I_v` holds the current `I_app` (it is refreshed after a step when not).
        i_v_current: bool,
    },
    /// A compiled equation model with its evaluation state (parameters as the evaluation
    /// reads them, refractory counters, buffers; the variables stay in the population).
    Equations {
        model: Arc<Compiled>,
        state: Box<eval::State>,
        /// The projection targets (`g_*` variables) as they were at the start of the last
        /// step: what is recorded for them (NETWORKS.md §3). Empty when stale or not kept.
        targets_before: Vec<(usize, Column)>,
        /// Whether steps keep `targets_before` (a monitor records a target).
        keep_targets: bool,
    },
}

/// One population: parameters and state as one array per quantity.
#[derive(Debug, Clone)]
pub struct Population {
    name: String,
    size: usize,
    model: NeuronModel,
    /// Current parameter values, `[parameter][neuron]`.
    params: Vec<Vec<f64>>,
    /// Whether each parameter currently has one value for all neurons.
    uniform: Vec<bool>,
    /// Parameter values as declared, restored by `reset(parameters = true)`.
    declared: Vec<Vec<f64>>,
    /// Current state, `[variable][neuron]`.
    vars: Vec<Column>,
    /// Initial state, restored by `reset(model = true)`.
    initial: Vec<Column>,
    engine: Engine,
    /// The population's random stream (the network's seed, the population's name).
    stream: Stream,
    /// Values drawn from distributions by `set_parameter`/`set_variable` so far (each
    /// change draws from its own part of the stream).
    changes: u64,
    /// Neurons that spiked in the last step, ascending.
    spikes: Vec<u32>,
}

/// FNV-1a, 64 bits: stable names for random streams and sites.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The random stream of a population named `name` in a network seeded with `seed`.
pub fn population_stream(seed: u64, name: &str) -> Stream {
    Stream {
        seed,
        stream: fnv1a(name) & 0xffff_ffff,
    }
}

/// Where the draws of a distribution-valued quantity come from: the population's stream, a
/// site for the quantity (above the sites model equations use), and a counter.
#[derive(Debug, Clone, Copy)]
struct Draws {
    stream: Stream,
    change: u64,
}

impl Draws {
    fn value(&self, what: &Quantity, neuron: usize, value: &ParamValue) -> f64 {
        let site = 0x8000_0000 | (fnv1a(&what.to_string()) & 0x7fff_ffff);
        let (step, key) = (self.change, neuron as u64);
        match *value {
            ParamValue::Uniform(lo, hi) => {
                lo + (hi - lo) * eval::draw(self.stream, site, step, key, 0)
            }
            ParamValue::Normal(mu, sigma) => {
                mu + sigma * eval::normal(self.stream, site, step, key)
            }
            ParamValue::Scalar(x) => x,
            ParamValue::PerNeuron(ref xs) => xs[neuron],
        }
    }
}

/// Checks a value for `size` neurons (one value, exactly `size`, or a distribution with
/// valid arguments; all finite) without allocating anything per neuron.
fn check_value(
    value: &ParamValue,
    what: Quantity,
    population: &str,
    size: usize,
) -> Result<(), SimError> {
    let bad = match value {
        ParamValue::Scalar(x) => (!x.is_finite()).then_some(*x),
        ParamValue::PerNeuron(xs) if xs.len() == size => {
            xs.iter().copied().find(|x| !x.is_finite())
        }
        ParamValue::PerNeuron(xs) => {
            return Err(SimError::WrongLength {
                what,
                population: population.to_string(),
                got: xs.len(),
                size,
            })
        }
        ParamValue::Uniform(a, b) | ParamValue::Normal(a, b) => {
            let uniform = matches!(value, ParamValue::Uniform(..));
            let message = if !(a.is_finite() && b.is_finite()) {
                Some(format!(
                    "the distribution's arguments must be finite, got [{a}, {b}]"
                ))
            } else if uniform && a > b {
                Some(format!(
                    "uniform = [low, high] needs low <= high, got [{a}, {b}]"
                ))
            } else if !uniform && *b < 0.0 {
                Some(format!("normal = [mean, sd] needs sd >= 0, got [{a}, {b}]"))
            } else {
                None
            };
            if let Some(message) = message {
                return Err(SimError::BadDistribution {
                    what,
                    population: population.to_string(),
                    message,
                });
            }
            None
        }
    };
    match bad {
        Some(value) => Err(SimError::NonFinite {
            what,
            population: population.to_string(),
            value,
        }),
        None => Ok(()),
    }
}

/// Checks a value of a parameter: [`check_value`], and one value for all neurons when the
/// model declares the parameter `: population`.
fn check_parameter_value(
    model: &NeuronModel,
    index: usize,
    value: &ParamValue,
    name: &str,
    population: &str,
    size: usize,
) -> Result<(), SimError> {
    let what = Quantity::Parameter(name.to_string());
    check_value(value, what.clone(), population, size)?;
    let per_neuron = match value {
        ParamValue::Scalar(_) => false,
        ParamValue::PerNeuron(xs) => !all_equal(xs),
        ParamValue::Uniform(lo, hi) => lo != hi,
        ParamValue::Normal(_, sd) => *sd != 0.0,
    };
    if per_neuron && model.population_wide(index) && size > 1 {
        return Err(SimError::PopulationWide {
            what,
            population: population.to_string(),
            model: model.name().to_string(),
        });
    }
    Ok(())
}

fn expand(
    value: &ParamValue,
    what: Quantity,
    population: &str,
    size: usize,
    draws: Draws,
) -> Result<Vec<f64>, SimError> {
    check_value(value, what.clone(), population, size)?;
    Ok(match value {
        ParamValue::Scalar(x) => vec![*x; size],
        ParamValue::PerNeuron(xs) => xs.clone(),
        ParamValue::Uniform(..) | ParamValue::Normal(..) => {
            (0..size).map(|i| draws.value(&what, i, value)).collect()
        }
    })
}

fn all_equal(xs: &[f64]) -> bool {
    xs.first()
        .is_none_or(|x0| xs.iter().all(|x| x.to_bits() == x0.to_bits()))
}

/// A parameter's values as the evaluation reads them.
fn values_of(xs: &[f64], uniform: bool) -> Values {
    match xs.first() {
        Some(x) if uniform => Values::Uniform(*x),
        _ => Values::PerNeuron(xs.to_vec()),
    }
}

impl PopulationSpec {
    /// Checks the spec as [`Network::add_population`] does (name, size, parameter and
    /// variable names, value lengths, finite values), in the same order and with the same
    /// errors, without allocating anything per neuron.
    pub fn check(&self) -> Result<(), SimError> {
        if self.name.is_empty() {
            return Err(SimError::EmptyPopulationName);
        }
        if self.size == 0 || self.size > u32::MAX as usize {
            return Err(SimError::EmptyPopulation {
                name: self.name.clone(),
            });
        }
        for (name, value) in &self.parameters {
            self.check_parameter(name, value)?;
        }
        for (name, value) in &self.initial {
            self.model.variable_index_or_err(name)?;
            check_value(
                value,
                Quantity::Initial(name.clone()),
                &self.name,
                self.size,
            )?;
        }
        Ok(())
    }

    /// Checks a parameter change as [`Network::set_parameter`] does, without a network.
    pub fn check_parameter(&self, name: &str, value: &ParamValue) -> Result<(), SimError> {
        let index = self.model.parameter_index(name)?;
        check_parameter_value(&self.model, index, value, name, &self.name, self.size)
    }

    /// The same population with at most `n` neurons, evenly spread over this one's, with
    /// their parameters and initial values: a small stand-in (for checks and estimates)
    /// that allocates nothing proportional to the full size.
    pub fn probe(&self, n: usize) -> PopulationSpec {
        let n = self.size.clamp(1, n.max(1));
        let size = self.size;
        let pick = |values: &ParamValue| match values {
            ParamValue::PerNeuron(xs) if xs.len() == size => {
                ParamValue::PerNeuron((0..n).map(|i| xs[i * size / n]).collect())
            }
            other => other.clone(),
        };
        PopulationSpec {
            name: self.name.clone(),
            size: n,
            model: self.model.clone(),
            parameters: self
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), pick(v)))
                .collect(),
            initial: self
                .initial
                .iter()
                .map(|(k, v)| (k.clone(), pick(v)))
                .collect(),
        }
    }
}

impl Population {
    fn from_spec(spec: &PopulationSpec, seed: u64) -> Result<Self, SimError> {
        spec.check()?;
        let model = spec.model.clone();
        let n = spec.size;
        let stream = population_stream(seed, &spec.name);
        let draws = Draws { stream, change: 0 };
        let mut params: Vec<Vec<f64>> = model
            .parameters()
            .iter()
            .map(|(_, d)| vec![*d; n])
            .collect();
        for (name, value) in &spec.parameters {
            let idx = model.parameter_index(name)?;
            let what = Quantity::Parameter(name.clone());
            params[idx] = expand(value, what, &spec.name, n, draws)?;
        }
        let mut initial: Vec<Column> = model
            .variables()
            .iter()
            .map(|(_, x)| Column::filled(*x, n))
            .collect();
        for (name, value) in &spec.initial {
            let idx = model.variable_index_or_err(name)?;
            let what = Quantity::Initial(name.clone());
            initial[idx] = expand(value, what, &spec.name, n, draws)?.into();
        }
        let uniform: Vec<bool> = params.iter().map(|p| all_equal(p)).collect();
        let engine = match &model {
            NeuronModel::Izhikevich2007 => Engine::Izhikevich {
                spiked: vec![0; n.div_ceil(8)],
                i_v_current: false,
            },
            NeuronModel::Equations(c) => {
                let mut state = c.state(n);
                state.vars = Vec::new();
                state.params = params
                    .iter()
                    .zip(&uniform)
                    .map(|(p, u)| values_of(p, *u))
                    .collect();
                state.stream = stream;
                Engine::Equations {
                    model: Arc::clone(c),
                    state: Box::new(state),
                    targets_before: Vec::new(),
                    keep_targets: false,
                }
            }
        };
        Ok(Self {
            name: spec.name.clone(),
            size: n,
            model,
            declared: params.clone(),
            params,
            uniform,
            vars: initial.clone(),
            initial,
            engine,
            stream,
            changes: 0,
            spikes: Vec::with_capacity(n.min(1 << 16)),
        })
    }

    /// The population's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of neurons.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The neuron model.
    pub fn model(&self) -> &NeuronModel {
        &self.model
    }

    /// Current values of a state variable, one per neuron.
    pub fn variable(&self, name: &str) -> Option<&[f64]> {
        self.model.variable_index(name).map(|i| &self.vars[i][..])
    }

    /// Current values of the state variable with index `index` (see [`NeuronModel::variables`]).
    pub fn variable_by_index(&self, index: usize) -> &[f64] {
        &self.vars[index]
    }

    /// Whether steps keep the projection targets as they were at the start of the step, for
    /// [`Population::recorded_by_index`] (monitors ask for it while they record a target).
    pub fn keep_targets(&mut self, keep: bool) {
        if let Engine::Equations {
            keep_targets,
            targets_before,
            ..
        } = &mut self.engine
        {
            *keep_targets = keep;
            if !keep {
                targets_before.clear();
            }
        }
    }

    /// Whether variable `index` is a projection target (recorded before the update).
    pub fn is_target(&self, index: usize) -> bool {
        match &self.model {
            NeuronModel::Equations(c) => c.targets().contains(&index),
            NeuronModel::Izhikevich2007 => false,
        }
    }

    /// The values of variable `index` that a monitor records after a step: the current
    /// values, except for projection targets (`g_*` variables of equation models), which
    /// are recorded as they were at the start of the step (ANNarchy records them after the
    /// delivery of spikes, before the update).
    pub fn recorded_by_index(&self, index: usize) -> &[f64] {
        if let Engine::Equations { targets_before, .. } = &self.engine {
            if let Some((_, before)) = targets_before.iter().find(|(i, _)| *i == index) {
                return before;
            }
        }
        &self.vars[index]
    }

    /// Current values of a parameter, one per neuron.
    pub fn parameter(&self, name: &str) -> Option<&[f64]> {
        self.model
            .parameters()
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| &self.params[i][..])
    }

    /// All parameters with their current per-neuron values, in declaration order.
    pub fn parameter_values(&self) -> Vec<(String, Vec<f64>)> {
        self.model
            .parameters()
            .iter()
            .zip(&self.params)
            .map(|((n, _), v)| (n.to_string(), v.clone()))
            .collect()
    }

    /// Neurons that spiked in the last step, ascending.
    pub fn last_spikes(&self) -> &[u32] {
        &self.spikes
    }

    /// The draws of the next change made with a distribution.
    fn next_draws(&mut self) -> Draws {
        self.changes += 1;
        Draws {
            stream: self.stream,
            change: self.changes,
        }
    }

    /// Sets a parameter population-wide, per neuron, or drawn per neuron.
    pub fn set_parameter(&mut self, name: &str, value: &ParamValue) -> Result<(), SimError> {
        let idx = self.model.parameter_index(name)?;
        check_parameter_value(&self.model, idx, value, name, &self.name, self.size)?;
        let draws = self.next_draws();
        let what = Quantity::Parameter(name.to_string());
        self.params[idx] = expand(value, what, &self.name, self.size, draws)?;
        self.uniform[idx] = all_equal(&self.params[idx]);
        self.parameters_changed();
        Ok(())
    }

    /// Sets a state variable population-wide, per neuron, or drawn per neuron (takes effect
    /// at the next step).
    pub fn set_variable(&mut self, name: &str, value: &ParamValue) -> Result<(), SimError> {
        let idx = self.model.variable_index_or_err(name)?;
        let draws = self.next_draws();
        let what = Quantity::Variable(name.to_string());
        self.vars[idx] = expand(value, what, &self.name, self.size, draws)?.into();
        match &mut self.engine {
            Engine::Izhikevich { i_v_current, .. } => *i_v_current = false,
            Engine::Equations { targets_before, .. } => targets_before.clear(),
        }
        Ok(())
    }

    /// Brings the engine's view of the parameters up to date.
    fn parameters_changed(&mut self) {
        match &mut self.engine {
            Engine::Izhikevich { i_v_current, .. } => *i_v_current = false,
            Engine::Equations { state, .. } => {
                state.params = self
                    .params
                    .iter()
                    .zip(&self.uniform)
                    .map(|(p, u)| values_of(p, *u))
                    .collect();
            }
        }
    }

    fn reset(&mut self, parameters: bool) {
        for (var, init) in self.vars.iter_mut().zip(&self.initial) {
            var.copy_from_slice(init);
        }
        self.spikes.clear();
        match &mut self.engine {
            Engine::Izhikevich {
                spiked,
                i_v_current,
            } => {
                spiked.fill(0);
                *i_v_current = false;
            }
            Engine::Equations {
                state,
                targets_before,
                ..
            } => {
                state.refractory_left.fill(0);
                targets_before.clear();
            }
        }
        if parameters {
            for (p, d) in self.params.iter_mut().zip(&self.declared) {
                p.copy_from_slice(d);
            }
            self.uniform = self.params.iter().map(|p| all_equal(p)).collect();
            self.parameters_changed();
        }
    }

    /// Advances the population by `steps` steps, the first numbered `first`. With more than
    /// one piece, the population is split into contiguous parts that run on their own
    /// threads: for one step each (`per_step` = true, synchronised after every step) or for
    /// all `steps` at once, which is valid because neurons of a population without
    /// projections evolve independently.
    fn advance(&mut self, dt: f64, kernel: KernelKind, first: i64, steps: i64, pieces: usize) {
        if steps <= 0 {
            return;
        }
        match &mut self.engine {
            Engine::Izhikevich {
                spiked,
                i_v_current,
            } => {
                advance_izhikevich(
                    &self.params,
                    &self.uniform,
                    &mut self.vars,
                    spiked,
                    dt,
                    kernel,
                    steps,
                    pieces,
                );
                // I_v = I_app is an equation of the model, evaluated every step; as I_app
                // only changes between steps, the copy is made once after each change.
                if !*i_v_current {
                    self.vars[2].copy_from_slice(&self.params[9]);
                    *i_v_current = true;
                }
                self.spikes.clear();
                collect_spikes(spiked, 0, &mut self.spikes);
            }
            Engine::Equations {
                model,
                state,
                targets_before,
                keep_targets,
            } => {
                std::mem::swap(&mut state.vars, &mut self.vars);
                self.spikes.clear();
                let targets = model.targets();
                if targets.is_empty() || !*keep_targets {
                    model.advance(state, first, steps, dt, pieces, &mut self.spikes);
                } else {
                    // The targets at the start of the last step are kept for recording.
                    model.advance(state, first, steps - 1, dt, pieces, &mut Vec::new());
                    targets_before.resize_with(targets.len(), || (0, Column::default()));
                    for ((i, before), &t) in targets_before.iter_mut().zip(targets) {
                        *i = t;
                        if before.len() == state.vars[t].len() {
                            before.copy_from_slice(&state.vars[t]);
                        } else {
                            *before = Column::from_slice(&state.vars[t]);
                        }
                    }
                    model.advance(state, first + steps - 1, 1, dt, pieces, &mut self.spikes);
                }
                std::mem::swap(&mut state.vars, &mut self.vars);
            }
        }
    }
}

/// Advances Izhikevich2007 neurons on the hand-scheduled kernel.
#[allow(clippy::too_many_arguments)]
fn advance_izhikevich(
    p: &[Vec<f64>],
    uniform: &[bool],
    vars: &mut [Column],
    spiked: &mut [u8],
    dt: f64,
    kernel: KernelKind,
    steps: i64,
    pieces: usize,
) {
    let scalars = || IzhScalars {
        c_m: p[0][0],
        k: p[1][0],
        v_r: p[2][0],
        v_t: p[3][0],
        a: p[4][0],
        b: p[5][0],
        c: p[6][0],
        d: p[7][0],
        v_peak: p[8][0],
        i_app: p[9][0],
    };
    let params = if uniform.iter().all(|u| *u) {
        IzhParams::Uniform(scalars())
    } else if uniform[..9].iter().all(|u| *u) {
        IzhParams::InputPerNeuron(scalars(), &p[9])
    } else {
        IzhParams::PerNeuron(IzhSlices {
            c_m: &p[0],
            k: &p[1],
            v_r: &p[2],
            v_t: &p[3],
            a: &p[4],
            b: &p[5],
            c: &p[6],
            d: &p[7],
            v_peak: &p[8],
            i_app: &p[9],
        })
    };
    let (v, rest) = vars.split_at_mut(1);
    let state = IzhState {
        v: &mut v[0][..],
        u: &mut rest[0][..],
        spiked,
    };
    run_split(kernel, &params, dt, state, pieces, steps);
}

/// Runs `steps` kernel steps over `pieces` contiguous parts of the population, in parallel.
fn run_split(
    kernel: KernelKind,
    params: &IzhParams<'_>,
    dt: f64,
    state: IzhState<'_>,
    pieces: usize,
    steps: i64,
) {
    // Split at a multiple of 64 neurons so each part keeps whole cache lines and bytes of
    // the spike bitmask.
    let mid = (state.len() / pieces.max(1)).div_ceil(64) * 64;
    if pieces <= 1 || mid >= state.len() {
        run_tiled(kernel, params, dt, state, steps);
        return;
    }
    let (left_state, right_state) = state.split_at_mut(mid);
    let (left_params, right_params) = params.split_at(mid);
    rayon::join(
        || run_tiled(kernel, &left_params, dt, left_state, steps),
        || run_split(kernel, &right_params, dt, right_state, pieces - 1, steps),
    );
}

/// Neurons per tile when several steps run with nobody looking in between: the state of a
/// tile (and its per-neuron parameters) stays in the L1 cache for all those steps.
const TILE_NEURONS: usize = 512;

/// Runs `steps` kernel steps over `state`, tile by tile. Neurons of a population do not
/// interact, so running all steps of one tile before the next gives exactly the state (and
/// the last step's spike bits) that stepping the whole population each step gives, while
/// the state is read from memory once instead of once per step.
fn run_tiled(
    kernel: KernelKind,
    params: &IzhParams<'_>,
    dt: f64,
    mut state: IzhState<'_>,
    steps: i64,
) {
    let steps = steps.max(0) as u64;
    if steps == 1 || state.len() <= TILE_NEURONS {
        kernel.steps(params, dt, &mut state, steps);
        return;
    }
    let mut params = *params;
    while state.len() > TILE_NEURONS {
        let (mut tile, rest) = state.split_at_mut(TILE_NEURONS);
        let (tile_params, rest_params) = params.split_at(TILE_NEURONS);
        kernel.steps(&tile_params, dt, &mut tile, steps);
        state = rest;
        params = rest_params;
    }
    kernel.steps(&params, dt, &mut state, steps);
}

/// A network: populations sharing one time step and one step counter.
#[derive(Debug, Clone)]
pub struct Network {
    grid: TimeGrid,
    t: i64,
    /// Number of `reset` calls so far (monitors notice resets made behind their back).
    resets: u64,
    populations: Vec<Population>,
    kernel: KernelKind,
    threads: usize,
    min_neurons_per_thread: usize,
    /// The seed of every random number the network draws.
    seed: u64,
    projections: Vec<Projection>,
    /// Per population: the spikes of its last steps, by step modulo the ring's length
    /// (only for populations that project).
    history: Vec<Vec<Vec<u32>>>,
}

/// Below this many neurons per thread a population is stepped on one core: the cost of
/// handing work to a second core each step outweighs the gain (see README, performance).
pub const DEFAULT_MIN_NEURONS_PER_THREAD: usize = 25_000;

impl Network {
    /// An empty network with time step `dt_ms`, using the fastest kernel of this CPU and every
    /// core for large populations.
    pub fn new(dt_ms: f64) -> Result<Self, SimError> {
        Ok(Self {
            grid: TimeGrid::new(dt_ms)?,
            t: 0,
            resets: 0,
            populations: Vec::new(),
            kernel: KernelKind::detect(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            min_neurons_per_thread: DEFAULT_MIN_NEURONS_PER_THREAD,
            seed: 0,
            projections: Vec::new(),
            history: Vec::new(),
        })
    }

    /// Seeds the network's random numbers (distributions of parameters and initial values,
    /// `Uniform`/`Normal` in equations). Set it before adding populations: their initial
    /// draws are made when they are added. The default seed is 0.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        for pop in &mut self.populations {
            pop.stream = population_stream(seed, &pop.name);
            if let Engine::Equations { state, .. } = &mut pop.engine {
                state.stream = pop.stream;
            }
        }
        self
    }

    /// The seed of the network's random numbers.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Chooses the kernel variant (falls back to the baseline where unsupported).
    pub fn with_kernel(mut self, kernel: KernelKind) -> Self {
        self.kernel = kernel;
        self
    }

    /// Caps the number of threads one population's update may use (1 = single core).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Splits a population over threads from this many neurons per thread on (default
    /// [`DEFAULT_MIN_NEURONS_PER_THREAD`]); results do not depend on it.
    pub fn with_min_neurons_per_thread(mut self, neurons: usize) -> Self {
        self.min_neurons_per_thread = neurons.max(1);
        self
    }

    /// The kernel variant in use.
    pub fn kernel(&self) -> KernelKind {
        self.kernel
    }

    /// Adds a population and returns its index.
    pub fn add_population(&mut self, spec: PopulationSpec) -> Result<usize, SimError> {
        if self.populations.iter().any(|p| p.name == spec.name) {
            return Err(SimError::DuplicatePopulation { name: spec.name });
        }
        self.populations
            .push(Population::from_spec(&spec, self.seed)?);
        self.history.push(Vec::new());
        Ok(self.populations.len() - 1)
    }

    /// Adds a projection (its populations must be in the network) and returns its index.
    /// Its connectivity, weights and delays are drawn now, from the network's seed.
    pub fn add_projection(&mut self, spec: &ProjectionSpec) -> Result<usize, ProjectionError> {
        if self.projections.iter().any(|p| p.name == spec.name) {
            return Err(ProjectionError::Invalid {
                projection: spec.name.clone(),
                message: "a projection of this name already exists; give each its own name".into(),
            });
        }
        let pre = self.population_index(&spec.pre)?;
        let post = self.population_index(&spec.post)?;
        let pops = (&self.populations[pre], pre, &self.populations[post], post);
        let projection = Projection::build(spec, pops, self.seed, self.dt())?;
        // The ring keeps the spikes of the last `max_delay` steps (and the current one).
        let len = projection.max_delay as usize + 1;
        if self.history[pre].len() < len {
            self.history[pre] = vec![Vec::new(); len];
        }
        self.projections.push(projection);
        Ok(self.projections.len() - 1)
    }

    /// The projections in the order they were added.
    pub fn projections(&self) -> &[Projection] {
        &self.projections
    }

    /// Delivers to the targets the spikes that arrive at step `t`: for every projection and
    /// every delay `d`, the spikes its pre neurons emitted at step `t - d` (NETWORKS.md §3,
    /// step 1). Projections in the order added, spikes ascending, synapses in row order:
    /// the sums are the same on every run.
    fn deliver(&mut self, t: i64) {
        let dt = self.dt();
        let Network {
            projections,
            populations,
            history,
            ..
        } = self;
        for p in projections.iter_mut() {
            let ring = &history[p.pre];
            for d in 1..=p.max_delay {
                let s = t - i64::from(d);
                if s < 0 {
                    continue;
                }
                let spikes = &ring[(s as usize) % ring.len()];
                if spikes.is_empty() {
                    continue;
                }
                if p.has_model() {
                    p.deliver_model(spikes, d, populations, t as f64 * dt, dt);
                } else {
                    let target = &mut populations[p.post].vars[p.target];
                    p.deliver(spikes, d, target);
                }
            }
        }
    }

    /// Keeps the spikes of step `t` of every population that projects.
    fn remember_spikes(&mut self, t: i64) {
        for (pop, ring) in self.populations.iter().zip(&mut self.history) {
            if ring.is_empty() {
                continue;
            }
            let len = ring.len();
            let slot = &mut ring[(t as usize) % len];
            slot.clear();
            slot.extend_from_slice(pop.last_spikes());
        }
    }

    /// The time grid (dt and step -> ms rounding).
    pub fn grid(&self) -> TimeGrid {
        self.grid
    }

    /// The time step in ms.
    pub fn dt(&self) -> f64 {
        self.grid.dt_ms()
    }

    /// The step counter: the label the next step will get.
    pub fn t(&self) -> i64 {
        self.t
    }

    /// Number of [`Network::reset`] calls so far.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// Current time in ms (`t * dt`, rounded to the decimals of `dt`).
    pub fn time_ms(&self) -> f64 {
        self.grid.step_to_ms(self.t)
    }

    /// All populations in the order they were added.
    pub fn populations(&self) -> &[Population] {
        &self.populations
    }

    /// Index of the population named `name`.
    pub fn population_index(&self, name: &str) -> Result<usize, SimError> {
        self.populations
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| SimError::UnknownPopulation {
                name: name.to_string(),
                known: self.population_names().join(", "),
            })
    }

    /// Names of all populations.
    pub fn population_names(&self) -> Vec<String> {
        self.populations.iter().map(|p| p.name.clone()).collect()
    }

    /// The population named `name`.
    pub fn population(&self, name: &str) -> Result<&Population, SimError> {
        Ok(&self.populations[self.population_index(name)?])
    }

    /// Index of the projection named `name`.
    pub fn projection_index(&self, name: &str) -> Option<usize> {
        self.projections.iter().position(|p| p.name == name)
    }

    /// The population with index `index`, mutably.
    pub fn population_at_mut(&mut self, index: usize) -> Option<&mut Population> {
        self.populations.get_mut(index)
    }

    /// The population named `name`, mutably (e.g. to change a parameter between runs).
    pub fn population_mut(&mut self, name: &str) -> Result<&mut Population, SimError> {
        let i = self.population_index(name)?;
        Ok(&mut self.populations[i])
    }

    /// Sets a parameter of a population, population-wide or per neuron.
    pub fn set_parameter(
        &mut self,
        population: &str,
        name: &str,
        value: impl Into<ParamValue>,
    ) -> Result<(), SimError> {
        self.population_mut(population)?
            .set_parameter(name, &value.into())
    }

    /// Number of steps `simulate(duration_ms)` would advance.
    pub fn steps_for(&self, duration_ms: f64) -> Result<i64, SimError> {
        self.grid.duration_to_steps(duration_ms)
    }

    /// Computes one step of every population and returns its label (the step counter before
    /// the step); the counter then advances by one.
    pub fn step(&mut self) -> i64 {
        let dt = self.grid.dt_ms();
        let (threads, min) = (self.threads, self.min_neurons_per_thread.max(1));
        if !self.projections.is_empty() {
            self.deliver(self.t);
        }
        for pop in &mut self.populations {
            let pieces = threads.min(pop.size / min).max(1);
            pop.advance(dt, self.kernel, self.t, 1, pieces);
        }
        if !self.projections.is_empty() {
            self.remember_spikes(self.t);
            for p in &mut self.projections {
                p.update_synapses(&self.populations, self.t, dt);
            }
        }
        let label = self.t;
        self.t += 1;
        label
    }

    /// Advances `steps` steps with nobody looking at the state in between: each population
    /// runs all steps at once, split over the cores (afterwards, state and last spikes are
    /// exactly what `steps` calls of [`Network::step`] give).
    pub fn advance_unobserved(&mut self, steps: i64) {
        if !self.projections.is_empty() {
            // Connected neurons depend on each other's spikes: step by step.
            for _ in 0..steps {
                self.step();
            }
            return;
        }
        let dt = self.grid.dt_ms();
        for pop in &mut self.populations {
            // Every thread runs whole steps on its part without synchronising, so even
            // small populations gain from a second core here.
            let pieces = self.threads.min(pop.size / 4096).max(1);
            pop.advance(dt, self.kernel, self.t, steps, pieces);
        }
        self.t += steps;
    }

    /// Advances `ceil(duration_ms / dt)` steps without recording.
    pub fn simulate(&mut self, duration_ms: f64) -> Result<(), SimError> {
        let steps = self.steps_for(duration_ms)?;
        self.advance_unobserved(steps);
        Ok(())
    }

    /// Restores every population's initial state and sets `t = 0`; with `parameters`,
    /// parameters return to their declared values too.
    pub fn reset(&mut self, parameters: bool) {
        for pop in &mut self.populations {
            pop.reset(parameters);
        }
        for slot in self.history.iter_mut().flatten() {
            slot.clear();
        }
        self.t = 0;
        self.resets += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net_with(i_app: f64) -> Network {
        let mut net = Network::new(0.1).unwrap();
        net.add_population(
            PopulationSpec::new("p", 3, NeuronModel::Izhikevich2007).with_parameter("I_app", i_app),
        )
        .unwrap();
        net
    }

    #[test]
    fn step_labels_and_counter() {
        let mut net = net_with(0.0);
        assert_eq!(net.step(), 0);
        assert_eq!(net.step(), 1);
        assert_eq!(net.t(), 2);
        net.simulate(57.1).unwrap();
        assert_eq!(net.t(), 2 + 571);
        assert!(net.simulate(-1.0).is_err());
        assert_eq!(net.t(), 573);
    }

    #[test]
    fn every_neuron_spikes_at_step_12_from_rest_at_zero() {
        let mut net = net_with(0.0);
        for s in 0..12 {
            assert_eq!(net.step(), s);
            assert!(net.populations()[0].last_spikes().is_empty(), "step {s}");
        }
        assert_eq!(net.step(), 12);
        assert_eq!(net.populations()[0].last_spikes(), &[0, 1, 2]);
        assert_eq!(net.populations()[0].variable("v").unwrap(), &[-50.0; 3]);
    }

    #[test]
    fn reset_restores_state_and_optionally_parameters() {
        let mut net = net_with(5.0);
        net.simulate(10.0).unwrap();
        net.set_parameter("p", "I_app", vec![1.0, 2.0, 3.0])
            .unwrap();
        net.reset(false);
        assert_eq!(net.t(), 0);
        let pop = net.population("p").unwrap();
        assert_eq!(pop.variable("v").unwrap(), &[0.0; 3]);
        assert_eq!(pop.parameter("I_app").unwrap(), &[1.0, 2.0, 3.0]);
        net.reset(true);
        assert_eq!(
            net.population("p").unwrap().parameter("I_app").unwrap(),
            &[5.0; 3]
        );
    }

    #[test]
    fn per_neuron_and_uniform_parameters_agree() {
        let mut a = net_with(52.0);
        let mut b = net_with(0.0);
        b.set_parameter("p", "I_app", vec![52.0, 52.0, 52.0])
            .unwrap();
        a.simulate(300.0).unwrap();
        b.simulate(300.0).unwrap();
        let va = a.population("p").unwrap().variable("v").unwrap().to_vec();
        let vb = b.population("p").unwrap().variable("v").unwrap().to_vec();
        assert_eq!(va, vb);
    }

    #[test]
    fn threaded_stepping_is_bitwise_identical() {
        let spec = PopulationSpec::new("big", 70_001, NeuronModel::Izhikevich2007).with_parameter(
            "I_app",
            (0..70_001).map(|i| (i % 100) as f64).collect::<Vec<_>>(),
        );
        let mut one = Network::new(0.1).unwrap().with_threads(1);
        let mut two = Network::new(0.1).unwrap().with_threads(2);
        two.min_neurons_per_thread = 1000;
        one.add_population(spec.clone()).unwrap();
        two.add_population(spec).unwrap();
        for _ in 0..50 {
            one.step();
            two.step();
            assert_eq!(
                one.populations()[0].last_spikes(),
                two.populations()[0].last_spikes()
            );
        }
        let a = one.populations()[0].variable("u").unwrap();
        let b = two.populations()[0].variable("u").unwrap();
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn unobserved_runs_equal_step_by_step_runs() {
        // One and two threads: both run the population tile by tile (the tile boundary
        // and the split between threads fall inside the population, which is no multiple
        // of either).
        for (uniform, threads) in [(true, 1), (true, 2), (false, 1), (false, 2)] {
            let i_app: ParamValue = if uniform {
                30.0.into()
            } else {
                (0..20_001)
                    .map(|i| (i % 100) as f64)
                    .collect::<Vec<_>>()
                    .into()
            };
            let spec = PopulationSpec::new("p", 20_001, NeuronModel::Izhikevich2007)
                .with_parameter("I_app", i_app);
            let mut bulk = Network::new(0.1).unwrap().with_threads(threads);
            let mut stepped = Network::new(0.1).unwrap().with_threads(1);
            bulk.add_population(spec.clone()).unwrap();
            stepped.add_population(spec).unwrap();
            bulk.simulate(23.7).unwrap();
            for _ in 0..237 {
                stepped.step();
            }
            assert_eq!(bulk.t(), stepped.t());
            let (a, b) = (&bulk.populations()[0], &stepped.populations()[0]);
            assert_eq!(a.last_spikes(), b.last_spikes());
            for var in ["v", "u", "I_v"] {
                let (x, y) = (a.variable(var).unwrap(), b.variable(var).unwrap());
                assert!(
                    x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{var}"
                );
            }
        }
    }

    #[test]
    fn errors_name_what_exists() {
        let mut net = net_with(0.0);
        let e = net.set_parameter("p", "I_ap", 1.0).unwrap_err();
        assert!(e.to_string().contains("I_app"), "{e}");
        let e = net.set_parameter("q", "I_app", 1.0).unwrap_err();
        assert!(e.to_string().contains("populations are: p"), "{e}");
        let e = net.set_parameter("p", "I_app", vec![1.0]).unwrap_err();
        assert!(matches!(
            e,
            SimError::WrongLength {
                got: 1,
                size: 3,
                ..
            }
        ));
        let e = net
            .add_population(PopulationSpec::new("p", 1, NeuronModel::Izhikevich2007))
            .unwrap_err();
        assert!(matches!(e, SimError::DuplicatePopulation { .. }));
        assert!(Network::new(0.0).is_err());
        assert!(NeuronModel::from_name("LIF")
            .unwrap_err()
            .to_string()
            .contains("Izhikevich2007"));
    }
}
