//! Tick positions and labels as matplotlib's defaults choose them, so that an axis of
//! `neurorec plot` reads as the same axis drawn by PlotRecordings:
//!
//! - [`Locator`]: matplotlib's `MaxNLocator` (`AutoLocator` for value and time axes: steps
//!   of 1, 2, 2.5, 5 x 10^k and as many intervals as the axis has room for, at most 9;
//!   `MaxNLocator(integer=True)` for the neuron axis of a raster).
//! - [`format_ticks`]: matplotlib's `ScalarFormatter`: the fewest decimals that tell the
//!   labels apart, an offset ("-6e1") and a power of ten ("1e-8") when the span is tiny
//!   against the values or the values are very large or small, and a Unicode minus.
//!
//! The arithmetic follows matplotlib's (Python's floor division, `pow`, `np.round`), so
//! positions and labels agree with it to the last digit; the tests compare with values
//! matplotlib 3.x computed.

/// `AutoLocator`'s steps.
pub(super) const AUTO_STEPS: &[f64] = &[1.0, 2.0, 2.5, 5.0, 10.0];
/// `MaxNLocator`'s default steps (PlotRecordings' raster: `MaxNLocator(integer=True)`).
pub(super) const DEFAULT_STEPS: &[f64] = &[1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];

/// The minus sign matplotlib writes (`axes.unicode_minus`).
pub(super) const MINUS: char = '\u{2212}';

/// A `MaxNLocator`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Locator {
    /// Most intervals between ticks.
    pub nbins: usize,
    pub steps: &'static [f64],
    /// Only whole-number ticks (when the axis spans at least one).
    pub integer: bool,
}

impl Locator {
    /// `AutoLocator` for an axis `length_pt` points long whose tick labels are
    /// `label_pt` points: matplotlib gives an x axis one interval per 3 label heights
    /// (`XAxis.get_tick_space`), a y axis one per 2, between 1 and 9.
    pub(super) fn auto(length_pt: f64, label_pt: f64, vertical: bool) -> Locator {
        let per = if vertical { 2.0 } else { 3.0 } * label_pt;
        let space = (length_pt / per).floor();
        let nbins = if space.is_finite() {
            space.clamp(1.0, 9.0) as usize
        } else {
            9
        };
        Locator {
            nbins,
            steps: AUTO_STEPS,
            integer: false,
        }
    }

    /// `MaxNLocator(integer=True)` (10 intervals).
    pub(super) fn integer() -> Locator {
        Locator {
            nbins: 10,
            steps: DEFAULT_STEPS,
            integer: true,
        }
    }

    /// The ticks for the view `[vmin, vmax]`: matplotlib computes a few beyond it, which
    /// take part in choosing the labels' decimals; [`format_ticks`] keeps those within it.
    pub(super) fn ticks(&self, vmin: f64, vmax: f64) -> Vec<f64> {
        let (lo, hi) = if vmin <= vmax {
            (vmin, vmax)
        } else {
            (vmax, vmin)
        };
        let (a, b) = nonsingular(lo, hi, 1e-13, 1e-14);
        let mut ticks = self.raw_ticks(a, b);
        ticks.retain(|t| t.is_finite());
        ticks
    }

    fn raw_ticks(&self, vmin: f64, vmax: f64) -> Vec<f64> {
        let nbins = self.nbins.max(1) as f64;
        let (scale, offset) = scale_range(vmin, vmax, nbins);
        let (vmin, vmax) = (vmin - offset, vmax - offset);
        let mut steps: Vec<f64> = staircase(self.steps).iter().map(|s| s * scale).collect();
        if self.integer {
            steps.retain(|s| *s < 1.0 || (s - s.round_ties_even()).abs() < 0.001);
        }
        let raw_step = (vmax - vmin) / nbins;
        let istep = steps
            .iter()
            .position(|s| *s >= raw_step)
            .unwrap_or(steps.len() - 1);
        let mut ticks = Vec::new();
        for &step in steps[..=istep].iter().rev() {
            let step = if self.integer && vmax.floor() - vmin.ceil() >= 1.0 {
                step.max(1.0)
            } else {
                step
            };
            let best_vmin = py_floordiv(vmin, step) * step;
            let edge = Edge {
                step,
                offset: offset.abs(),
            };
            let low = edge.le(vmin - best_vmin);
            let high = edge.ge(vmax - best_vmin);
            if !(low.is_finite() && high.is_finite()) || high - low > 1e4 {
                break;
            }
            ticks = (0..=(high - low) as i64)
                .map(|i| (low + i as f64) * step + best_vmin)
                .collect();
            let shown = ticks.iter().filter(|t| **t <= vmax && **t >= vmin).count();
            if shown >= 2 {
                break;
            }
        }
        ticks.into_iter().map(|t| t + offset).collect()
    }
}

