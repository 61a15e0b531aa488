//! Projections (NETWORKS.md §3-4): connections from a population (or a slice of one) to a
//! population (or a slice), built by a connector, with the default spiking synapse: a spike
//! of a pre neuron emitted at step `s` adds `w` to `g_<target>` of each of its post neurons
//! at the start of step `s + delay` (delay in steps, at least 1), before the update.
//!
//! Connectivity is stored by pre neuron (compressed rows, each sorted by delay, then post
//! neuron), so delivering a spike walks one contiguous row. Random connectivity, weights
//! and delays come from the network's seeded counter-based generator, keyed by the
//! projection's name: the same seed gives the same network on every machine.

use std::ops::Range;

use super::{population_stream, ParamValue, Population, SimError};
use std::sync::Arc;

use crate::model::column::Column;
use crate::model::eval::{self, draw, normal, Compiled, Stream, Values};
use crate::model::synapse::{assign, CompiledSynapse, Ref, SStatement, SideNames, SynapseDef};
use crate::model::{Expr, Kind, NeuronDef, ParameterDef};

/// The longest delay in steps (spikes of that many steps are kept per population).
pub const MAX_DELAY_STEPS: u32 = 1_000_000;

/// How pre and post neurons are connected.
#[derive(Debug, Clone, PartialEq)]
pub enum Connector {
    /// Every pre neuron to every post neuron (no self-connections when pre and post are
    /// the same population, unless allowed).
    AllToAll,
    /// Pre neuron `i` of the slice to post neuron `i` of the slice.
    OneToOne,
    /// Each pair independently with this probability (no self-connections, as above).
    FixedProbability(f64),
    /// Each post neuron gets this many distinct pre neurons.
    FixedNumberPre(usize),
    /// Each pre neuron gets this many distinct post neurons.
    FixedNumberPost(usize),
    /// Exactly these synapses: `(pre, post, w, delay_ms)`, ranks within the slices; `w` and
    /// the delay, when given, override the projection's.
    Synapses(Vec<(u32, u32, Option<f64>, Option<f64>)>),
}

/// A projection before it joins a network.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionSpec {
    pub name: String,
    pub pre: String,
    /// Neurons of `pre` that project (all when `None`).
    pub pre_range: Option<Range<usize>>,
    pub post: String,
    pub post_range: Option<Range<usize>>,
    /// The target: synapses add to `g_<target>` of the post neurons.
    pub target: String,
    pub connector: Connector,
    /// A number or a distribution, drawn per synapse.
    pub weights: ParamValue,
    /// In ms; a number or a distribution (default: one step).
    pub delays_ms: Option<ParamValue>,
    /// Keep connections of a neuron to itself when pre and post are the same population.
    pub allow_self: bool,
    /// The synapse model (`None`: the default spiking synapse, `g_target += w`).
    pub synapse: Option<SynapseDef>,
    /// Values of the synapse's parameters (numbers or distributions, drawn per synapse);
    /// the rest keep their defaults.
    pub parameters: Vec<(String, ParamValue)>,
}

/// Errors of projections: all caused by what a user asked for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProjectionError {
    #[error("projection {projection}: {message}")]
    Invalid { projection: String, message: String },
    #[error(transparent)]
    Sim(#[from] SimError),
}

fn invalid(spec: &ProjectionSpec, message: impl Into<String>) -> ProjectionError {
    ProjectionError::Invalid {
        projection: spec.name.clone(),
        message: message.into(),
    }
}

/// A projection in a network.
#[derive(Debug, Clone)]
pub struct Projection {
    pub(super) name: String,
    pub(super) pre: usize,
    pub(super) pre_range: Range<usize>,
    pub(super) post: usize,
    /// The post population's variable `g_<target>`.
    pub(super) target: usize,
    /// Row of pre neuron `i` of the slice: `starts[i]..starts[i + 1]`.
    starts: Vec<usize>,
    /// Per synapse: the post neuron (index in the post population), weight, delay in steps.
    posts: Vec<u32>,
    weights: Vec<f64>,
    delays: Vec<u32>,
    pub(super) max_delay: u32,
    /// A synapse model other than the default, with its per-synapse state.
    pub(super) model: Option<SynapseState>,
}

