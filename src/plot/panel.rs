//! The data of each subplot, reduced while the archive is streamed: a variable's samples
//! to pixel columns (a min/max envelope or a mean), spikes as they are, and the
//! population rate of a spike subplot.

use super::expr::Expr;

/// How samples map to the columns of a variable subplot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Columns {
    /// Every sample is a column (no more samples than pixels).
    Exact,
    /// Samples are binned into `bins` columns of `width` ms from `start`: each column is
    /// drawn as the min/max envelope (lines) or the mean (matrix) of its samples.
    Binned { start: f64, width: f64, bins: usize },
}

/// One column of a variable subplot: a sample, or a bin of samples.
pub(super) struct Column {
    key: i64,
    pub(super) t: f64,
    /// A pause lies between this column and the previous one: lines are not joined.
    pub(super) gap_before: bool,
    /// Lines: per row min and max. Matrix: per row sum and count.
    pub(super) a: Vec<f64>,
    pub(super) b: Vec<f64>,
    /// Matrix: per row the smallest and largest value (empty for lines).
    pub(super) min: Vec<f64>,
    pub(super) max: Vec<f64>,
}

impl Column {
    /// The value a matrix cell shows: of its smallest and largest value, the one farther
    /// from the cell's mean, so a spike inside a binned cell keeps its colour (a cell of one
    /// value shows it); `None` for an empty cell.
    pub(super) fn cell(&self, row: usize) -> Option<f64> {
        let (sum, n) = (*self.a.get(row)?, *self.b.get(row)?);
        if n == 0.0 {
            return None;
        }
        let mean = sum / n;
        let (lo, hi) = (*self.min.get(row)?, *self.max.get(row)?);
        Some(if hi - mean >= mean - lo { hi } else { lo })
    }
}

/// A variable subplot reduced while the archive is streamed: memory is bounded by the
/// number of pixel columns times the rows drawn, whatever the length of the chunk.
pub(super) struct VarPanel {
    pub(super) title: String,
    expr: Expr,
    /// Index in the scanned columns of each of `expr.variables()`.
    inputs: Vec<usize>,
    pub(super) matrix: bool,
    pub(super) mean: bool,
    pub(super) neurons: usize,
    /// Output row of each neuron (lines: the neuron; matrix: a band of neurons).
    row_of: Vec<u32>,
    pub(super) rows: usize,
    pub(super) columns: Columns,
    dt: f64,
    pub(super) period_ms: f64,
    pub(super) cols: Vec<Column>,
    last_step: Option<i64>,
    sample_sum: f64,
    sample_n: usize,
    pub(super) lo: f64,
    pub(super) hi: f64,
    scratch: Vec<f64>,
}

/// What a variable subplot's reduction depends on besides its expression.
pub(super) struct PanelShape {
    pub(super) neurons: usize,
    pub(super) window: (f64, f64),
    pub(super) period_ms: f64,
    pub(super) dt: f64,
    /// Drawable pixels (width, height).
    pub(super) pixels: (usize, usize),
}

impl VarPanel {
    pub(super) fn new(
        title: String,
        expr: Expr,
        inputs: Vec<usize>,
        format: &str,
        shape: &PanelShape,
    ) -> Self {
        let PanelShape {
            neurons,
            window,
            period_ms,
            dt,
            pixels: (px_w, px_h),
        } = *shape;
        let matrix = format.starts_with("matrix");
        let mean = format.ends_with("_mean");
        let rows = if mean {
            1
        } else if matrix {
            neurons.clamp(1, px_h.max(1))
        } else {
            neurons.max(1)
        };
        let row_of = (0..neurons)
            .map(|n| (n * rows / neurons.max(1)) as u32)
            .collect();
        // At most one sample per period fits in the window: bin only when that exceeds the
        // pixel columns.
        let samples = (window.1 - window.0) / period_ms + 1.0;
        let columns = if samples <= px_w as f64 {
            Columns::Exact
        } else {
            Columns::Binned {
                start: window.0,
                width: (window.1 - window.0) / px_w as f64,
                bins: px_w,
            }
        };
        VarPanel {
            title,
            expr,
            inputs,
            matrix,
            mean,
            neurons,
            row_of,
            rows,
            columns,
            dt,
            period_ms,
            cols: Vec::new(),
            last_step: None,
            sample_sum: 0.0,
            sample_n: 0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            scratch: Vec::new(),
        }
    }