/// `matplotlib.ticker._Edge_integer`: tick indices with some slop for rounding.
struct Edge {
    step: f64,
    offset: f64,
}

impl Edge {
    fn closeto(&self, ms: f64, edge: f64) -> bool {
        let tol = if self.offset > 0.0 {
            let digits = (self.offset / self.step).log10();
            10f64.powf(digits - 12.0).clamp(1e-10, 0.4999)
        } else {
            1e-10
        };
        (ms - edge).abs() < tol
    }

    /// The largest n with n * step <= x.
    fn le(&self, x: f64) -> f64 {
        let (d, m) = py_divmod(x, self.step);
        if self.closeto(m / self.step, 1.0) {
            d + 1.0
        } else {
            d
        }
    }

    /// The smallest n with n * step >= x.
    fn ge(&self, x: f64) -> f64 {
        let (d, m) = py_divmod(x, self.step);
        if self.closeto(m / self.step, 0.0) {
            d
        } else {
            d + 1.0
        }
    }
}

/// `matplotlib.transforms.nonsingular`, for increasing limits.
fn nonsingular(vmin: f64, vmax: f64, expander: f64, tiny: f64) -> (f64, f64) {
    if !(vmin.is_finite() && vmax.is_finite()) {
        return (-expander, expander);
    }
    let maxabs = vmin.abs().max(vmax.abs());
    if maxabs < (1e6 / tiny) * f64::MIN_POSITIVE {
        (-expander, expander)
    } else if vmax - vmin <= maxabs * tiny {
        if vmax == 0.0 && vmin == 0.0 {
            (-expander, expander)
        } else {
            (vmin - expander * vmin.abs(), vmax + expander * vmax.abs())
        }
    } else {
        (vmin, vmax)
    }
}

/// `matplotlib.ticker.scale_range`: the power of ten of one of `n` intervals, and an
/// offset when the values are far from zero against their span.
fn scale_range(vmin: f64, vmax: f64, n: f64) -> (f64, f64) {
    let dv = (vmax - vmin).abs();
    let meanv = (vmax + vmin) / 2.0;
    let offset = if meanv.abs() / dv < 100.0 {
        0.0
    } else {
        10f64.powf(meanv.abs().log10().floor()).copysign(meanv)
    };
    (10f64.powf((dv / n).log10().floor()), offset)
}

/// `MaxNLocator._staircase`: the steps a decade below and one step above.
fn staircase(steps: &[f64]) -> Vec<f64> {
    let mut all: Vec<f64> = steps[..steps.len() - 1].iter().map(|s| 0.1 * s).collect();
    all.extend_from_slice(steps);
    all.push(10.0 * steps[1]);
    all
}

/// Python's `divmod` of floats (floor division, remainder with the divisor's sign).
fn py_divmod(a: f64, b: f64) -> (f64, f64) {
    let mut m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m += b;
            div -= 1.0;
        }
    } else {
        m = 0f64.copysign(b);
    }
    let floordiv = if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 {
            f + 1.0
        } else {
            f
        }
    } else {
        0f64.copysign(a / b)
    };
    (floordiv, m)
}

fn py_floordiv(a: f64, b: f64) -> f64 {
    py_divmod(a, b).0
}

/// numpy's `round(x, decimals)`: scale, round half to even, unscale.
fn np_round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powf(decimals as f64);
    (x * f).round_ties_even() / f
}

/// Tick labels and the offset text ("1e-8−6e1": labels times 1e-8, minus 60) of an axis
/// with view `[vmin, vmax]`, as `ScalarFormatter` writes them.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Labels {
    /// The ticks within the view (up to a relative 1e-10, as matplotlib draws them).
    pub ticks: Vec<f64>,
    pub labels: Vec<String>,
    pub offset_text: String,
}