/// The state of a projection's synapse model: per variable (`w` first) and per parameter
/// one value per synapse, in storage order.
#[derive(Debug, Clone)]
pub(super) struct SynapseState {
    model: CompiledSynapse,
    vars: Vec<Column>,
    params: Vec<Vec<f64>>,
    /// The equations on the neuron engine, synapses as lanes (when they read neither
    /// `pre.` nor `post.`).
    engine: Option<SynapseEngine>,
    /// The pre neuron of each synapse (index in the pre population).
    pre_of: Vec<u32>,
    /// The post neuron of each synapse (index in the post population).
    post_of: Vec<u32>,
    /// The synapses of each post neuron (only when the model has `post_spike`).
    by_post: Vec<Vec<u32>>,
}

/// A synapse model's equations compiled as a neuron model whose neurons are the synapses:
/// the same vectorised evaluation, the same operation order (so the same bits as the
/// synapse-by-synapse interpreter).
#[derive(Debug, Clone)]
struct SynapseEngine {
    model: Arc<Compiled>,
    state: Box<eval::State>,
    /// For each variable of `model`, its index among the synapse's variables.
    vars: Vec<usize>,
    /// Whether the last parameter of `model` is `w` (read, but set by no equation).
    w_parameter: bool,
}

/// Whether an expression reads `pre.x` or `post.x`.
fn reads_sides(e: &Expr) -> bool {
    let mut found = false;
    e.visit(&mut |x| found |= matches!(x, Expr::Attr(..)));
    found
}

/// The engine of a synapse model's equations, when they read neither `pre.` nor `post.`.
fn synapse_engine(def: &SynapseDef, params: &[Vec<f64>], n: usize) -> Option<SynapseEngine> {
    let sides = def.equations.iter().any(|e| {
        reads_sides(&e.rhs)
            || e.min.as_ref().is_some_and(reads_sides)
            || e.max.as_ref().is_some_and(reads_sides)
            || matches!(&e.kind, Kind::Ode { factor: Some(f) } if reads_sides(f))
    });
    if def.equations.is_empty() || sides {
        return None;
    }
    let mut parameters = def.parameters.clone();
    let w_parameter = !def.equations.iter().any(|e| e.variable == "w");
    if w_parameter {
        parameters.push(ParameterDef {
            name: "w".into(),
            value: 0.0,
            population: false,
        });
    }
    let neuron = NeuronDef {
        name: def.name.clone(),
        parameters,
        equations: def.equations.clone(),
        spike: None,
        reset: Vec::new(),
        refractory: None,
        functions: Vec::new(),
        targets: Vec::new(),
    };
    let model = Compiled::new(&neuron).ok()?;
    let names = def.variables();
    let vars = model
        .variables
        .iter()
        .map(|v| names.iter().position(|x| x == v))
        .collect::<Option<Vec<_>>>()?;
    let mut state = model.state(n);
    for (i, p) in def.parameters.iter().enumerate() {
        state.params[i] = if p.population {
            Values::Uniform(params[i].first().copied().unwrap_or(p.value))
        } else {
            Values::PerNeuron(params[i].clone())
        };
    }
    Some(SynapseEngine {
        model: Arc::new(model),
        state: Box::new(state),
        vars,
        w_parameter,
    })
}

/// Per-synapse values of a number or a distribution.
fn values(value: &ParamValue, stream: Stream, site: u64, n: usize) -> Vec<f64> {
    match *value {
        ParamValue::Scalar(x) => vec![x; n],
        ParamValue::PerNeuron(ref xs) => xs.clone(),
        ParamValue::Uniform(lo, hi) => (0..n as u64)
            .map(|k| lo + (hi - lo) * draw(stream, site, k >> 32, k & 0xffff_ffff, 0))
            .collect(),
        ParamValue::Normal(mu, sigma) => (0..n as u64)
            .map(|k| mu + sigma * normal(stream, site, k >> 32, k & 0xffff_ffff))
            .collect(),
    }
}

