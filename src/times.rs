//! Recording times (SPEC §3, CompNeuroPy's `RecordingTimes`): for every chunk and
//! compartment the recording periods as integer step pairs `[start, pause)`, and what is
//! derived from them — first/last sample in ms and the sample-index range of each period.
//!
//! Everything here is computed from step pairs, the compartment's period in steps and the
//! time grid, so it can be rebuilt from an archive's metadata as well as from live monitors.

use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

use crate::recordings::ChunkRecordings;
use crate::sim::TimeGrid;

/// Errors of [`RecordingTimes`] queries: out-of-range or unknown arguments.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimesError {
    #[error("no recordings/recording times available (no chunk was recorded)")]
    Empty,
    #[error("chunk {chunk} not available; there are {available} chunks (0..{available})")]
    UnknownChunk { chunk: usize, available: usize },
    #[error("compartment \"{name}\" not available in chunk {chunk}; compartments: {known}")]
    UnknownCompartment {
        name: String,
        chunk: usize,
        known: String,
    },
    #[error("period {period} not available for \"{compartment}\" in chunk {chunk}; it has {available} periods")]
    UnknownPeriod {
        period: usize,
        compartment: String,
        chunk: usize,
        available: usize,
    },
    #[error("\"{compartment}\" has no recording period in chunk {chunk}")]
    NoPeriods { compartment: String, chunk: usize },
    #[error("\"{key}\" is not of the form \"compartment;variable\" (e.g. \"my_pop1;v\")")]
    BadKey { key: String },
    #[error("\"{key}\" is not in the recordings of chunk {chunk}; recorded there: {known}")]
    UnknownRecording {
        key: String,
        chunk: usize,
        known: String,
    },
    #[error("the recordings have {recordings} chunks but the recording times have {times}; pass recordings and times of the same set")]
    Mismatch { recordings: usize, times: usize },
    #[error("spikes cannot be combined into a time series; use a state variable such as \"{compartment};v\"")]
    SpikesNotCombinable { compartment: String },
    #[error("unknown mode \"{mode}\"; use \"sequential\" or \"consecutive\"")]
    UnknownMode { mode: String },
    #[error("unknown fill \"{fill}\"; use \"none\", \"nan\", \"interpolate\" or a number")]
    UnknownFill { fill: String },
    #[error("filling the pauses of \"{key}\" needs {rows} rows of {neurons} neurons, more than memory holds; use fill \"none\", or combine fewer chunks")]
    TooLarge {
        key: String,
        rows: u128,
        neurons: usize,
    },
}

/// The periods of one compartment in one chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompartmentTimes {
    /// Compartment (population) name.
    pub name: String,
    /// Sampling period of its state variables, in steps.
    pub period_steps: i64,
    /// Recording periods as step pairs `[start, pause)`, each with `start < pause`.
    pub pairs: Vec<(i64, i64)>,
    /// First sample of each period, in ms.
    pub start_ms: Vec<f64>,
    /// Last sample of each period, in ms (below `start_ms` for a period without samples).
    pub stop_ms: Vec<f64>,
    /// Sample index of each period's first sample (indices run on across periods).
    pub start_idx: Vec<i64>,
    /// Sample index of each period's last sample (`start_idx - 1` for a period without samples).
    pub stop_idx: Vec<i64>,
}

/// First sample step, last sample step and sample count of `[s0, s1)` on a grid of `p` steps.
pub fn pair_samples(s0: i64, s1: i64, p: i64) -> (i64, i64, i64) {
    let first = s0.div_euclid(p) * p + if s0.rem_euclid(p) == 0 { 0 } else { p };
    let last = (s1.div_euclid(p) + if s1.rem_euclid(p) == 0 { 0 } else { 1 }) * p - p;
    let count = ((last - first) / p + 1).max(0);
    (first, last, count)
}