/// `ScalarFormatter` (offset threshold 4 digits, power limits -5 and 6) for the ticks
/// `all` a locator gave for the view `[vmin, vmax]`: the offset and the power of ten come
/// from the ticks within the view, the decimals from all of them, as matplotlib's axis
/// hands them to its formatter.
pub(super) fn format_ticks(all: &[f64], vmin: f64, vmax: f64) -> Labels {
    let (vmin, vmax) = if vmin <= vmax {
        (vmin, vmax)
    } else {
        (vmax, vmin)
    };
    let slack = 1e-10 * (vmax - vmin).abs();
    let ticks: Vec<f64> = all
        .iter()
        .copied()
        .filter(|t| *t >= vmin - slack && *t <= vmax + slack)
        .collect();
    if ticks.is_empty() {
        return Labels {
            ticks,
            labels: Vec::new(),
            offset_text: String::new(),
        };
    }
    let offset = compute_offset(&ticks);
    let order = order_of_magnitude(&ticks, offset, vmin, vmax);
    let decimals = decimals(all, offset, order, vmin, vmax);
    let unit = 10f64.powf(order as f64);
    let labels = ticks
        .iter()
        .map(|x| {
            let mut xp = (x - offset) / unit;
            if xp.abs() < 1e-8 {
                xp = 0.0;
            }
            fix_minus(&format!("{xp:.decimals$}"))
        })
        .collect();
    let mut offset_text = String::new();
    if order != 0 {
        offset_text.push_str(&format!("1e{order}"));
    }
    if offset != 0.0 {
        if offset > 0.0 {
            offset_text.push('+');
        }
        offset_text.push_str(&format_data(offset));
    }
    Labels {
        ticks,
        labels,
        offset_text: fix_minus(&offset_text),
    }
}

pub(super) fn fix_minus(s: &str) -> String {
    s.replace('-', &MINUS.to_string())
}

/// `ScalarFormatter._compute_offset`: subtract the leading digits all ticks share when
/// that saves at least 4 digits.
fn compute_offset(locs: &[f64]) -> f64 {
    let lmin = locs.iter().copied().fold(f64::INFINITY, f64::min);
    let lmax = locs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lmin == lmax || (lmin <= 0.0 && 0.0 <= lmax) {
        return 0.0;
    }
    let (abs_min, abs_max) = if lmin.abs() <= lmax.abs() {
        (lmin.abs(), lmax.abs())
    } else {
        (lmax.abs(), lmin.abs())
    };
    let sign = 1f64.copysign(lmin);
    let oom_max = abs_max.log10().ceil();
    let p = |oom: f64| 10f64.powf(oom);
    let first = |differ: &dyn Fn(f64) -> bool| -> Option<f64> {
        (0..700)
            .map(|i| oom_max - i as f64)
            .find(|oom| differ(*oom))
    };
    let Some(mut oom) =
        first(&|oom| py_floordiv(abs_min, p(oom)) != py_floordiv(abs_max, p(oom))).map(|o| o + 1.0)
    else {
        return 0.0;
    };
    if (abs_max - abs_min) / p(oom) <= 1e-2 {
        match first(&|oom| py_floordiv(abs_max, p(oom)) - py_floordiv(abs_min, p(oom)) > 1.0) {
            Some(o) => oom = o + 1.0,
            None => return 0.0,
        }
    }
    let lead = py_floordiv(abs_max, p(oom));
    if lead >= 1e3 {
        sign * lead * p(oom)
    } else {
        0.0
    }
}

/// `ScalarFormatter._compute_order_of_magnitude` with power limits (-5, 6).
fn order_of_magnitude(locs: &[f64], offset: f64, vmin: f64, vmax: f64) -> i32 {
    let oom = if offset != 0.0 {
        (vmax - vmin).log10().floor()
    } else {
        let val = locs.iter().map(|x| x.abs()).fold(0.0, f64::max);
        if val == 0.0 {
            0.0
        } else {
            val.log10().floor()
        }
    };
    if !oom.is_finite() {
        return 0;
    }
    let oom = oom as i32;
    if oom <= -5 || oom >= 6 {
        oom
    } else {
        0
    }
}