/// For every row (rank in a slice starting at `rows.0`), `k` distinct ranks of the other
/// slice (`of.0`, `of.1` neurons), leaving out the row's own neuron when both slices are of
/// the same population (`same`); the draws of `site`. `Err(n)`: `k` is more than the `n`
/// ranks there are.
fn fixed_number(
    k: usize,
    rows: (usize, usize),
    of: (usize, usize),
    same: bool,
    stream: Stream,
    site: u64,
) -> Result<Vec<(u32, Vec<u32>)>, usize> {
    (0..rows.1)
        .map(|r| {
            let skip = same
                .then(|| (rows.0 + r).checked_sub(of.0))
                .flatten()
                .filter(|x| *x < of.1);
            if k > of.1 - usize::from(skip.is_some()) {
                return Err(of.1);
            }
            Ok((r as u32, choose(of.1, k, skip, stream, site, r as u64)))
        })
        .collect()
}

/// Draws `k` distinct values of `0..n` (not `skip`), in ascending order, from the draws of
/// `row`: a partial Fisher-Yates shuffle.
fn choose(
    n: usize,
    k: usize,
    skip: Option<usize>,
    stream: Stream,
    site: u64,
    row: u64,
) -> Vec<u32> {
    let mut pool: Vec<u32> = (0..n as u32)
        .filter(|i| Some(*i as usize) != skip)
        .collect();
    let k = k.min(pool.len());
    for j in 0..k {
        let u = draw(stream, site, row, j as u64, 0);
        let pick = j + ((u * (pool.len() - j) as f64) as usize).min(pool.len() - j - 1);
        pool.swap(j, pick);
    }
    let mut out = pool[..k].to_vec();
    out.sort_unstable();
    out
}