impl CompartmentTimes {
    /// Derives the ms and index tables from step pairs.
    pub fn from_pairs(
        name: &str,
        period_steps: i64,
        pairs: Vec<(i64, i64)>,
        grid: &TimeGrid,
    ) -> Self {
        let mut t = CompartmentTimes {
            name: name.to_string(),
            period_steps,
            start_ms: Vec::with_capacity(pairs.len()),
            stop_ms: Vec::with_capacity(pairs.len()),
            start_idx: Vec::with_capacity(pairs.len()),
            stop_idx: Vec::with_capacity(pairs.len()),
            pairs,
        };
        let mut samples = 0i64;
        for &(s0, s1) in &t.pairs {
            let (first, last, count) = pair_samples(s0, s1, period_steps);
            t.start_ms.push(grid.step_to_ms(first));
            t.stop_ms.push(grid.step_to_ms(last));
            t.start_idx.push(samples);
            samples += count;
            t.stop_idx.push(samples - 1);
        }
        t
    }

    /// Number of state samples over all periods.
    pub fn samples(&self) -> i64 {
        self.stop_idx.last().map_or(0, |s| s + 1)
    }

    /// The steps of every sample over all periods, in order.
    pub fn sample_steps(&self) -> Vec<i64> {
        let p = self.period_steps;
        let mut out = Vec::with_capacity(self.samples().max(0) as usize);
        for &(s0, s1) in &self.pairs {
            let (first, _, count) = pair_samples(s0, s1, p);
            out.extend((0..count).map(|i| first + i * p));
        }
        out
    }
}

fn is_zero(x: &i64) -> bool {
    *x == 0
}

/// The recording times of one chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkTimes {
    /// First simulated step of the chunk.
    pub first_step: i64,
    /// One past the last simulated step of the chunk.
    pub end_step: i64,
    /// Steps simulated since the previous kept chunk of the set in chunks that were dropped
    /// because they recorded nothing: `combine_chunks(consecutive)` counts them, so a chunk
    /// after an empty one lands where it was simulated.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_steps: i64,
    /// Per compartment, in monitor order.
    pub compartments: Vec<CompartmentTimes>,
}

impl ChunkTimes {
    /// The compartment named `name`.
    pub fn compartment(&self, name: &str) -> Option<&CompartmentTimes> {
        self.compartments.iter().find(|c| c.name == name)
    }
}

/// How [`RecordingTimes::combine_periods`] fills the pauses between periods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// Only the recorded samples, pauses are left out.
    None,
    /// Pauses on the sample grid filled with NaN (plots show them as gaps).
    Nan,
    /// Pauses filled by linear interpolation between the samples around them.
    Interpolate,
    /// Pauses filled with a constant.
    Value(f64),
}

impl std::str::FromStr for Fill {
    type Err = TimesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Fill::None),
            "nan" => Ok(Fill::Nan),
            "interpolate" => Ok(Fill::Interpolate),
            other => other
                .parse::<f64>()
                .map(Fill::Value)
                .map_err(|_| TimesError::UnknownFill {
                    fill: s.to_string(),
                }),
        }
        .and_then(|f| match (f, s) {
            (Fill::Value(x), _) if x.is_nan() && s != "nan" => Err(TimesError::UnknownFill {
                fill: s.to_string(),
            }),
            (f, _) => Ok(f),
        })
    }
}

/// How [`RecordingTimes::combine_chunks`] places chunks on one time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CombineMode {
    /// Every chunk keeps its own times (time jumps back after a model reset).
    Sequential,
    /// Each chunk starts where the previous one's simulation ended.
    Consecutive,
}

impl std::str::FromStr for CombineMode {
    type Err = TimesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sequential" => Ok(CombineMode::Sequential),
            "consecutive" => Ok(CombineMode::Consecutive),
            _ => Err(TimesError::UnknownMode {
                mode: s.to_string(),
            }),
        }
    }
}

/// Recording times of every chunk of one set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingTimes {
    /// The time step in ms.
    pub dt_ms: f64,
    /// Per chunk, in order.
    pub chunks: Vec<ChunkTimes>,
}

/// `{"start": {"ms": [...], "idx": [...]}, "stop": {...}}`, as CompNeuroPy's `all()` gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lims {
    pub start: MsIdx,
    pub stop: MsIdx,
}