/// `ScalarFormatter._set_format`: the fewest decimals that keep every label within a
/// thousandth of the labels' range of its value.
fn decimals(ticks: &[f64], offset: f64, order: i32, vmin: f64, vmax: f64) -> usize {
    let unit = 10f64.powf(order as f64);
    let mut all: Vec<f64> = ticks.to_vec();
    if ticks.len() < 2 {
        all.extend([vmin, vmax]);
    }
    let scaled: Vec<f64> = all.iter().map(|x| (x - offset) / unit).collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = scaled.iter().copied().fold(f64::INFINITY, f64::min);
    let mut range = max - min;
    if range == 0.0 {
        range = scaled.iter().map(|x| x.abs()).fold(0.0, f64::max);
    }
    if range == 0.0 {
        range = 1.0;
    }
    let locs = &scaled[..ticks.len()];
    let range_oom = range.log10().floor();
    if !range_oom.is_finite() {
        return 0;
    }
    let range_oom = range_oom as i32;
    let mut sigfigs = (3 - range_oom).max(0);
    let thresh = 1e-3 * 10f64.powf(range_oom as f64);
    while sigfigs >= 0 {
        let err = locs
            .iter()
            .map(|x| (x - np_round(*x, sigfigs)).abs())
            .fold(0.0, f64::max);
        if err < thresh {
            sigfigs -= 1;
        } else {
            break;
        }
    }
    (sigfigs + 1) as usize
}

/// `ScalarFormatter.format_data`: a value as `significand e exponent` ("-6e1", "1.5e-3").
fn format_data(value: f64) -> String {
    let e = value.abs().log10().floor();
    let s = np_round(value / 10f64.powf(e), 10);
    let significand = if s % 1.0 == 0.0 {
        format!("{}", s as i64)
    } else {
        let text = format!("{s:.9}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if e == 0.0 {
        significand
    } else {
        format!("{significand}e{}", e as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(nbins: usize) -> Locator {
        Locator {
            nbins,
            steps: AUTO_STEPS,
            integer: false,
        }
    }

    /// Ticks and labels matplotlib computed (tests/python/matplotlib_ticks.py) for spans
    /// from 1e-9 to 1e6, negative and offset ones, and neuron axes, with 1 to 9 intervals.
    #[test]
    fn ticks_and_labels_are_matplotlibs() {
        let text = include_str!("../../tests/data/matplotlib_ticks.json");
        let data: serde_json::Value = serde_json::from_str(text).unwrap();
        let cases = data["cases"].as_array().unwrap();
        assert!(cases.len() > 400);
        let mut wrong = Vec::new();
        for case in cases {
            let f = |k: &str| case[k].as_f64().unwrap();
            let (vmin, vmax) = (f("vmin"), f("vmax"));
            let locator = Locator {
                nbins: case["nbins"].as_u64().unwrap() as usize,
                steps: if case["integer"].as_bool().unwrap() {
                    DEFAULT_STEPS
                } else {
                    AUTO_STEPS
                },
                integer: case["integer"].as_bool().unwrap(),
            };
            let got = format_ticks(&locator.ticks(vmin, vmax), vmin, vmax);
            let ticks = got.ticks.clone();
            let expected: Vec<f64> = case["ticks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let close = ticks.len() == expected.len()
                && ticks
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| (a - b).abs() <= 1e-12 * (vmax - vmin).abs());
            if !close {
                wrong.push(format!("{case}: ticks {ticks:?}"));
                continue;
            }
            if let Some(labels) = case.get("labels") {
                let want: Vec<String> = labels
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                if got.labels != want || got.offset_text != case["offset"].as_str().unwrap() {
                    wrong.push(format!("{case}: labels {got:?}"));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} differ:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn python_floor_division() {
        assert_eq!(py_divmod(7.0, 2.0), (3.0, 1.0));
        assert_eq!(py_divmod(-7.0, 2.0), (-4.0, 1.0));
        assert_eq!(py_divmod(-0.5, 0.1).0, -5.0);
        assert_eq!(py_floordiv(1.0, 0.1), 9.0);
    }

    #[test]
    fn a_time_axis_of_550_ms_gets_hundreds() {
        let t = auto(9).ticks(0.0, 550.0);
        let l = format_ticks(&t, 0.0, 550.0);
        assert_eq!(l.ticks, vec![0.0, 100.0, 200.0, 300.0, 400.0, 500.0]);
        assert_eq!(l.labels, ["0", "100", "200", "300", "400", "500"]);
        assert_eq!(l.offset_text, "");
    }

    #[test]
    fn negative_labels_use_the_unicode_minus() {
        let l = format_ticks(&auto(9).ticks(-80.0, 40.0), -80.0, 40.0);
        assert_eq!(l.labels[0], "\u{2212}80");
        assert!(l.labels.iter().all(|s| !s.contains('-')));
    }
}
