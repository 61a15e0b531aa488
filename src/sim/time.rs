//! Time arithmetic of the simulator: integer steps are the ground truth, milliseconds are
//! derived from them and rounded once to the number of decimals of `dt`.

use super::SimError;

/// The time step of a network together with the rounding rule for step -> ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeGrid {
    dt_ms: f64,
    /// `10^decimals(dt)`, the scale used to round `t * dt` to the decimals of `dt`.
    scale: f64,
}

impl TimeGrid {
    /// A grid with step `dt_ms`; `dt_ms` must be positive and finite.
    pub fn new(dt_ms: f64) -> Result<Self, SimError> {
        if !(dt_ms.is_finite() && dt_ms > 0.0) {
            return Err(SimError::InvalidDt { dt_ms });
        }
        Ok(Self {
            dt_ms,
            scale: 10f64.powi(decimals_of(dt_ms) as i32),
        })
    }

    /// The time step in ms.
    pub fn dt_ms(&self) -> f64 {
        self.dt_ms
    }

    /// Time in ms of `step`, rounded to the decimals of `dt` (step 1999 at dt 0.1 is 199.9).
    pub fn step_to_ms(&self, step: i64) -> f64 {
        let raw = step as f64 * self.dt_ms;
        let scaled = raw * self.scale;
        if scaled.abs() < 9.0e15 {
            scaled.round() / self.scale
        } else {
            raw
        }
    }

    /// Number of steps that `duration_ms` spans: `ceil(d / dt)`, where a quotient within 1e-9
    /// (relative) of an integer counts as that integer.
    pub fn duration_to_steps(&self, duration_ms: f64) -> Result<i64, SimError> {
        if !duration_ms.is_finite() || duration_ms < 0.0 {
            return Err(SimError::InvalidDuration { duration_ms });
        }
        let steps = quotient_to_steps(duration_ms / self.dt_ms, true);
        if steps > (i64::MAX / 4) as f64 {
            return Err(SimError::InvalidDuration { duration_ms });
        }
        Ok(steps as i64)
    }

    /// `period_ms` as a whole number of steps, or `None` when it is not a multiple of `dt`
    /// (within 1e-9 relative).
    pub fn period_to_steps(&self, period_ms: f64) -> Option<i64> {
        if !(period_ms.is_finite() && period_ms > 0.0) {
            return None;
        }
        let q = period_ms / self.dt_ms;
        let r = q.round();
        if r >= 1.0 && (q - r).abs() <= 1e-9 * r.max(1.0) && r < (i64::MAX / 4) as f64 {
            Some(r as i64)
        } else {
            None
        }
    }
}

/// `ceil(q)` (or `q` itself when `q` is within 1e-9 relative of an integer; near 0 only 0
/// itself is, so any positive duration takes at least one step).
fn quotient_to_steps(q: f64, ceil: bool) -> f64 {
    let r = q.round();
    if (q - r).abs() <= 1e-9 * r.abs() {
        r
    } else if ceil {
        q.ceil()
    } else {
        q.floor()
    }
}

/// Number of decimals in the shortest decimal representation of `x` (0.1 -> 1, 0.025 -> 3).
pub fn decimals_of(x: f64) -> u32 {
    let text = format!("{x:?}");
    let (mantissa, exponent) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text.as_str(), 0),
    };
    let frac_digits = mantissa
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches('0').len() as i32)
        .unwrap_or(0);
    (frac_digits - exponent).clamp(0, 15) as u32
}

/// Formats an f64 the way Python's `repr(float)` does (`100.0`, `199.9`, `1e+16`, `nan`).
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = x.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python switches to scientific notation with at least two exponent digits.
        let text = format!("{x:e}");
        let (m, e) = text.split_once('e').unwrap_or((text.as_str(), "0"));
        let exp: i32 = e.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let text = format!("{x:?}");
    if text.contains('.') || text.contains("inf") || text.contains("NaN") {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_to_ms_rounds_to_dt_decimals() {
        let g = TimeGrid::new(0.1).unwrap();
        assert_eq!(g.step_to_ms(1999), 199.9);
        assert_eq!(py_float_repr(g.step_to_ms(1999)), "199.9");
        assert_eq!(py_float_repr(g.step_to_ms(14980)), "1498.0");
        assert_eq!(py_float_repr(g.step_to_ms(0)), "0.0");
        let g = TimeGrid::new(0.025).unwrap();
        assert_eq!(g.step_to_ms(3), 0.075);
    }

    #[test]
    fn duration_uses_ceil_with_tolerance() {
        let g = TimeGrid::new(0.1).unwrap();
        assert_eq!(g.duration_to_steps(57.1).unwrap(), 571);
        assert_eq!(g.duration_to_steps(100.0).unwrap(), 1000);
        assert_eq!(g.duration_to_steps(0.15).unwrap(), 2);
        assert_eq!(g.duration_to_steps(0.0).unwrap(), 0);
        assert_eq!(g.duration_to_steps(0.01).unwrap(), 1);
        // The tolerance is relative: any positive duration takes at least one step.
        assert_eq!(g.duration_to_steps(1e-11).unwrap(), 1);
        assert_eq!(g.duration_to_steps(100.0 + 1e-9).unwrap(), 1000);
        assert!(g.duration_to_steps(-1.0).is_err());
        assert!(g.duration_to_steps(f64::NAN).is_err());
        assert!(g.duration_to_steps(f64::INFINITY).is_err());
    }

    #[test]
    fn periods_must_be_multiples_of_dt() {
        let g = TimeGrid::new(0.1).unwrap();
        assert_eq!(g.period_to_steps(2.0), Some(20));
        assert_eq!(g.period_to_steps(0.1), Some(1));
        assert_eq!(g.period_to_steps(0.15), None);
        assert_eq!(g.period_to_steps(0.05), None);
        assert_eq!(g.period_to_steps(-2.0), None);
    }

    #[test]
    fn decimals_and_python_repr() {
        assert_eq!(decimals_of(0.1), 1);
        assert_eq!(decimals_of(1.0), 0);
        assert_eq!(decimals_of(0.025), 3);
        assert_eq!(decimals_of(1e-5), 5);
        assert_eq!(py_float_repr(100.0), "100.0");
        assert_eq!(py_float_repr(-60.5), "-60.5");
        assert_eq!(py_float_repr(1e16), "1e+16");
        assert_eq!(py_float_repr(1.5e-5), "1.5e-05");
        assert_eq!(py_float_repr(f64::NAN), "nan");
    }
}
