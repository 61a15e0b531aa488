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
use crate::model::eval::{draw, normal, Stream};

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
                for j in 0..n_post {
                    let skip = same
                        .then(|| (post_range.start + j).checked_sub(pre_range.start))
                        .flatten()
                        .filter(|i| *i < n_pre);
                    if *k > n_pre - usize::from(skip.is_some()) {
                        return Err(invalid(
                            spec,
                            format!("fixed_number_pre = {k} is more than the {n_pre} pre neurons"),
                        ));
                    }
                    for i in choose(n_pre, *k, skip, stream, 1, j as u64) {
                        pairs.push((i, j as u32, None, None));
                    }
                }
            }
            Connector::FixedNumberPost(k) => {
                for i in 0..n_pre {
                    let skip = same
                        .then(|| (pre_range.start + i).checked_sub(post_range.start))
                        .flatten()
                        .filter(|j| *j < n_post);
                    if *k > n_post - usize::from(skip.is_some()) {
                        return Err(invalid(
                            spec,
                            format!(
                                "fixed_number_post = {k} is more than the {n_post} post neurons"
                            ),
                        ));
                    }
                    for j in choose(n_post, *k, skip, stream, 2, i as u64) {
                        pairs.push((i as u32, j, None, None));
                    }
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
            // round(d / dt) steps, at least 1 (a delay of 0 acts as dt).
            let steps = ((d / dt).round() as u32).max(1);
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
        Ok(Self {
            name: spec.name.clone(),
            pre: pre_index,
            pre_range,
            post: post_index,
            target,
            starts,
            posts: synapses.iter().map(|s| s.2).collect(),
            weights: synapses.iter().map(|s| s.3).collect(),
            max_delay: synapses.iter().map(|s| s.1).max().unwrap_or(1),
            delays: synapses.iter().map(|s| s.1).collect(),
        })
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
        let mut out = Vec::with_capacity(self.len());
        for i in 0..self.starts.len() - 1 {
            for k in self.starts[i]..self.starts[i + 1] {
                let pre = (self.pre_range.start + i) as u32;
                out.push((pre, self.posts[k], self.weights[k], self.delays[k]));
            }
        }
        out
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