impl Projection {
    /// Builds the connectivity of `spec` between `pre` and `post` (indices `pre_index`,
    /// `post_index` in the network).
    pub(super) fn build(
        spec: &ProjectionSpec,
        pops: (&Population, usize, &Population, usize),
        seed: u64,
        dt: f64,
    ) -> Result<Self, ProjectionError> {
        let (pre, pre_index, post, post_index) = pops;
        let slice =
            |r: &Option<Range<usize>>, pop: &Population| -> Result<Range<usize>, ProjectionError> {
                let r = r.clone().unwrap_or(0..pop.size());
                if r.start >= r.end || r.end > pop.size() {
                    return Err(invalid(
                        spec,
                        format!(
                            "slice [{}:{}] of {} is empty or outside its {} neurons",
                            r.start,
                            r.end,
                            pop.name(),
                            pop.size()
                        ),
                    ));
                }
                Ok(r)
            };
        let pre_range = slice(&spec.pre_range, pre)?;
        let post_range = slice(&spec.post_range, post)?;
        let target_name = format!("g_{}", spec.target);
        let target = post.model().variable_index(&target_name).ok_or_else(|| {
            invalid(
                spec,
                format!(
                    "the post population {} (model {}) has no variable {target_name} to receive target \"{}\"",
                    post.name(),
                    post.model().name(),
                    spec.target
                ),
            )
        })?;
        let stream = population_stream(seed, &format!("projection {}", spec.name));
        let same = pre_index == post_index && !spec.allow_self;
        let (n_pre, n_post) = (pre_range.len(), post_range.len());
        // Global neuron indices of a pair of ranks, and whether it is a self-connection.
        let is_self = |i: usize, j: usize| same && pre_range.start + i == post_range.start + j;
        let mut pairs: Vec<(u32, u32, Option<f64>, Option<f64>)> = Vec::new();
        match &spec.connector {
            Connector::AllToAll => {
                for i in 0..n_pre {
                    for j in 0..n_post {
                        if !is_self(i, j) {
                            pairs.push((i as u32, j as u32, None, None));
                        }
                    }
                }
            }
            Connector::OneToOne => {
                if n_pre != n_post {
                    return Err(invalid(
                        spec,
                        format!("one_to_one needs slices of equal size, got {n_pre} pre and {n_post} post neurons"),
                    ));
                }
                pairs.extend((0..n_pre as u32).map(|i| (i, i, None, None)));
            }
            Connector::FixedProbability(p) => {
                if !(0.0..=1.0).contains(p) {
                    return Err(invalid(
                        spec,
                        format!("fixed_probability must be in [0, 1], got {p}"),
                    ));
                }
                // Row by row, the gaps between connected post neurons are geometric: one
                // draw per synapse instead of one per pair.
                let log_q = (1.0 - p).ln();
                for i in 0..n_pre {
                    let mut j: i64 = -1;
                    for k in 0.. {
                        let u = draw(stream, 0, i as u64, k, 0);
                        let gap = if *p >= 1.0 {
                            0.0
                        } else {
                            ((1.0 - u).ln() / log_q).floor()
                        };
                        if !gap.is_finite() || j as f64 + 1.0 + gap >= n_post as f64 {
                            break;
                        }
                        j += 1 + gap as i64;
                        if !is_self(i, j as usize) {
                            pairs.push((i as u32, j as u32, None, None));
                        }
                    }
                }
            }
            Connector::FixedNumberPre(k) => {
                // Each post neuron (a "row") draws k pre neurons.
                let rows = (post_range.start, n_post);
                for (j, is) in fixed_number(*k, rows, (pre_range.start, n_pre), same, stream, 1)
                    .map_err(|n| {
                        invalid(
                            spec,
                            format!("fixed_number_pre = {k} is more than the {n} pre neurons"),
                        )
                    })?
                {
                    pairs.extend(is.into_iter().map(|i| (i, j, None, None)));
                }
            }
            Connector::FixedNumberPost(k) => {
                let rows = (pre_range.start, n_pre);
                for (i, js) in fixed_number(*k, rows, (post_range.start, n_post), same, stream, 2)
                    .map_err(|n| {
                    invalid(
                        spec,
                        format!("fixed_number_post = {k} is more than the {n} post neurons"),
                    )
                })? {
                    pairs.extend(js.into_iter().map(|j| (i, j, None, None)));
                }
            }
            Connector::Synapses(list) => {
                for (k, &(i, j, w, d)) in list.iter().enumerate() {
                    if i as usize >= n_pre || j as usize >= n_post {
                        return Err(invalid(
                            spec,
                            format!("synapse {k} connects pre {i} to post {j}, outside the {n_pre} pre and {n_post} post neurons"),
                        ));
                    }
                    pairs.push((i, j, w, d));
                }
            }
        }
        if let ParamValue::PerNeuron(_) = spec.weights {
            return Err(invalid(spec, "weights are a number or a distribution (per-synapse weights come from a connectivity file)"));
        }
        let n = pairs.len();
        let weights = values(&spec.weights, stream, 3, n);
        let delays_ms = match &spec.delays_ms {
            Some(ParamValue::PerNeuron(_)) => {
                return Err(invalid(spec, "delays are a number or a distribution (per-synapse delays come from a connectivity file)"))
            }
            Some(d) => values(d, stream, 4, n),
            None => vec![dt; n],
        };
        let mut synapses: Vec<(u32, u32, u32, f64)> = Vec::with_capacity(n);
        for (k, (i, j, w, d)) in pairs.into_iter().enumerate() {
            let w = w.unwrap_or(weights[k]);
            let d = d.unwrap_or(delays_ms[k]);
            if !w.is_finite() || !d.is_finite() || d < 0.0 {
                return Err(invalid(spec, format!("synapse {i} -> {j}: weight {w} and delay {d} ms must be finite, the delay >= 0")));
            }
            // round(d / dt) steps, at least 1 (a delay of 0 acts as dt). Every step of the
            // longest delay keeps its spikes, so delays are bounded.
            let rounded = (d / dt).round();
            if rounded > f64::from(MAX_DELAY_STEPS) {
                return Err(invalid(
                    spec,
                    format!("synapse {i} -> {j}: a delay of {d} ms is {rounded} steps of {dt} ms; at most {MAX_DELAY_STEPS} steps"),
                ));
            }
            let steps = (rounded as u32).max(1);
            synapses.push((i, steps, (post_range.start + j as usize) as u32, w));
        }
        synapses.sort_by_key(|s| (s.0, s.1, s.2));
        let mut starts = vec![0usize; n_pre + 1];
        for s in &synapses {
            starts[s.0 as usize + 1] += 1;
        }
        for i in 0..n_pre {
            starts[i + 1] += starts[i];
        }
        let posts: Vec<u32> = synapses.iter().map(|s| s.2).collect();
        let weights: Vec<f64> = synapses.iter().map(|s| s.3).collect();
        let model = match &spec.synapse {
            Some(def) if !def.is_default() => {
                let pre_of = synapses
                    .iter()
                    .map(|s| (pre_range.start + s.0 as usize) as u32)
                    .collect();
                Some(synapse_state(
                    spec,
                    def,
                    (pre, post),
                    &weights,
                    pre_of,
                    &posts,
                    stream,
                )?)
            }
            _ => {
                if let Some((name, _)) = spec.parameters.first() {
                    return Err(invalid(
                        spec,
                        format!("the default synapse has no parameter {name}"),
                    ));
                }
                None
            }
        };
        Ok(Self {
            name: spec.name.clone(),
            pre: pre_index,
            pre_range,
            post: post_index,
            target,
            starts,
            posts,
            weights,
            max_delay: synapses.iter().map(|s| s.1).max().unwrap_or(1),
            delays: synapses.iter().map(|s| s.1).collect(),
            model,
        })
    }