    fn start_sample(&mut self, step: i64) {
        let t = step as f64 * self.dt;
        let gap = self
            .last_step
            .is_some_and(|last| (step - last) as f64 * self.dt > self.period_ms * 1.5);
        let (key, t_col) = match self.columns {
            Columns::Exact => (step, t),
            Columns::Binned { start, width, bins } => {
                let k = (((t - start) / width).floor().max(0.0) as i64).min(bins as i64 - 1);
                (k, start + (k as f64 + 0.5) * width)
            }
        };
        if gap || self.cols.last().is_none_or(|c| c.key != key) {
            let (a, b) = if self.matrix {
                (vec![0.0; self.rows], vec![0.0; self.rows])
            } else {
                (
                    vec![f64::INFINITY; self.rows],
                    vec![f64::NEG_INFINITY; self.rows],
                )
            };
            let (min, max) = if self.matrix && !self.mean {
                (
                    vec![f64::INFINITY; self.rows],
                    vec![f64::NEG_INFINITY; self.rows],
                )
            } else {
                (Vec::new(), Vec::new())
            };
            self.cols.push(Column {
                key,
                t: t_col,
                gap_before: gap,
                a,
                b,
                min,
                max,
            });
        }
        self.last_step = Some(step);
    }

    fn put(&mut self, row: usize, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.lo = self.lo.min(v);
        self.hi = self.hi.max(v);
        let Some(col) = self.cols.last_mut() else {
            return;
        };
        if self.matrix {
            col.a[row] += v;
            col.b[row] += 1.0;
            if let (Some(lo), Some(hi)) = (col.min.get_mut(row), col.max.get_mut(row)) {
                *lo = lo.min(v);
                *hi = hi.max(v);
            }
        } else {
            col.a[row] = col.a[row].min(v);
            col.b[row] = col.b[row].max(v);
        }
    }

    pub(super) fn flush_mean(&mut self) {
        if self.mean && self.sample_n > 0 {
            let m = self.sample_sum / self.sample_n as f64;
            self.put(0, m);
        }
        self.sample_sum = 0.0;
        self.sample_n = 0;
    }

    /// Consumes rows sorted by step then neuron; `values[k]` is the k-th scanned variable.
    pub(super) fn feed(&mut self, steps: &[i64], neurons: &[u32], values: &[&[f64]]) {
        let mut computed = Vec::new();
        let column: &[f64] = if self.expr.is_variable() {
            values[self.inputs[0]]
        } else {
            computed.reserve(steps.len());
            // Row r of every input column (one column per variable of the expression).
            #[allow(clippy::needless_range_loop)]
            for r in 0..steps.len() {
                self.scratch.clear();
                self.scratch
                    .extend(self.inputs.iter().map(|k| values[*k][r]));
                computed.push(self.expr.eval(&self.scratch));
            }
            &computed
        };
        let mut i = 0;
        while i < steps.len() {
            let step = steps[i];
            let j = i + steps[i..].partition_point(|s| *s == step);
            if self.last_step != Some(step) {
                self.flush_mean();
                self.start_sample(step);
            }
            let (vals, nrns) = (&column[i..j], &neurons[i..j]);
            if self.mean {
                for v in vals.iter().filter(|v| v.is_finite()) {
                    self.sample_sum += v;
                    self.sample_n += 1;
                }
            } else if let Some(col) = self.cols.last_mut() {
                let (mut lo, mut hi) = (self.lo, self.hi);
                for (v, n) in vals.iter().zip(nrns) {
                    if !v.is_finite() {
                        continue;
                    }
                    lo = lo.min(*v);
                    hi = hi.max(*v);
                    let row = self.row_of.get(*n as usize).copied().unwrap_or(0) as usize;
                    if self.matrix {
                        col.a[row] += v;
                        col.b[row] += 1.0;
                        if let (Some(lo), Some(hi)) = (col.min.get_mut(row), col.max.get_mut(row)) {
                            *lo = lo.min(*v);
                            *hi = hi.max(*v);
                        }
                    } else {
                        col.a[row] = col.a[row].min(*v);
                        col.b[row] = col.b[row].max(*v);
                    }
                }
                (self.lo, self.hi) = (lo, hi);
            }
            i = j;
        }
    }
}

