//! Figures from an archive (SPEC §7, CompNeuroPy's `PlotRecordings`): a grid of subplots, each
//! a compartment's variable or spikes of one chunk, drawn to PNG or SVG. Data is read from
//! the archive, never from memory; text uses an embedded font, so no system fonts are
//! needed. Axes, ticks and labels follow matplotlib's defaults (`axes`, `ticks`), so a
//! figure reads as PlotRecordings' does.

mod axes;
mod draw;
mod expr;
mod paint;
mod panel;
mod plan;
mod ticks;

use std::path::Path;

use crate::sim::py_float_repr;

use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};

use crate::archive::{Archive, ChunkRef};
use crate::times::ChunkTimes;

pub use expr::{Expr, ExprError};

pub use plan::{
    check_dpi, parse_window, PlanError, PlotError, PlotOptions, PlotPlan, Recorded, DEFAULT_DPI,
    SPIKE_FORMATS, VARIABLE_FORMATS,
};
use plan::{plan_error, validate_plan};

use draw::{draw, register_font, Frame};
use panel::{panel_pixels, Panel, PanelShape, VarPanel};

/// Draws a figure from an archive to `path` (`.png` or `.svg`). Returns the warnings printed
/// by PlotRecordings (e.g. a spike subplot without spikes).
///
/// Only the columns and row groups the plan needs are read, each compartment's state once
/// for all its subplots. Lines with more samples than pixels are drawn as a min/max envelope
/// per pixel column, matrices as the extreme of each pixel cell, rasters with more spikes than
/// pixels as a density image.
pub fn plot(
    archive: &Archive,
    plan: &PlotPlan,
    options: &PlotOptions,
    path: &Path,
) -> Result<Vec<String>, PlotError> {
    let chunk = options.chunk;
    validate_plan(plan, archive, chunk)?;
    let svg = is_svg(path)?;
    let times = archive.recording_times(chunk.run, chunk.set)?;
    let chunk_times = times
        .chunks
        .get(chunk.chunk as usize)
        .ok_or_else(|| plan_error(format!("no chunk {}", chunk.chunk)))?;
    let dt = archive.manifest().dt_ms;
    let recorded = recorded_window(chunk_times, dt);
    check_dpi(options.dpi).map_err(PlotError::Plan)?;
    let window = time_window(options.time_lim, recorded, dt)?;
    let scale = options.dpi as f64 / 100.0;
    let size = figure_size(plan.shape, options.dpi)?;
    let pixels = panel_pixels(size, plan.shape, scale);
    let mut panels: Vec<Option<Panel>> = (0..plan.position.len()).map(|_| None).collect();
    // A compartment that recorded nothing in the window (it lies in a pause) gets a panel
    // saying so, never an empty axis or "no spikes".
    let mut warnings = Vec::new();
    let mut drawn = plan.clone();
    for (i, (comp, slot)) in plan.compartment.iter().zip(panels.iter_mut()).enumerate() {
        if let Some(message) = not_recorded(chunk_times, comp, window, dt) {
            let warning = format!("{comp}: {message}");
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
            let var = &plan.variable[i];
            let title = if var == "spike" {
                format!("Spikes {comp}")
            } else {
                format!("Variable {var} of {comp}")
            };
            *slot = Some(Panel::NotRecorded { title, message });
            // Left out of the reads below.
            drawn.variable[i] = String::new();
        }
    }
    let variables = variable_panels(archive, &drawn, chunk, chunk_times, dt, window, pixels)?;
    let (spikes, spike_warnings) = spike_panels(archive, &drawn, (chunk, chunk_times), dt, window)?;
    warnings.extend(spike_warnings);
    for (i, panel) in variables.into_iter().chain(spikes) {
        panels[i] = Some(panel);
    }
    let panels: Vec<Panel> = panels.into_iter().flatten().collect();
    let frame = Frame {
        scale,
        window,
        pixels,
        svg,
        isi_across_pauses: plan.isi_across_pauses.unwrap_or(false),
    };
    render(path, svg, size, plan, &panels, &frame)?;
    Ok(warnings)
}