    /// Whether the projection runs a synapse model other than the default.
    pub(super) fn has_model(&self) -> bool {
        self.model.is_some()
    }

    /// Runs `pre_spike` for the synapses of `spikes` with delay `delay` (a synapse model):
    /// `g_target` changes go to `target`.
    pub(super) fn deliver_model(
        &mut self,
        spikes: &[u32],
        delay: u32,
        pops: &mut [Population],
        t: f64,
        dt: f64,
    ) {
        let Some(m) = &mut self.model else { return };
        for &s in spikes {
            let s = s as usize;
            if !self.pre_range.contains(&s) {
                continue;
            }
            let i = s - self.pre_range.start;
            for k in self.starts[i]..self.starts[i + 1] {
                if self.delays[k] != delay {
                    continue;
                }
                let post = self.posts[k] as usize;
                for st in &m.model.pre_spike {
                    let value = m.value(st, k, (self.pre, self.post), pops, t, dt);
                    match st.var {
                        Some(v) => m.vars[v][k] = assign(&st.kind, m.vars[v][k], value),
                        None => {
                            let g = &mut pops[self.post].vars[self.target][post];
                            *g = assign(&st.kind, *g, value);
                        }
                    }
                    let limits = m.limits(st, k, (self.pre, self.post), pops, t, dt);
                    let x = match st.var {
                        Some(v) => &mut m.vars[v][k],
                        None => &mut pops[self.post].vars[self.target][post],
                    };
                    clamp(x, limits);
                }
            }
        }
    }