/// One side (start or stop) of every period, in ms and as sample index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MsIdx {
    pub ms: Vec<f64>,
    pub idx: Vec<i64>,
}

impl RecordingTimes {
    /// Times of the given chunks on the grid of `dt_ms`.
    pub fn new(dt_ms: f64, chunks: Vec<ChunkTimes>) -> Self {
        Self { dt_ms, chunks }
    }

    /// Number of chunks.
    pub fn nr_chunks(&self) -> usize {
        self.chunks.len()
    }

    fn chunk(&self, chunk: Option<usize>) -> Result<(usize, &ChunkTimes), TimesError> {
        if self.chunks.is_empty() {
            return Err(TimesError::Empty);
        }
        let c = chunk.unwrap_or(0);
        self.chunks
            .get(c)
            .map(|t| (c, t))
            .ok_or(TimesError::UnknownChunk {
                chunk: c,
                available: self.chunks.len(),
            })
    }

    /// The times of one compartment in one chunk (defaults: first chunk, first compartment).
    pub fn compartment(
        &self,
        chunk: Option<usize>,
        compartment: Option<&str>,
    ) -> Result<&CompartmentTimes, TimesError> {
        let (c, times) = self.chunk(chunk)?;
        let found = match compartment {
            None => times.compartments.first(),
            Some(name) => times.compartment(name),
        };
        found.ok_or_else(|| TimesError::UnknownCompartment {
            name: compartment.unwrap_or("").to_string(),
            chunk: c,
            known: times
                .compartments
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    fn period_range(
        &self,
        chunk: Option<usize>,
        compartment: Option<&str>,
        period: Option<usize>,
    ) -> Result<(&CompartmentTimes, usize, usize), TimesError> {
        let t = self.compartment(chunk, compartment)?;
        let n = t.pairs.len();
        match period {
            None if n == 0 => Err(TimesError::NoPeriods {
                compartment: t.name.clone(),
                chunk: chunk.unwrap_or(0),
            }),
            None => Ok((t, 0, n - 1)),
            Some(p) if p < n => Ok((t, p, p)),
            Some(p) => Err(TimesError::UnknownPeriod {
                period: p,
                compartment: t.name.clone(),
                chunk: chunk.unwrap_or(0),
                available: n,
            }),
        }
    }

    /// `(start, stop)` in ms of one period, or of all periods (first start, last stop).
    pub fn time_lims(
        &self,
        chunk: Option<usize>,
        compartment: Option<&str>,
        period: Option<usize>,
    ) -> Result<(f64, f64), TimesError> {
        let (t, p0, p1) = self.period_range(chunk, compartment, period)?;
        Ok((t.start_ms[p0], t.stop_ms[p1]))
    }

    /// `(start, stop)` sample indices of one period, or of all periods.
    pub fn idx_lims(
        &self,
        chunk: Option<usize>,
        compartment: Option<&str>,
        period: Option<usize>,
    ) -> Result<(i64, i64), TimesError> {
        let (t, p0, p1) = self.period_range(chunk, compartment, period)?;
        Ok((t.start_idx[p0], t.stop_idx[p1]))
    }

    /// Number of periods of a compartment in a chunk.
    pub fn nr_periods(
        &self,
        chunk: Option<usize>,
        compartment: Option<&str>,
    ) -> Result<usize, TimesError> {
        Ok(self.compartment(chunk, compartment)?.pairs.len())
    }

    /// Every chunk's tables as CompNeuroPy's `all()` gives them: per chunk, compartment ->
    /// start/stop in ms and idx, compartments in monitor order.
    pub fn all(&self) -> Vec<Vec<(String, Lims)>> {
        self.chunks
            .iter()
            .map(|chunk| {
                chunk
                    .compartments
                    .iter()
                    .map(|c| {
                        (
                            c.name.clone(),
                            Lims {
                                start: MsIdx {
                                    ms: c.start_ms.clone(),
                                    idx: c.start_idx.clone(),
                                },
                                stop: MsIdx {
                                    ms: c.stop_ms.clone(),
                                    idx: c.stop_idx.clone(),
                                },
                            },
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// [`all`](Self::all) as JSON with exactly CompNeuroPy's structure (a list of objects).
    pub fn all_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.all()
                .into_iter()
                .map(|chunk| {
                    let map: serde_json::Map<String, serde_json::Value> = chunk
                        .into_iter()
                        .map(|(name, lims)| (name, serde_json::to_value(lims).unwrap_or_default()))
                        .collect();
                    serde_json::Value::Object(map)
                })
                .collect(),
        )
    }

    fn grid(&self) -> TimeGrid {
        // dt was validated when the times were made; fall back to a raw grid otherwise.
        TimeGrid::new(self.dt_ms)
            .unwrap_or_else(|_| TimeGrid::new(1.0).unwrap_or_else(|_| unreachable!()))
    }

    /// One chunk's recording of `"compartment;variable"` on the time axis of its periods,
    /// with pauses handled by `fill`. Returns `(time_ms, data[samples, neurons])`.
    pub fn combine_periods(
        &self,
        recordings: &[ChunkRecordings],
        key: &str,
        chunk: Option<usize>,
        fill: Fill,
    ) -> Result<(Vec<f64>, Array2<f64>), TimesError> {
        let (c, _) = self.chunk(chunk)?;
        let (compartment, data) = lookup(recordings, self, key, c)?;
        let times = self.compartment(Some(c), Some(compartment))?;
        let (steps, data) = fill_gaps(&times.sample_steps(), data, times.period_steps, fill)
            .ok_or_else(|| too_large(key, &times.sample_steps(), times.period_steps, data))?;
        let grid = self.grid();
        Ok((
            steps.into_iter().map(|s| grid.step_to_ms(s)).collect(),
            data,
        ))
    }

    /// All chunks' recordings of `"compartment;variable"` on one time axis, pauses and gaps
    /// between chunks filled with NaN rows on the sample grid (as CompNeuroPy does).
    ///
    /// `Consecutive` places each chunk right after the simulated end of the previous one
    /// (from the chunk's simulated step range, so an unrecorded chunk end counts too);
    /// `Sequential` keeps each chunk's own times.
    pub fn combine_chunks(
        &self,
        recordings: &[ChunkRecordings],
        key: &str,
        mode: CombineMode,
    ) -> Result<(Vec<f64>, Array2<f64>), TimesError> {
        if self.chunks.is_empty() {
            return Err(TimesError::Empty);
        }
        let mut all_steps: Vec<i64> = Vec::new();
        let mut blocks: Vec<Array2<f64>> = Vec::new();
        let mut offset = 0i64;
        let mut period = 1;
        for (c, chunk) in self.chunks.iter().enumerate() {
            if c > 0 && mode == CombineMode::Consecutive {
                let prev = &self.chunks[c - 1];
                // i128: the steps come from files, which may hold anything.
                let shift = i128::from(prev.end_step) - i128::from(chunk.first_step)
                    + i128::from(chunk.skipped_steps);
                offset = i64::try_from(i128::from(offset) + shift).map_err(|_| {
                    TimesError::TooLarge {
                        key: key.to_string(),
                        rows: u128::MAX,
                        neurons: 0,
                    }
                })?;
            }
            let (compartment, data) = lookup(recordings, self, key, c)?;
            let times = self.compartment(Some(c), Some(compartment))?;
            period = times.period_steps;
            all_steps.extend(
                times
                    .sample_steps()
                    .into_iter()
                    .map(|s| s.saturating_add(offset)),
            );
            blocks.push(data.clone());
        }
        let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
        let data = ndarray::concatenate(Axis(0), &views).unwrap_or_else(|_| Array2::zeros((0, 0)));
        let (steps, data) = fill_gaps(&all_steps, &data, period, Fill::Nan)
            .ok_or_else(|| too_large(key, &all_steps, period, &data))?;
        let grid = self.grid();
        Ok((
            steps.into_iter().map(|s| grid.step_to_ms(s)).collect(),
            data,
        ))
    }
}

/// Finds `"compartment;variable"` in chunk `c` of `recordings`.
fn lookup<'a>(
    recordings: &'a [ChunkRecordings],
    times: &RecordingTimes,
    key: &str,
    c: usize,
) -> Result<(&'a str, &'a Array2<f64>), TimesError> {
    if recordings.len() != times.chunks.len() {
        return Err(TimesError::Mismatch {
            recordings: recordings.len(),
            times: times.chunks.len(),
        });
    }
    let (compartment, variable) = key.split_once(';').ok_or_else(|| TimesError::BadKey {
        key: key.to_string(),
    })?;
    if variable == "spike" {
        return Err(TimesError::SpikesNotCombinable {
            compartment: compartment.to_string(),
        });
    }
    let rec = &recordings[c];
    rec.compartment(compartment)
        .and_then(|comp| comp.variable(variable).map(|d| (comp.name.as_str(), d)))
        .ok_or_else(|| TimesError::UnknownRecording {
            key: key.to_string(),
            chunk: c,
            known: rec.keys().join(", "),
        })
}

/// Inserts rows on the `period` grid where consecutive sample steps are more than one period
/// apart (never where time goes backwards), filled as `fill` says.
/// Rows `steps` fill to on a grid of `period`: every sample, plus the grid points inside
/// the gaps between consecutive samples (none where time goes backwards).
fn filled_rows(steps: &[i64], period: i64) -> u128 {
    let period = i128::from(period.max(1));
    let gaps: i128 = steps
        .windows(2)
        .map(|w| ((i128::from(w[1]) - i128::from(w[0]) - 1) / period).max(0))
        .sum();
    steps.len() as u128 + gaps as u128
}

/// The [`TimesError::TooLarge`] of a fill that could not be allocated.
fn too_large(key: &str, steps: &[i64], period: i64, data: &Array2<f64>) -> TimesError {
    TimesError::TooLarge {
        key: key.to_string(),
        rows: filled_rows(steps, period),
        neurons: data.ncols(),
    }
}

/// The samples with the grid points of the pauses filled as `fill` says; `None` when that
/// needs more memory than can be had (steps from a damaged archive can ask for anything).
fn fill_gaps(
    steps: &[i64],
    data: &Array2<f64>,
    period: i64,
    fill: Fill,
) -> Option<(Vec<i64>, Array2<f64>)> {
    let neurons = data.ncols();
    if fill == Fill::None || steps.len() < 2 {
        return Some((steps.to_vec(), data.clone()));
    }
    let period = period.max(1);
    let rows = usize::try_from(filled_rows(steps, period)).ok()?;
    let mut out_steps: Vec<i64> = Vec::new();
    out_steps.try_reserve_exact(rows).ok()?;
    let mut out: Vec<f64> = Vec::new();
    out.try_reserve_exact(rows.checked_mul(neurons)?).ok()?;
    for (i, &s) in steps.iter().enumerate() {
        if i > 0 {
            let prev = steps[i - 1];
            let mut g = prev + period;
            while g < s {
                out_steps.push(g);
                let frac = (g - prev) as f64 / (s - prev) as f64;
                for n in 0..neurons {
                    out.push(match fill {
                        Fill::Nan | Fill::None => f64::NAN,
                        Fill::Value(x) => x,
                        Fill::Interpolate => {
                            let a = data[[i - 1, n]];
                            let b = data[[i, n]];
                            a + (b - a) * frac
                        }
                    });
                }
                g += period;
            }
        }
        out_steps.push(s);
        out.extend(data.row(i).iter().copied());
    }
    let rows = out_steps.len();
    let arr = Array2::from_shape_vec((rows, neurons), out).ok()?;
    Some((out_steps, arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_arithmetic_matches_spec() {
        assert_eq!(pair_samples(1000, 2000, 20), (1000, 1980, 50));
        assert_eq!(pair_samples(1001, 1010, 20), (1020, 1000, 0));
        assert_eq!(pair_samples(1001, 1021, 20), (1020, 1020, 1));
        assert_eq!(pair_samples(0, 1000, 1), (0, 999, 1000));
        assert_eq!(pair_samples(5, 6, 1), (5, 5, 1));
    }

    fn sample_times() -> RecordingTimes {
        let grid = TimeGrid::new(0.1).unwrap();
        RecordingTimes::new(
            0.1,
            vec![ChunkTimes {
                first_step: 0,
                end_step: 7000,
                skipped_steps: 0,
                compartments: vec![
                    CompartmentTimes::from_pairs(
                        "a",
                        20,
                        vec![(1000, 2000), (3000, 5000), (5001, 5010)],
                        &grid,
                    ),
                    CompartmentTimes::from_pairs("b", 1, vec![], &grid),
                ],
            }],
        )
    }

    #[test]
    fn lims_and_errors() {
        let t = sample_times();
        // With no period given: first start, last stop (here of the zero-sample period).
        assert_eq!(t.time_lims(None, None, None).unwrap(), (100.0, 500.0));
        assert_eq!(t.time_lims(None, None, Some(1)).unwrap(), (300.0, 498.0));
        assert_eq!(t.idx_lims(None, Some("a"), Some(1)).unwrap(), (50, 149));
        // A period without samples: stop index one below its start index.
        assert_eq!(t.idx_lims(None, Some("a"), Some(2)).unwrap(), (150, 149));
        assert_eq!(t.nr_periods(Some(0), Some("b")).unwrap(), 0);
        assert!(matches!(
            t.time_lims(Some(1), None, None),
            Err(TimesError::UnknownChunk { .. })
        ));
        assert!(matches!(
            t.time_lims(None, Some("x"), None),
            Err(TimesError::UnknownCompartment { .. })
        ));
        assert!(matches!(
            t.time_lims(None, Some("a"), Some(3)),
            Err(TimesError::UnknownPeriod { .. })
        ));
        assert!(matches!(
            t.time_lims(None, Some("b"), None),
            Err(TimesError::NoPeriods { .. })
        ));
        assert!(matches!(
            RecordingTimes::new(0.1, vec![]).idx_lims(None, None, None),
            Err(TimesError::Empty)
        ));
        let json = t.all_json();
        assert_eq!(json[0]["a"]["stop"]["idx"][1], 149);
        assert_eq!(json[0]["b"]["start"]["ms"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn a_fill_larger_than_memory_is_refused() {
        let data = Array2::from_shape_vec((2, 1000), vec![0.0; 2000]).unwrap();
        assert_eq!(filled_rows(&[0, 1 << 50], 1), (1 << 50) + 1);
        assert_eq!(filled_rows(&[0, 10, 5, 25], 5), 4 + 1 + 3);
        assert!(fill_gaps(&[0, 1 << 50], &data, 1, Fill::Nan).is_none());
        assert!(fill_gaps(&[0, 1 << 50], &data, 1, Fill::None).is_some());
    }

    #[test]
    fn fill_modes() {
        let data = Array2::from_shape_vec((3, 1), vec![0.0, 1.0, 4.0]).unwrap();
        let (s, d) = fill_gaps(&[0, 1, 4], &data, 1, Fill::Nan).unwrap();
        assert_eq!(s, vec![0, 1, 2, 3, 4]);
        assert!(d[[2, 0]].is_nan() && d[[3, 0]].is_nan());
        let (_, d) = fill_gaps(&[0, 1, 4], &data, 1, Fill::Interpolate).unwrap();
        assert_eq!(d.column(0).to_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        let (_, d) = fill_gaps(&[0, 1, 4], &data, 1, Fill::Value(-1.0)).unwrap();
        assert_eq!(d.column(0).to_vec(), vec![0.0, 1.0, -1.0, -1.0, 4.0]);
        let (s, _) = fill_gaps(&[0, 1, 4], &data, 1, Fill::None).unwrap();
        assert_eq!(s, vec![0, 1, 4]);
        // Time going backwards (sequential chunks) is never filled.
        let (s, _) = fill_gaps(&[5, 6, 0], &data, 1, Fill::Nan).unwrap();
        assert_eq!(s, vec![5, 6, 0]);
        assert_eq!("2.5".parse::<Fill>().unwrap(), Fill::Value(2.5));
        assert!("x".parse::<Fill>().is_err());
        assert!("other".parse::<CombineMode>().is_err());
    }
}