/// Why compartment `comp` has nothing in `window`: no recording period overlaps it (the
/// window lies in a pause, before the first or after the last period); `None` otherwise.
fn not_recorded(
    chunk_times: &ChunkTimes,
    comp: &str,
    window: (f64, f64),
    dt: f64,
) -> Option<String> {
    let times = chunk_times.compartment(comp)?;
    let periods: Vec<(f64, f64)> = times
        .pairs
        .iter()
        .map(|&(s0, s1)| (s0 as f64 * dt, s1 as f64 * dt))
        .collect();
    if periods.iter().any(|&(a, b)| a <= window.1 && b > window.0) {
        return None;
    }
    let ms = |x: f64| crate::sim::py_float_repr((x * 1e6).round() / 1e6);
    let before = periods
        .iter()
        .filter(|(_, b)| *b <= window.0)
        .map(|p| p.1)
        .fold(f64::NAN, f64::max);
    let after = periods
        .iter()
        .filter(|(a, _)| *a > window.1)
        .map(|p| p.0)
        .fold(f64::NAN, f64::min);
    let why = match (before.is_finite(), after.is_finite()) {
        (true, true) => format!("paused {}-{} ms", ms(before), ms(after)),
        (true, false) => format!("recording stopped at {} ms", ms(before)),
        (false, true) => format!("recording starts at {} ms", ms(after)),
        (false, false) => "nothing recorded in this chunk".to_string(),
    };
    Some(format!(
        "not recorded in {}-{} ms ({why})",
        ms(window.0),
        ms(window.1)
    ))
}

/// Most pixels a figure may have (about 600 MB of RGB while it is drawn).
const MAX_PIXELS: f64 = 2e8;

/// The figure's size in pixels: as PlotRecordings, 6.4 x 4.8 inches per subplot (6.4 * columns
/// by 4.8 * rows) at `dpi`; refused beyond [`MAX_PIXELS`], naming the dpi that fits.
fn figure_size((rows, cols): (u32, u32), dpi: u32) -> Result<(u32, u32), PlotError> {
    let inches = (6.4 * cols.max(1) as f64, 4.8 * rows.max(1) as f64);
    let (w, h) = (inches.0 * dpi as f64, inches.1 * dpi as f64);
    if w * h > MAX_PIXELS {
        let fits = (MAX_PIXELS / (inches.0 * inches.1)).sqrt().floor().max(1.0);
        return Err(plan_error(format!(
            "a figure of shape ({rows}, {cols}) at dpi {dpi} would be {} x {} pixels, more than {} million; use dpi {fits} or less, or fewer subplots",
            w.round(),
            h.round(),
            MAX_PIXELS / 1e6
        )));
    }
    Ok((w.round() as u32, h.round() as u32))
}

/// Whether `path` names an SVG rather than a PNG image (its extension, in any case).
fn is_svg(path: &Path) -> Result<bool, PlotError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let format_ok = matches!(extension.as_deref(), Some("svg") | Some("png"));
    if !format_ok {
        return Err(plan_error(format!(
            "{} must end in .png or .svg",
            path.display()
        )));
    }
    Ok(extension.as_deref() == Some("svg"))
}

/// The chunk's recorded window: first start to last stop over all compartments.
fn recorded_window(chunk_times: &ChunkTimes, dt: f64) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for c in &chunk_times.compartments {
        for &(s0, s1) in &c.pairs {
            lo = lo.min(s0 as f64 * dt);
            hi = hi.max((s1 - 1) as f64 * dt);
        }
    }
    if !lo.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    (lo, hi)
}