    /// The synapse equations for every synapse, then `post_spike` for the synapses of post
    /// neurons that spiked (NETWORKS.md §3, step 4).
    pub(super) fn update_synapses(&mut self, pops: &[Population], step: i64, dt: f64) {
        let Some(m) = &mut self.model else { return };
        let t = step as f64 * dt;
        let sides = (self.pre, self.post);
        let mut derivatives = Vec::new();
        if let Some(e) = &mut m.engine {
            if e.w_parameter {
                let last = e.state.params.len() - 1;
                e.state.params[last] = Values::PerNeuron(m.vars[0].to_vec());
            }
            e.state.vars = e
                .vars
                .iter()
                .map(|&i| std::mem::take(&mut m.vars[i]))
                .collect();
            e.model
                .advance(&mut e.state, step, 1, dt, 1, &mut Vec::new());
            for (&i, column) in e.vars.iter().zip(e.state.vars.drain(..)) {
                m.vars[i] = column;
            }
        } else if !m.model.equations.is_empty() {
            // The statements are read while the state changes: taken out for the loop.
            let eqs = std::mem::take(&mut m.model.equations);
            let mut pending: Vec<usize> = Vec::new();
            for k in 0..self.posts.len() {
                pending.clear();
                for (j, st) in eqs.iter().enumerate() {
                    if matches!(st.kind, Kind::Ode { .. }) {
                        pending.push(j);
                        continue;
                    }
                    m.apply_odes(&eqs, &pending, k, sides, pops, (t, dt), &mut derivatives);
                    pending.clear();
                    let value = m.value(st, k, sides, pops, t, dt);
                    if let Some(v) = st.var {
                        m.vars[v][k] = assign(&st.kind, m.vars[v][k], value);
                        let limits = m.limits(st, k, sides, pops, t, dt);
                        clamp(&mut m.vars[v][k], limits);
                    }
                }
                m.apply_odes(&eqs, &pending, k, sides, pops, (t, dt), &mut derivatives);
            }
            m.model.equations = eqs;
        }
        if !m.model.post_spike.is_empty() {
            for &j in pops[self.post].last_spikes() {
                for &k in &m.by_post[j as usize] {
                    let k = k as usize;
                    for st in &m.model.post_spike {
                        let value = m.value(st, k, sides, pops, t, dt);
                        if let Some(v) = st.var {
                            m.vars[v][k] = assign(&st.kind, m.vars[v][k], value);
                            let limits = m.limits(st, k, sides, pops, t, dt);
                            clamp(&mut m.vars[v][k], limits);
                        }
                    }
                }
            }
        }
    }

    /// The synapse variable `name` of every synapse, in [`Projection::synapses`] order.
    pub fn synapse_variable(&self, name: &str) -> Option<Vec<f64>> {
        match &self.model {
            Some(m) => {
                let i = m.model.def.variables().iter().position(|v| *v == name)?;
                Some(m.vars[i].to_vec())
            }
            None => (name == "w").then(|| self.weights.clone()),
        }
    }

    /// Names of the per-synapse variables a monitor can record (`w` first).
    pub fn variable_names(&self) -> Vec<String> {
        match &self.model {
            Some(m) => m
                .model
                .def
                .variables()
                .iter()
                .map(|v| v.to_string())
                .collect(),
            None => vec!["w".to_string()],
        }
    }

    /// The values of variable `i` (an index of [`Projection::variable_names`]) of every
    /// synapse, in storage order (`None` for an index out of range).
    pub fn variable_values(&self, i: usize) -> Option<&[f64]> {
        match &self.model {
            Some(m) => m.vars.get(i).map(|c| &c[..]),
            None => (i == 0).then_some(&self.weights[..]),
        }
    }

    /// The synapse parameters with one value per synapse in storage order (empty for the
    /// default synapse).
    pub fn parameter_values(&self) -> Vec<(String, Vec<f64>)> {
        match &self.model {
            Some(m) => m
                .model
                .def
                .parameters
                .iter()
                .zip(&m.params)
                .map(|(p, v)| {
                    let values = if v.len() == self.len() {
                        v.clone()
                    } else {
                        vec![v.first().copied().unwrap_or(f64::NAN); self.len()]
                    };
                    (p.name.clone(), values)
                })
                .collect(),
            None => Vec::new(),
        }
    }

    /// The order in which monitors record the synapses: storage indices sorted by post
    /// neuron, then pre neuron (synapses of the same pair in storage order), with the
    /// `(post, pre)` of each.
    pub fn recording_order(&self) -> (Vec<u32>, Vec<(u32, u32)>) {
        let synapses = self.synapses();
        let mut order: Vec<u32> = (0..synapses.len() as u32).collect();
        order.sort_by_key(|&k| {
            let (pre, post, _, _) = synapses[k as usize];
            (post, pre, k)
        });
        let keys = order
            .iter()
            .map(|&k| {
                let (pre, post, _, _) = synapses[k as usize];
                (post, pre)
            })
            .collect();
        (order, keys)
    }

    /// Index of the post population's variable `g_<target>` that the projection feeds.
    pub fn target_variable(&self) -> usize {
        self.target
    }

    /// Index of the pre population in the network.
    pub fn pre_population(&self) -> usize {
        self.pre
    }