/// One subplot's data, read from the archive.
pub(super) enum Panel {
    Variable(Box<VarPanel>),
    /// A subplot whose compartment recorded nothing in the window (it lies in a pause).
    NotRecorded {
        title: String,
        message: String,
    },
    Spikes {
        title: String,
        format: String,
        compartment: String,
        /// (time in ms, neuron) of every spike.
        spikes: Vec<(f64, u32)>,
        neurons: usize,
        window: (f64, f64),
        /// The recording periods inside the window, `[start, end)` in ms: rates are drawn
        /// inside them only.
        periods: Vec<(f64, f64)>,
    },
}

/// Drawable pixels of one subplot of a figure of `size` split into `shape`.
pub(super) fn panel_pixels(size: (u32, u32), shape: (u32, u32), scale: f64) -> (usize, usize) {
    let w = size.0 as f64 / shape.1.max(1) as f64 - 90.0 * scale;
    let h = size.1 as f64 / shape.0.max(1) as f64 - 90.0 * scale;
    (w.max(10.0) as usize, h.max(10.0) as usize)
}

/// The population rate in Hz, one curve per recording period (a pause breaks the curve as
/// it breaks lines; nothing is drawn where nothing was recorded). Bins start at each period's
/// start; their width is chosen from the window and the data: wide enough that a bin holds 5
/// spikes on average (5 x recorded time / spikes), but at least 1/100 and at most 1/10 of
/// the window (at least one step); a period's last bin is divided by its own width, and
/// joined to the one before when it is shorter than half a bin.
pub(super) fn population_rate(
    spikes: &[(f64, u32)],
    neurons: usize,
    window: (f64, f64),
    periods: &[(f64, f64)],
) -> Vec<Vec<(f64, f64)>> {
    let span = (window.1 - window.0).max(1e-9);
    let recorded: f64 = periods.iter().map(|(a, b)| (b - a).max(0.0)).sum();
    let wanted = if spikes.is_empty() {
        span / 100.0
    } else {
        5.0 * recorded / spikes.len() as f64
    };
    let width = wanted.clamp(span / 100.0, span / 10.0).max(1e-9);
    let per_neuron = neurons.max(1) as f64;
    let mut curves = Vec::new();
    for &(start, end) in periods {
        if end <= start {
            continue;
        }
        let mut bins = (((end - start) / width).ceil() as usize).clamp(1, 1_000_000);
        // A last bin under half the width (e.g. the 0.05 ms between the window's last
        // step and the period's end) holds no spike time and would draw a false drop to
        // 0 Hz: it is joined to the bin before it.
        if bins > 1 && end - (start + (bins - 1) as f64 * width) < width / 2.0 {
            bins -= 1;
        }
        let mut counts = vec![0f64; bins];
        for (t, _) in spikes {
            if *t >= start && *t < end {
                let b = (((t - start) / width) as usize).min(bins - 1);
                counts[b] += 1.0;
            }
        }
        let curve = counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let b0 = start + i as f64 * width;
                let b1 = if i + 1 == bins { end } else { b0 + width };
                let w = (b1 - b0).max(1e-9);
                ((b0 + b1) / 2.0, c / per_neuron / (w / 1000.0))
            })
            .collect();
        curves.push(curve);
    }
    curves
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_stop_at_pauses_and_at_the_end_of_the_recordings() {
        // 50 neurons firing every 10 ms, recorded 0-300 and 350-550 ms of the window 0-549.9.
        let spikes: Vec<(f64, u32)> = (0..550)
            .step_by(10)
            .filter(|t| !(300..350).contains(t))
            .flat_map(|t| (0..50).map(move |n| (t as f64 + n as f64 * 0.1, n)))
            .collect();
        let periods = [(0.0, 300.0), (350.0, 550.0)];
        let curves = population_rate(&spikes, 50, (0.0, 549.9), &periods);
        assert_eq!(curves.len(), 2, "one curve per period");
        for (curve, (a, b)) in curves.iter().zip(periods) {
            assert!(curve.iter().all(|(t, _)| *t > a && *t < b), "{curve:?}");
        }
        // Every spike is counted once, in its period (rate x bin width x neurons).
        for (curve, (a, b)) in curves.iter().zip(periods) {
            let width = |i: usize| {
                let b0 = a + i as f64 * 5.499;
                if i + 1 == curve.len() {
                    b - b0
                } else {
                    5.499
                }
            };
            let counted: f64 = curve
                .iter()
                .enumerate()
                .map(|(i, (_, r))| r * width(i) / 1000.0 * 50.0)
                .sum();
            let inside = spikes.iter().filter(|(t, _)| *t >= a && *t < b).count();
            assert!(
                (counted - inside as f64).abs() < 1e-6,
                "{counted} vs {inside}"
            );
        }
        // The last bin of a period is divided by its own (shorter) width: 100 Hz overall.
        let total: f64 = curves[1].iter().map(|(_, r)| r).sum::<f64>() / curves[1].len() as f64;
        assert!(total > 50.0 && total < 150.0, "{total}");
        // The bins: 5 spikes on average (5 * 500 ms / 2500 spikes = 1 ms) but at least 1/100
        // of the window (5.5 ms).
        assert!((curves[0][1].0 - curves[0][0].0 - 5.499).abs() < 1e-9);
        // Few spikes: wider bins, at most a tenth of the window.
        let few = population_rate(&spikes[..10], 50, (0.0, 549.9), &periods);
        assert!((few[0][1].0 - few[0][0].0 - 54.99).abs() < 1e-9);
        // A period ending 0.05 ms after the last full bin (1000 neurons' worth of spikes on
        // the 0.1 ms grid, window 0-999.9, bins of 9.999 ms): no sliver bin at 0 Hz.
        let grid: Vec<(f64, u32)> = (0..10_000)
            .map(|i| (i as f64 * 0.1, (i % 50) as u32))
            .collect();
        let tail = population_rate(&grid, 50, (0.0, 999.9), &[(0.0, 999.95)]);
        let last = tail[0].last().unwrap();
        assert!(last.1 > 150.0, "{last:?}");
        assert!(
            tail[0].iter().all(|(_, r)| (r - 200.0).abs() < 20.0),
            "{tail:?}"
        );
        // Nothing recorded in the window: nothing drawn.
        assert!(population_rate(&[], 50, (300.0, 340.0), &[]).is_empty());
    }

    fn panel(expr: &str, inputs: Vec<usize>, format: &str, shape: &PanelShape) -> VarPanel {
        let e = Expr::parse(expr).unwrap();
        VarPanel::new(String::new(), e, inputs, format, shape)
    }

    /// Rows of `samples` (step, per-neuron values of each variable), as the archive streams
    /// them: sorted by step then neuron, split into batches of `batch` rows.
    fn feed(p: &mut VarPanel, samples: &[(i64, Vec<Vec<f64>>)], batch: usize) {
        let mut steps = Vec::new();
        let mut neurons = Vec::new();
        let vars = samples[0].1.len();
        let mut values = vec![Vec::new(); vars];
        for (step, per_var) in samples {
            for n in 0..per_var[0].len() {
                steps.push(*step);
                neurons.push(n as u32);
                for (k, v) in per_var.iter().enumerate() {
                    values[k].push(v[n]);
                }
            }
        }
        let mut i = 0;
        while i < steps.len() {
            let j = (i + batch).min(steps.len());
            let vals: Vec<&[f64]> = values.iter().map(|v| &v[i..j]).collect();
            p.feed(&steps[i..j], &neurons[i..j], &vals);
            i = j;
        }
        p.flush_mean();
    }

    #[test]
    fn exact_columns_evaluate_expressions_and_keep_pauses_as_gaps() {
        let shape = PanelShape {
            neurons: 2,
            window: (0.0, 10.0),
            period_ms: 1.0,
            dt: 0.1,
            pixels: (100, 100),
        };
        // Variables scanned as [u, v]; the expression uses v first.
        let mut p = panel("v*2 - u", vec![1, 0], "line", &shape);
        assert_eq!(p.columns, Columns::Exact);
        let samples: Vec<(i64, Vec<Vec<f64>>)> = [0, 10, 20, 60, 70]
            .iter()
            .map(|s| {
                let x = *s as f64;
                (*s, vec![vec![x, -x], vec![x + 1.0, x + 2.0]])
            })
            .collect();
        feed(&mut p, &samples, 3);
        assert_eq!(p.cols.len(), 5);
        let gaps: Vec<bool> = p.cols.iter().map(|c| c.gap_before).collect();
        assert_eq!(gaps, [false, false, false, true, false]);
        for (col, (s, _)) in p.cols.iter().zip(&samples) {
            let x = *s as f64;
            assert_eq!(col.t, x * 0.1);
            assert_eq!(col.a, [(x + 1.0) * 2.0 - x, (x + 2.0) * 2.0 + x]);
            assert_eq!(col.a, col.b);
        }
        assert_eq!((p.lo, p.hi), (2.0, 144.0 + 70.0));
    }

    #[test]
    fn long_lines_become_a_min_max_envelope_per_pixel_column() {
        let shape = PanelShape {
            neurons: 1,
            window: (0.0, 1000.0),
            period_ms: 0.1,
            dt: 0.1,
            pixels: (50, 40),
        };
        let mut p = panel("v", vec![0], "line", &shape);
        assert!(matches!(p.columns, Columns::Binned { bins: 50, .. }));
        let value = |s: i64| ((s * 7919) % 1000) as f64 - 500.0;
        let samples: Vec<(i64, Vec<Vec<f64>>)> =
            (0..=10_000).map(|s| (s, vec![vec![value(s)]])).collect();
        feed(&mut p, &samples, 977);
        assert_eq!(p.cols.len(), 50);
        for (k, col) in p.cols.iter().enumerate() {
            // Bin k holds the samples with k*20 <= t < (k+1)*20 (the last one also t = 1000).
            let steps: Vec<i64> = (0..=10_000)
                .filter(|s| ((*s as f64 * 0.1 / 20.0).floor() as usize).min(49) == k)
                .collect();
            let lo = steps
                .iter()
                .map(|s| value(*s))
                .fold(f64::INFINITY, f64::min);
            let hi = steps
                .iter()
                .map(|s| value(*s))
                .fold(f64::NEG_INFINITY, f64::max);
            assert_eq!((col.a[0], col.b[0]), (lo, hi), "bin {k}");
            assert_eq!(col.t, k as f64 * 20.0 + 10.0);
        }
    }

    /// 1000 neurons, 3 steps of 1 ms, drawn into 100 x 10 pixels (100 neurons a row).
    fn thousand_neurons_in_ten_rows() -> PanelShape {
        PanelShape {
            neurons: 1000,
            window: (0.0, 2.0),
            period_ms: 1.0,
            dt: 1.0,
            pixels: (100, 10),
        }
    }

    #[test]
    fn means_and_matrix_cells_average_what_they_cover() {
        let shape = thousand_neurons_in_ten_rows();
        let samples: Vec<(i64, Vec<Vec<f64>>)> = (0..3)
            .map(|s| (s, vec![(0..1000).map(|n| (n + s) as f64).collect()]))
            .collect();
        let mut mean = panel("v", vec![0], "line_mean", &shape);
        feed(&mut mean, &samples, 333);
        let means: Vec<f64> = mean.cols.iter().map(|c| c.a[0]).collect();
        assert_eq!(means, [499.5, 500.5, 501.5]);
        let mut matrix = panel("v", vec![0], "matrix", &shape);
        feed(&mut matrix, &samples, 333);
        assert_eq!(matrix.rows, 10);
        for (s, col) in matrix.cols.iter().enumerate() {
            for r in 0..10 {
                // Row r covers neurons 100r .. 100r+99.
                assert_eq!(col.b[r], 100.0);
                assert_eq!(col.a[r] / col.b[r], (100 * r) as f64 + 49.5 + s as f64);
            }
        }
        assert_eq!((matrix.lo, matrix.hi), (0.0, 1001.0));
        // A cell shows its value farthest from its mean: here the largest (the values
        // of a row rise evenly, the larger end wins a tie).
        assert_eq!(matrix.cols[0].cell(0), Some(99.0));
    }

    #[test]
    fn matrix_cells_keep_a_spike_visible() {
        // 1000 neurons at -65 mV in 10 pixel rows; neuron 7 spikes to 35 mV at step 1.
        let shape = thousand_neurons_in_ten_rows();
        let samples: Vec<(i64, Vec<Vec<f64>>)> = (0..3)
            .map(|s| {
                let v = (0..1000)
                    .map(|n| if n == 7 && s == 1 { 35.0 } else { -65.0 })
                    .collect();
                (s, vec![v])
            })
            .collect();
        let mut matrix = panel("v", vec![0], "matrix", &shape);
        feed(&mut matrix, &samples, 333);
        // The mean of the cell (-64.0) would hide it; the cell shows the spike.
        assert_eq!(matrix.cols[1].cell(0), Some(35.0));
        assert_eq!(matrix.cols[0].cell(0), Some(-65.0));
        assert_eq!(matrix.cols[1].cell(1), Some(-65.0));
        assert_eq!(matrix.hi, 35.0);
    }
}