/// The window drawn: `time_lim`, which must be finite, increasing and inside the recorded
/// window `(lo, hi)` (up to one step past its last sample, where the period ends), as
/// PlotRecordings requires; without it, the recorded window.
fn time_window(
    time_lim: Option<(f64, f64)>,
    (lo, hi): (f64, f64),
    dt: f64,
) -> Result<(f64, f64), PlotError> {
    match time_lim {
        Some((a, b)) => {
            let slack = dt * 1e-6;
            if !(a.is_finite() && b.is_finite()) || a >= b || a < lo - slack || b > hi + dt + slack
            {
                // The recorded window in ms as the archive's times print (rounded to dt).
                let scale = 10f64.powi(crate::sim::decimals_of(dt) as i32);
                let ms = |x: f64| py_float_repr((x * scale).round() / scale);
                return Err(plan_error(format!(
                    "time_lim ({}, {}) is outside the chunk's recordings ({}, {}); give a window inside them",
                    py_float_repr(a),
                    py_float_repr(b),
                    ms(lo),
                    ms(hi)
                )));
            }
            // Only the recorded part of the window is drawn: nothing is invented beyond the
            // chunk, and every loop over the window is bounded by the chunk.
            let (a, b) = (a.max(lo), b.min(hi));
            Ok(if b - a < dt { (a, a + dt) } else { (a, b) })
        }
        None => Ok((lo, hi)),
    }
}

/// The variable subplots with their index in the plan, grouped by compartment: one scan
/// feeds all of a compartment's.
fn variable_panels(
    archive: &Archive,
    plan: &PlotPlan,
    chunk: ChunkRef,
    chunk_times: &ChunkTimes,
    dt: f64,
    window: (f64, f64),
    pixels: (usize, usize),
) -> Result<Vec<(usize, Panel)>, PlotError> {
    let mut panels = Vec::new();
    let mut compartments: Vec<&String> = Vec::new();
    for (comp, var) in plan.compartment.iter().zip(&plan.variable) {
        if var != "spike" && !var.is_empty() && !compartments.contains(&comp) {
            compartments.push(comp);
        }
    }
    for comp in compartments {
        let indices: Vec<usize> = (0..plan.position.len())
            .filter(|i| {
                &plan.compartment[*i] == comp
                    && plan.variable[*i] != "spike"
                    && !plan.variable[*i].is_empty()
            })
            .collect();
        let meta = archive.compartment_meta(chunk, comp)?;
        let neurons = meta.neurons;
        let period_ms = chunk_times
            .compartment(comp)
            .map_or(dt, |c| c.period_steps as f64 * dt);
        let mut scanned: Vec<String> = Vec::new();
        let mut accs: Vec<(usize, VarPanel)> = Vec::new();
        for i in indices {
            let var = &plan.variable[i];
            let format = plan.format[i].clone();
            let expr = Expr::parse(var).map_err(|e| plan_error(format!("{var}: {e}")))?;
            let inputs = expr
                .variables()
                .iter()
                .map(|v| match scanned.iter().position(|s| s == v) {
                    Some(k) => k,
                    None => {
                        scanned.push(v.clone());
                        scanned.len() - 1
                    }
                })
                .collect();
            let title = format!("Variable {var} of {comp} ({neurons})");
            let shape = PanelShape {
                neurons,
                window,
                period_ms,
                dt,
                pixels,
            };
            accs.push((i, VarPanel::new(title, expr, inputs, &format, &shape)));
        }
        let names: Vec<&str> = scanned.iter().map(|s| s.as_str()).collect();
        archive.scan_state(chunk, comp, &names, Some(window), |s, n, v| {
            for (_, acc) in accs.iter_mut() {
                acc.feed(s, n, v);
            }
        })?;
        for (i, mut acc) in accs {
            acc.flush_mean();
            panels.push((i, Panel::Variable(Box::new(acc))));
        }
    }
    Ok(panels)
}

/// Panels with the index of the subplot each belongs to.
type Placed = Vec<(usize, Panel)>;