    /// Index of the post population in the network.
    pub fn post_population(&self) -> usize {
        self.post
    }

    /// The projection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of synapses.
    pub fn len(&self) -> usize {
        self.posts.len()
    }

    /// Whether the projection has no synapse.
    pub fn is_empty(&self) -> bool {
        self.posts.is_empty()
    }

    /// Every synapse as `(pre, post, w, delay in steps)`, ranks within the pre population and
    /// the post population, in storage order (by pre, delay, post).
    pub fn synapses(&self) -> Vec<(u32, u32, f64, u32)> {
        let w = self.synapse_variable("w").unwrap_or_default();
        let mut pre_of = Vec::with_capacity(self.len());
        for i in 0..self.starts.len() - 1 {
            let pre = (self.pre_range.start + i) as u32;
            pre_of.extend(std::iter::repeat_n(
                pre,
                self.starts[i + 1] - self.starts[i],
            ));
        }
        pre_of
            .into_iter()
            .zip(&self.posts)
            .zip(w)
            .zip(&self.delays)
            .map(|(((pre, post), w), delay)| (pre, *post, w, *delay))
            .collect()
    }

    /// Adds the weights of the synapses of pre neurons `spikes` (indices in the pre
    /// population, ascending) whose delay is `delay` to `target` (the post population's
    /// `g_<target>`).
    pub(super) fn deliver(&self, spikes: &[u32], delay: u32, target: &mut [f64]) {
        for &s in spikes {
            let s = s as usize;
            if !self.pre_range.contains(&s) {
                continue;
            }
            let i = s - self.pre_range.start;
            let row = self.starts[i]..self.starts[i + 1];
            for k in row {
                if self.delays[k] == delay {
                    target[self.posts[k] as usize] += self.weights[k];
                }
            }
        }
    }
}

/// Clamps to `(min, max)` where given.
fn clamp(x: &mut f64, (min, max): (Option<f64>, Option<f64>)) {
    if let Some(lo) = min {
        if *x < lo {
            *x = lo;
        }
    }
    if let Some(hi) = max {
        if *x > hi {
            *x = hi;
        }
    }
}

/// Builds a synapse model's state for the synapses of a projection.
fn synapse_state(
    spec: &ProjectionSpec,
    def: &SynapseDef,
    (pre, post): (&Population, &Population),
    weights: &[f64],
    pre_of: Vec<u32>,
    posts: &[u32],
    stream: Stream,
) -> Result<SynapseState, ProjectionError> {
    let names = SideNames {
        pre: pre.model().names(),
        post: post.model().names(),
    };
    let sides = names.sides();
    let model = CompiledSynapse::new(def, &sides)
        .map_err(|m| invalid(spec, format!("synapse {}: {m}", def.name)))?;
    let n = posts.len();
    let mut params = Vec::new();
    for (i, p) in def.parameters.iter().enumerate() {
        let value = spec
            .parameters
            .iter()
            .find(|(k, _)| *k == p.name)
            .map_or(ParamValue::Scalar(p.value), |(_, v)| v.clone());
        if let ParamValue::PerNeuron(_) = value {
            return Err(invalid(spec, format!("parameter {} of synapse {} is a number or a distribution (drawn per synapse), not a list", p.name, def.name)));
        }
        if p.population && !matches!(value, ParamValue::Scalar(_)) {
            return Err(invalid(
                spec,
                format!(
                    "parameter {} of synapse {} is declared `: projection`: give one number",
                    p.name, def.name
                ),
            ));
        }
        params.push(values(&value, stream, 16 + i as u64, n));
    }
    if let Some((k, _)) = spec
        .parameters
        .iter()
        .find(|(k, _)| !def.parameters.iter().any(|p| p.name == *k))
    {
        let known: Vec<&str> = def.parameters.iter().map(|p| p.name.as_str()).collect();
        return Err(invalid(
            spec,
            format!(
                "synapse {} has no parameter {k}; its parameters are: {}",
                def.name,
                known.join(", ")
            ),
        ));
    }
    let vars = def
        .variables()
        .iter()
        .map(|v| {
            if *v == "w" {
                return Column::from_slice(weights);
            }
            let init = def
                .equations
                .iter()
                .find_map(|e| (e.variable == *v).then_some(e.init).flatten())
                .unwrap_or(0.0);
            Column::filled(init, n)
        })
        .collect();
    let engine = synapse_engine(def, &params, n);
    let mut by_post = Vec::new();
    if !model.post_spike.is_empty() {
        by_post = vec![Vec::new(); post.size()];
        for (k, &j) in posts.iter().enumerate() {
            by_post[j as usize].push(k as u32);
        }
    }
    Ok(SynapseState {
        model,
        vars,
        params,
        engine,
        pre_of,
        post_of: posts.to_vec(),
        by_post,
    })
}