/// The spike subplots with their index in the plan, and PlotRecordings' warning for each
/// without spikes in the window.
fn spike_panels(
    archive: &Archive,
    plan: &PlotPlan,
    (chunk, chunk_times): (ChunkRef, &ChunkTimes),
    dt: f64,
    window: (f64, f64),
) -> Result<(Placed, Vec<String>), PlotError> {
    let mut panels = Vec::new();
    let mut warnings = Vec::new();
    for (i, (comp, var)) in plan.compartment.iter().zip(&plan.variable).enumerate() {
        if var != "spike" {
            continue;
        }
        let per_neuron = archive.read_spikes(chunk, comp, Some(window))?;
        let neurons = per_neuron.len();
        let mut spikes = Vec::new();
        for (n, steps) in per_neuron.iter().enumerate() {
            spikes.extend(steps.iter().map(|s| (*s as f64 * dt, n as u32)));
        }
        if spikes.is_empty() {
            warnings.push(format!(
                "WARNING PlotRecordings: {comp} does not contain any spikes in the given time interval."
            ));
        }
        let periods = chunk_times
            .compartment(comp)
            .map(|c| {
                c.pairs
                    .iter()
                    .map(|&(s0, s1)| {
                        (
                            (s0 as f64 * dt).max(window.0),
                            (s1 as f64 * dt).min(window.1 + dt),
                        )
                    })
                    .filter(|(a, b)| b > a)
                    .collect()
            })
            .unwrap_or_default();
        let panel = Panel::Spikes {
            title: format!("Spikes {comp}"),
            format: plan.format[i].clone(),
            compartment: comp.clone(),
            spikes,
            neurons,
            window,
            periods,
        };
        panels.push((i, panel));
    }
    Ok((panels, warnings))
}

/// Draws the subplots to `path`, an SVG or a PNG image. The figure is written to a hidden
/// file beside `path` and renamed into place when complete, so `path` never holds half a
/// figure (a failed or killed drawing leaves any earlier file as it was).
fn render(
    path: &Path,
    svg: bool,
    size: (u32, u32),
    plan: &PlotPlan,
    panels: &[Panel],
    frame: &Frame,
) -> Result<(), PlotError> {
    register_font()?;
    let draw_err = |what: String| PlotError::Draw {
        path: path.display().to_string(),
        what,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let extension = if svg { "svg" } else { "png" };
    // neurorec's temporary name (`repair` removes such leftovers from an archive's
    // figures).
    let partial = path.with_file_name(format!(".{name}.{}.tmp.{extension}", std::process::id()));
    let drawn = (|| {
        if svg {
            let root = SVGBackend::new(&partial, size).into_drawing_area();
            draw(&root, plan, panels, frame)?;
            root.present().map_err(|e| e.to_string())
        } else {
            let root = BitMapBackend::new(&partial, size).into_drawing_area();
            draw(&root, plan, panels, frame)?;
            root.present().map_err(|e| e.to_string())
        }
    })()
    .and_then(|()| std::fs::rename(&partial, path).map_err(|e| e.to_string()));
    if let Err(what) = drawn {
        let _ = std::fs::remove_file(&partial);
        return Err(draw_err(what));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_six_point_four_by_four_point_eight_inches_per_subplot() {
        assert_eq!(figure_size((2, 2), 300).ok(), Some((3840, 2880)));
        assert_eq!(figure_size((3, 3), 100).ok(), Some((1920, 1440)));
        assert_eq!(figure_size((1, 3), 100).ok(), Some((1920, 480)));
        let err = figure_size((20, 20), 1200).unwrap_err().to_string();
        assert!(err.contains("use dpi 127 or less"), "{err}");
        assert!(figure_size((20, 20), 127).is_ok());
    }

    #[test]
    fn a_window_must_lie_inside_the_recordings() {
        let recorded = (0.0, 549.9);
        assert!(time_window(Some((500.0, 600.0)), recorded, 0.1).is_err());
        assert!(time_window(Some((-10.0, 100.0)), recorded, 0.1).is_err());
        assert_eq!(
            time_window(Some((0.0, 550.0)), recorded, 0.1).ok(),
            Some((0.0, 549.9))
        );
        assert_eq!(
            time_window(Some((100.0, 200.0)), recorded, 0.1).ok(),
            Some((100.0, 200.0))
        );
    }
}