impl SynapseState {
    /// The value of a statement's right-hand side for synapse `k` (an ODE: its derivative).
    fn value(
        &self,
        st: &SStatement,
        k: usize,
        sides: (usize, usize),
        pops: &[Population],
        t: f64,
        dt: f64,
    ) -> f64 {
        let get = |r: Ref| self.get(r, k, sides, pops, t, dt);
        let x = st.rhs.eval(&get);
        match &st.factor {
            Some(f) => x / f.eval(&get),
            None => x,
        }
    }

    /// A statement's `min` and `max` for synapse `k`.
    fn limits(
        &self,
        st: &SStatement,
        k: usize,
        sides: (usize, usize),
        pops: &[Population],
        t: f64,
        dt: f64,
    ) -> (Option<f64>, Option<f64>) {
        let get = |r: Ref| self.get(r, k, sides, pops, t, dt);
        (
            st.min.as_ref().map(|m| m.eval(&get)),
            st.max.as_ref().map(|m| m.eval(&get)),
        )
    }

    fn get(
        &self,
        r: Ref,
        k: usize,
        (pre, post): (usize, usize),
        pops: &[Population],
        t: f64,
        dt: f64,
    ) -> f64 {
        let side = |pop: &Population, var: bool, i: usize, neuron: usize| {
            if var {
                pop.vars[i][neuron]
            } else {
                pop.params[i][neuron]
            }
        };
        match r {
            Ref::Var(i) => self.vars[i][k],
            Ref::Param(i) => self.params[i][k],
            Ref::Pre(var, i) => side(&pops[pre], var, i, self.pre_of[k] as usize),
            Ref::Post(var, i) => {
                let j = self.by_post_index(k);
                side(&pops[post], var, i, j)
            }
            Ref::Time => t,
            Ref::Dt => dt,
        }
    }

    /// The post neuron of synapse `k`.
    fn by_post_index(&self, k: usize) -> usize {
        self.post_of[k] as usize
    }

    /// Applies a block of ODEs to synapse `k`: every derivative from the old values, then
    /// every explicit Euler step.
    #[allow(clippy::too_many_arguments)]
    fn apply_odes(
        &mut self,
        eqs: &[SStatement],
        block: &[usize],
        k: usize,
        sides: (usize, usize),
        pops: &[Population],
        (t, dt): (f64, f64),
        derivatives: &mut Vec<f64>,
    ) {
        if block.is_empty() {
            return;
        }
        derivatives.clear();
        for &j in block {
            derivatives.push(self.value(&eqs[j], k, sides, pops, t, dt));
        }
        for (n, &j) in block.iter().enumerate() {
            let Some(v) = eqs[j].var else { continue };
            self.vars[v][k] += dt * derivatives[n];
            let limits = self.limits(&eqs[j], k, sides, pops, t, dt);
            clamp(&mut self.vars[v][k], limits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_draws_distinct_sorted_values_without_the_skipped_one() {
        let stream = Stream { seed: 1, stream: 2 };
        for row in 0..50 {
            let c = choose(20, 7, Some(3), stream, 0, row);
            assert_eq!(c.len(), 7);
            assert!(c.windows(2).all(|w| w[0] < w[1]));
            assert!(!c.contains(&3));
        }
        assert_eq!(choose(5, 9, None, stream, 0, 0), [0, 1, 2, 3, 4]);
    }
}
