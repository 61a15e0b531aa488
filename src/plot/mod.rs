//! Figures from an archive (SPEC §7, CompNeuroPy's `PlotRecordings`): a grid of subplots, each
//! a compartment's variable or spikes of one chunk, drawn to PNG or SVG. Data is read from
//! the archive, never from memory; text uses an embedded font, so no system fonts are
//! needed.

mod expr;
mod plan;

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::archive::Archive;

pub use expr::{Expr, ExprError};

pub use plan::{
    check_dpi, parse_window, PlanError, PlotError, PlotOptions, PlotPlan, Recorded, DEFAULT_DPI,
    SPIKE_FORMATS, VARIABLE_FORMATS,
};
use plan::{plan_error, validate_plan};

/// How samples map to the columns of a variable subplot.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Columns {
    /// Every sample is a column (no more samples than pixels).
    Exact,
    /// Samples are binned into `bins` columns of `width` ms from `start`: each column is
    /// drawn as the min/max envelope (lines) or the mean (matrix) of its samples.
    Binned { start: f64, width: f64, bins: usize },
}

/// One column of a variable subplot: a sample, or a bin of samples.
struct Column {
    key: i64,
    t: f64,
    /// A pause lies between this column and the previous one: lines are not joined.
    gap_before: bool,
    /// Lines: per row min and max. Matrix: per row sum and count.
    a: Vec<f64>,
    b: Vec<f64>,
}

/// A variable subplot reduced while the archive is streamed: memory is bounded by the
/// number of pixel columns times the rows drawn, whatever the length of the chunk.
struct VarPanel {
    title: String,
    expr: Expr,
    /// Index in the scanned columns of each of `expr.variables()`.
    inputs: Vec<usize>,
    matrix: bool,
    mean: bool,
    neurons: usize,
    /// Output row of each neuron (lines: the neuron; matrix: a band of neurons).
    row_of: Vec<u32>,
    rows: usize,
    columns: Columns,
    dt: f64,
    period_ms: f64,
    cols: Vec<Column>,
    last_step: Option<i64>,
    sample_sum: f64,
    sample_n: usize,
    lo: f64,
    hi: f64,
    scratch: Vec<f64>,
}

/// What a variable subplot's reduction depends on besides its expression.
struct PanelShape {
    neurons: usize,
    window: (f64, f64),
    period_ms: f64,
    dt: f64,
    /// Drawable pixels (width, height).
    pixels: (usize, usize),
}

impl VarPanel {
    fn new(
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
            self.cols.push(Column {
                key,
                t: t_col,
                gap_before: gap,
                a,
                b,
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
        } else {
            col.a[row] = col.a[row].min(v);
            col.b[row] = col.b[row].max(v);
        }
    }

    fn flush_mean(&mut self) {
        if self.mean && self.sample_n > 0 {
            let m = self.sample_sum / self.sample_n as f64;
            self.put(0, m);
        }
        self.sample_sum = 0.0;
        self.sample_n = 0;
    }

    /// Consumes rows sorted by step then neuron; `values[k]` is the k-th scanned variable.
    fn feed(&mut self, steps: &[i64], neurons: &[u32], values: &[&[f64]]) {
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
enum Panel {
    Variable(Box<VarPanel>),
    Spikes {
        title: String,
        format: String,
        compartment: String,
        /// (time in ms, neuron) of every spike.
        spikes: Vec<(f64, u32)>,
        neurons: usize,
        window: (f64, f64),
    },
}

/// Drawable pixels of one subplot of a figure of `size` split into `shape`.
fn panel_pixels(size: (u32, u32), shape: (u32, u32), scale: f64) -> (usize, usize) {
    let w = size.0 as f64 / shape.1.max(1) as f64 - 90.0 * scale;
    let h = size.1 as f64 / shape.0.max(1) as f64 - 90.0 * scale;
    (w.max(10.0) as usize, h.max(10.0) as usize)
}

/// Draws a figure from an archive to `path` (`.png` or `.svg`). Returns the warnings printed
/// by PlotRecordings (e.g. a spike subplot without spikes).
///
/// Only the columns and row groups the plan needs are read, each compartment's state once
/// for all its subplots. Lines with more samples than pixels are drawn as a min/max envelope
/// per pixel column, matrices as the mean per pixel cell, rasters with more spikes than
/// pixels as a density image.
pub fn plot(
    archive: &Archive,
    plan: &PlotPlan,
    options: &PlotOptions,
    path: &Path,
) -> Result<Vec<String>, PlotError> {
    validate_plan(plan, archive, options.chunk)?;
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
    let times = archive.recording_times(options.chunk.run, options.chunk.set)?;
    let chunk_times = times
        .chunks
        .get(options.chunk.chunk as usize)
        .ok_or_else(|| plan_error(format!("no chunk {}", options.chunk.chunk)))?;
    let dt = archive.manifest().dt_ms;
    // The chunk's recorded window: first start to last stop over all compartments.
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
    check_dpi(options.dpi).map_err(PlotError::Plan)?;
    let window = match options.time_lim {
        Some((a, b)) => {
            if !(a.is_finite() && b.is_finite()) || a >= b || b < lo || a > hi {
                return Err(plan_error(format!(
                    "time_lim ({a}, {b}) is outside the chunk's recordings ({lo}, {hi}); give a window inside them"
                )));
            }
            (a, b)
        }
        None => (lo, hi),
    };
    let scale = options.dpi as f64 / 100.0;
    let size = ((1280.0 * scale) as u32, (960.0 * scale) as u32);
    let (px_w, px_h) = panel_pixels(size, plan.shape, scale);
    let mut warnings = Vec::new();
    let mut panels: Vec<Option<Panel>> = (0..plan.position.len()).map(|_| None).collect();
    // Variable subplots, grouped by compartment: one scan feeds all of a compartment's.
    let mut compartments: Vec<&String> = Vec::new();
    for (comp, var) in plan.compartment.iter().zip(&plan.variable) {
        if var != "spike" && !compartments.contains(&comp) {
            compartments.push(comp);
        }
    }
    for comp in compartments {
        let indices: Vec<usize> = (0..plan.position.len())
            .filter(|i| &plan.compartment[*i] == comp && plan.variable[*i] != "spike")
            .collect();
        let meta = archive.compartment_meta(options.chunk, comp)?;
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
                pixels: (px_w, px_h),
            };
            accs.push((i, VarPanel::new(title, expr, inputs, &format, &shape)));
        }
        let names: Vec<&str> = scanned.iter().map(|s| s.as_str()).collect();
        archive.scan_state(options.chunk, comp, &names, Some(window), |s, n, v| {
            for (_, acc) in accs.iter_mut() {
                acc.feed(s, n, v);
            }
        })?;
        for (i, mut acc) in accs {
            acc.flush_mean();
            panels[i] = Some(Panel::Variable(Box::new(acc)));
        }
    }
    for (i, (comp, var)) in plan.compartment.iter().zip(&plan.variable).enumerate() {
        if var != "spike" {
            continue;
        }
        let per_neuron = archive.read_spikes(options.chunk, comp, Some(window))?;
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
        panels[i] = Some(Panel::Spikes {
            title: format!("Spikes {comp}"),
            format: plan.format[i].clone(),
            compartment: comp.clone(),
            spikes,
            neurons,
            window,
        });
    }
    let panels: Vec<Panel> = panels.into_iter().flatten().collect();
    register_font()?;
    let draw_err = |what: String| PlotError::Draw {
        path: path.display().to_string(),
        what,
    };
    let frame = Frame {
        scale,
        window,
        pixels: (px_w, px_h),
    };
    if extension.as_deref() == Some("svg") {
        let root = SVGBackend::new(path, size).into_drawing_area();
        draw(&root, plan, &panels, &frame).map_err(draw_err)?;
        root.present().map_err(|e| draw_err(e.to_string()))?;
    } else {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        draw(&root, plan, &panels, &frame).map_err(draw_err)?;
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    Ok(warnings)
}

fn register_font() -> Result<(), PlotError> {
    static ONCE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the embedded font could not be loaded".to_string())
    })
    .clone()
    .map_err(|what| PlotError::Draw {
        path: String::new(),
        what,
    })
}

type DrawResult = Result<(), String>;

/// What every subplot of a figure shares.
struct Frame {
    scale: f64,
    window: (f64, f64),
    /// Drawable pixels of one subplot (width, height).
    pixels: (usize, usize),
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plan: &PlotPlan,
    panels: &[Panel],
    frame: &Frame,
) -> DrawResult {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let areas = root.split_evenly((plan.shape.0 as usize, plan.shape.1 as usize));
    for (panel, pos) in panels.iter().zip(&plan.position) {
        let area = &areas[*pos as usize - 1];
        draw_panel(area, panel, frame)?;
    }
    Ok(())
}

type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A subplot's axes as PlotRecordings draws them: title, no grid, labelled axes.
/// Draws a thick polyline. plotters joins thick segments with mitres and does not limit the
/// inner side of a sharp turn, so a trace that turns back on itself (a spike, the min/max
/// stroke of a binned column) drew a stroke across the whole figure; a zero-length segment
/// (two points on one pixel) has no direction at all. So points on the pixel of the
/// previous one are dropped, and the line is cut where it turns back by more than 120°:
/// the pieces meet end to end, without a mitre.
fn draw_polyline<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    points: Vec<(f64, f64)>,
    style: ShapeStyle,
) -> DrawResult {
    for piece in polyline_pieces(points.iter().map(|p| (*p, chart.backend_coord(p)))) {
        chart
            .draw_series(LineSeries::new(piece, style))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The pieces of a polyline given with its pixel positions (see [`draw_polyline`]).
fn polyline_pieces(points: impl Iterator<Item = ((f64, f64), (i32, i32))>) -> Vec<Vec<(f64, f64)>> {
    let mut pieces = Vec::new();
    let mut piece: Vec<(f64, f64)> = Vec::new();
    let mut at: Vec<(i32, i32)> = Vec::new();
    for (p, px) in points {
        if at.last() == Some(&px) {
            continue;
        }
        if let [.., a, b] = at[..] {
            let d1 = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
            let d2 = ((px.0 - b.0) as f64, (px.1 - b.1) as f64);
            let dot = d1.0 * d2.0 + d1.1 * d2.1;
            if dot < -0.5 * d1.0.hypot(d1.1) * d2.0.hypot(d2.1) {
                let turn = piece[piece.len() - 1];
                pieces.push(std::mem::replace(&mut piece, vec![turn]));
                at = vec![b];
            }
        }
        piece.push(p);
        at.push(px);
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

fn axes<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: impl AsRef<str>,
    scale: f64,
    y_label_px: f64,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    (x_desc, y_desc): (&str, &str),
) -> Result<Chart<'a, DB>, String> {
    let px = |v: f64| (v * scale) as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(title.as_ref(), font(scale, 16.0))
        .margin(px(10.0))
        .x_label_area_size(px(40.0))
        .y_label_area_size(px(y_label_px))
        .build_cartesian_2d(x.clone(), y.clone())
        .map_err(|e| e.to_string())?;
    let neuron_axis = y_desc == "# neurons" || y_desc.is_empty() && title.as_ref().ends_with(']');
    let offset = (!neuron_axis)
        .then(|| axis_offset(y.start, y.end))
        .flatten();
    let relative = |v: &f64| match offset {
        Some((offset, exp)) => format!("{:.2}", (v - offset) / 10f64.powi(exp) + 0.0),
        None => format!("{v:.1}"),
    };
    let mut mesh = chart.configure_mesh();
    mesh.disable_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(font(scale, 12.0))
        .axis_desc_style(font(scale, 13.0));
    if neuron_axis {
        mesh.y_label_formatter(&|v| neuron_tick(*v));
    } else if offset.is_some() {
        mesh.y_label_formatter(&relative);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    if let Some((offset, exp)) = offset {
        // As matplotlib does: "1e-8-6e1" above the axis means label * 1e-8 - 60.
        let text = format!("1e{exp}{offset:+e}");
        let style = font(scale, 12.0).pos(Pos::new(HPos::Left, VPos::Bottom));
        chart
            .plotting_area()
            .draw(&Text::new(text, (x.start, y.end), style))
            .map_err(|e| e.to_string())?;
    }
    Ok(chart)
}

/// The offset and power of ten of an axis whose span is too small for its values to tell
/// the ticks apart (span below 1e-4 of the values, as matplotlib's offset threshold):
/// ticks are then labelled `(v - offset) / 10^exp`.
fn axis_offset(lo: f64, hi: f64) -> Option<(f64, i32)> {
    let span = hi - lo;
    let mid = (lo + hi) / 2.0;
    if !(span > 0.0 && span.is_finite() && mid.is_finite()) || mid.abs() < span * 1e4 {
        return None;
    }
    let exp = span.log10().floor() as i32;
    let unit = 10f64.powi(exp + 2);
    Some(((mid / unit).round() * unit, exp))
}

/// A tick label of a neuron axis (rasters, matrices): only whole neuron indices are labelled.
fn neuron_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{:.0}", v.round() + 0.0)
    } else {
        String::new()
    }
}

fn font(scale: f64, size: f64) -> TextStyle<'static> {
    ("sans-serif", size * scale).into_font().color(&BLACK)
}

/// A value range bound as CompNeuroPy's `sci` writes it: one decimal (`-69.8`, `35.0`), or
/// for magnitudes below 1 one decimal of a power-of-ten mantissa (`1.8e-5`).
fn sci(x: f64) -> String {
    if !x.is_finite() {
        return "nan".to_string();
    }
    if x == 0.0 || x.abs() >= 1.0 {
        return crate::sim::py_float_repr((x * 10.0).round() / 10.0);
    }
    let zeros = (-x.abs().log10()).ceil() as i32;
    format!("{:.1}e-{zeros}", x * 10f64.powi(zeros))
}

/// The population rate in 100 bins over the window, in Hz, as PlotRecordings' `mean`.
fn population_rate(spikes: &[(f64, u32)], neurons: usize, window: (f64, f64)) -> Vec<(f64, f64)> {
    let bins = 100usize;
    let width = (window.1 - window.0).max(1e-9) / bins as f64;
    let mut counts = vec![0f64; bins];
    for (t, _) in spikes {
        let b = (((t - window.0) / width).max(0.0) as usize).min(bins - 1);
        counts[b] += 1.0;
    }
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                window.0 + (i as f64 + 0.5) * width,
                c / neurons.max(1) as f64 / (width / 1000.0),
            )
        })
        .collect()
}

/// Dots per spike, or a density image when there are more spikes than pixels.
fn draw_raster<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    spikes: &[(f64, u32)],
    neurons: usize,
    frame: &Frame,
) -> DrawResult {
    let (w, h) = frame.pixels;
    let window = frame.window;
    if spikes.iter().all(|(_, n)| *n == 0) {
        // Only neuron 0 fires: PlotRecordings draws tall ticks (`|`) instead of dots.
        return chart
            .draw_series(
                spikes.iter().map(|(t, _)| {
                    PathElement::new(vec![(*t, -0.1), (*t, 0.1)], BLACK.stroke_width(1))
                }),
            )
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    if spikes.len() <= w * h {
        let r = ((1.2 * frame.scale) as u32).max(1);
        return chart
            .draw_series(
                spikes
                    .iter()
                    .map(|(t, n)| Circle::new((*t, *n as f64), r, BLACK.filled())),
            )
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    let rows = neurons.clamp(1, h);
    let width = (window.1 - window.0).max(1e-9) / w as f64;
    let mut counts = vec![0u32; w * rows];
    for (t, n) in spikes {
        let x = (((t - window.0) / width).max(0.0) as usize).min(w - 1);
        let y = (*n as usize * rows / neurons.max(1)).min(rows - 1);
        counts[y * w + x] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let band = neurons.max(1) as f64 / rows as f64;
    let cells = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| {
            let (y, x) = (i / w, i % w);
            // Darker where more spikes fall into the pixel; a single spike stays visible.
            let f = 0.3 + 0.7 * (*c as f64 / max).sqrt();
            let g = (255.0 * (1.0 - f)) as u8;
            let t0 = window.0 + x as f64 * width;
            Rectangle::new(
                [
                    (t0, y as f64 * band - 0.5),
                    (t0 + width, (y + 1) as f64 * band - 0.5),
                ],
                RGBColor(g, g, g).filled(),
            )
        });
    chart
        .draw_series(cells)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn draw_variable<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &VarPanel,
    frame: &Frame,
) -> DrawResult {
    let scale = frame.scale;
    let px = |x: f64| (x * scale) as u32;
    let (x0, x1) = if frame.window.1 > frame.window.0 {
        frame.window
    } else {
        (frame.window.0, frame.window.0 + 1.0)
    };
    let (mut lo, mut hi) = (p.lo, p.hi);
    if !lo.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    if !(hi - lo).is_finite() {
        // A span beyond f64 (e.g. an expression scaling by 1e306): keep the axis finite.
        lo = lo.max(-f64::MAX / 4.0);
        hi = hi.min(f64::MAX / 4.0);
    }
    if hi - lo < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    if p.matrix {
        // As PlotRecordings: the value range in the title (its `sci` format), neuron 0 at
        // the top (matplotlib's imshow), no y label.
        let title = format!("{} [{}, {}]", p.title, sci(p.lo), sci(p.hi));
        let (lo, hi) = (p.lo, if p.hi > p.lo { p.hi } else { p.lo + 1.0 });
        let n = if p.mean { 1 } else { p.neurons.max(1) };
        let mut chart = axes(
            area,
            title,
            scale,
            50.0,
            (x0..x1, (n as f64 - 0.5)..-0.5),
            ("time [ms]", ""),
        )?;
        let half = match p.columns {
            Columns::Exact => p.period_ms / 2.0,
            Columns::Binned { width, .. } => width / 2.0,
        };
        let band = n as f64 / p.rows as f64;
        let cells = p.cols.iter().flat_map(|col| {
            (0..p.rows).filter_map(move |r| {
                // Sum and count of the values (or sample means) in the cell.
                if col.b[r] == 0.0 {
                    return None;
                }
                let v = col.a[r] / col.b[r];
                let f = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
                let color = ViridisRGB::get_color(f);
                Some(Rectangle::new(
                    [
                        (col.t - half, r as f64 * band - 0.5),
                        (col.t + half, (r + 1) as f64 * band - 0.5),
                    ],
                    color.filled(),
                ))
            })
        });
        chart.draw_series(cells).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let pad = (hi - lo) * 0.05;
    let mut chart = axes(
        area,
        &p.title,
        scale,
        60.0,
        (x0..x1, (lo - pad)..(hi + pad)),
        ("time [ms]", ""),
    )?;
    let style = BLACK.stroke_width(px(1.5).max(1));
    for r in 0..p.rows {
        // Pauses are gaps: a new line wherever a pause lies between two columns.
        let mut segment: Vec<(f64, f64)> = Vec::new();
        for col in &p.cols {
            if col.gap_before && !segment.is_empty() {
                draw_polyline(&mut chart, std::mem::take(&mut segment), style)?;
            }
            let (a, b) = (col.a[r], col.b[r]);
            if !a.is_finite() {
                continue;
            }
            segment.push((col.t, a));
            if b > a {
                // The envelope of a pixel column: a vertical stroke from min to max.
                segment.push((col.t, b));
            }
        }
        if !segment.is_empty() {
            draw_polyline(&mut chart, segment, style)?;
        }
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    frame: &Frame,
) -> DrawResult {
    let scale = frame.scale;
    let px = |x: f64| (x * scale) as u32;
    match panel {
        Panel::Variable(p) => draw_variable(area, p, frame),
        Panel::Spikes {
            title,
            format,
            compartment,
            spikes,
            neurons,
            window,
        } => {
            if spikes.is_empty() {
                let chart = ChartBuilder::on(area)
                    .caption(title, font(scale, 16.0))
                    .margin(px(10.0))
                    .build_cartesian_2d(0f64..1.0, 0f64..1.0)
                    .map_err(|e| e.to_string())?;
                let plotting = chart.plotting_area();
                plotting
                    .draw(&Rectangle::new(
                        [(0.0, 0.0), (1.0, 1.0)],
                        BLACK.stroke_width(1),
                    ))
                    .map_err(|e| e.to_string())?;
                let text = format!("{compartment} does not contain any spikes.");
                let style = font(scale, 13.0).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ));
                plotting
                    .draw(&Text::new(text, (0.5, 0.5), style))
                    .map_err(|e| e.to_string())?;
                return Ok(());
            }
            let x_range = window.0..window.1.max(window.0 + 1.0);
            // PlotRecordings' titles: the raster counts neurons up to the highest that
            // fired; the rate (also as hybrid, whose title it overwrites) and the histograms
            // count every neuron of the compartment.
            let max_rank = spikes.iter().map(|(_, n)| *n).max().unwrap_or(0) as f64;
            let y_range = -0.5f64..max_rank + 0.5;
            let raster_title = format!("{title} ({})", max_rank + 1.0);
            let activity_title = format!("Activity {compartment} ({neurons})");
            match format.as_str() {
                "raster" => {
                    let mut chart = axes(
                        area,
                        raster_title,
                        scale,
                        60.0,
                        (x_range, y_range),
                        ("time [ms]", "# neurons"),
                    )?;
                    draw_raster(&mut chart, spikes, *neurons, frame)
                }
                "hybrid" => {
                    // The raster with the population rate on a second y axis.
                    let rate = population_rate(spikes, *neurons, *window);
                    let max = rate.iter().map(|r| r.1).fold(1.0, f64::max);
                    let chart = ChartBuilder::on(area)
                        .caption(activity_title, font(scale, 16.0))
                        .margin(px(10.0))
                        .x_label_area_size(px(40.0))
                        .y_label_area_size(px(60.0))
                        .right_y_label_area_size(px(60.0))
                        .build_cartesian_2d(x_range.clone(), y_range)
                        .map_err(|e| e.to_string())?;
                    let mut chart = chart.set_secondary_coord(x_range, 0f64..max * 1.05);
                    chart
                        .configure_mesh()
                        .disable_mesh()
                        .x_desc("time [ms]")
                        .y_desc("# neurons")
                        .y_label_formatter(&|v| neuron_tick(*v))
                        .label_style(font(scale, 12.0))
                        .axis_desc_style(font(scale, 13.0))
                        .draw()
                        .map_err(|e| e.to_string())?;
                    chart
                        .configure_secondary_axes()
                        .y_desc("Mean firing rate [Hz]")
                        .label_style(font(scale, 12.0).color(&RED))
                        .axis_desc_style(font(scale, 13.0).color(&RED))
                        .draw()
                        .map_err(|e| e.to_string())?;
                    draw_raster(&mut chart, spikes, *neurons, frame)?;
                    chart
                        .draw_secondary_series(LineSeries::new(
                            rate,
                            RED.stroke_width(px(1.5).max(1)),
                        ))
                        .map_err(|e| e.to_string())?;
                    Ok(())
                }
                "mean" => {
                    let rate = population_rate(spikes, *neurons, *window);
                    let max = rate.iter().map(|r| r.1).fold(1.0, f64::max);
                    let mut chart = axes(
                        area,
                        activity_title,
                        scale,
                        60.0,
                        (x_range, 0f64..max * 1.05),
                        ("time [ms]", "Mean firing rate [Hz]"),
                    )?;
                    draw_polyline(&mut chart, rate, BLACK.stroke_width(px(1.5).max(1)))?;
                    Ok(())
                }
                _ => draw_histogram(area, compartment, format, spikes, *neurons, scale),
            }
        }
    }
}

/// `interspike` (ISI, 0-200 ms) or `cv` (0-2): histograms with 100 bins, normalised to a
/// probability density as PlotRecordings draws them (`density=True`).
fn draw_histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    compartment: &str,
    format: &str,
    spikes: &[(f64, u32)],
    neurons: usize,
    scale: f64,
) -> DrawResult {
    let mut per_neuron: Vec<Vec<f64>> = vec![Vec::new(); neurons];
    for (t, n) in spikes {
        if let Some(list) = per_neuron.get_mut(*n as usize) {
            list.push(*t);
        }
    }
    let (values, range, label): (Vec<f64>, (f64, f64), &str) = if format == "interspike" {
        let isi = per_neuron
            .iter()
            .flat_map(|ts| ts.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>())
            .collect();
        (isi, (0.0, 200.0), "Interspike interval [ms]")
    } else {
        let cv = per_neuron
            .iter()
            .filter_map(|ts| {
                let isi: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
                if isi.len() < 2 {
                    return None;
                }
                let mean = isi.iter().sum::<f64>() / isi.len() as f64;
                let var = isi.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / isi.len() as f64;
                Some(var.sqrt() / mean)
            })
            .collect();
        (cv, (0.0, 2.0), "Coefficient of variation")
    };
    let bins = 100usize;
    let width = (range.1 - range.0) / bins as f64;
    let mut counts = vec![0u32; bins];
    for v in &values {
        if *v >= range.0 && *v <= range.1 {
            counts[(((v - range.0) / width) as usize).min(bins - 1)] += 1;
        }
    }
    // Density: count / (values in range * bin width), so the bars integrate to 1.
    let total = counts.iter().sum::<u32>().max(1) as f64;
    let density: Vec<f64> = counts.iter().map(|c| *c as f64 / (total * width)).collect();
    let max = density.iter().copied().fold(0.0, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let name = if format == "interspike" {
        "Interspike interval histogram"
    } else {
        "Coefficient of variation histogram"
    };
    let mut chart = axes(
        area,
        format!("{name} {compartment} ({neurons})"),
        scale,
        60.0,
        (range.0..range.1, 0f64..max * 1.05),
        (label, "Probability"),
    )?;
    chart
        .draw_series(density.iter().enumerate().map(|(i, d)| {
            let a = range.0 + i as f64 * width;
            Rectangle::new([(a, 0.0), (a + width, *d)], BLACK.filled())
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tiny_spans_get_an_offset_axis_like_matplotlib() {
        // A trace within 2e-8 of -60 (my_pop1 of the seed): labels relative to -60 in 1e-8.
        let (offset, exp) = axis_offset(-60.0 - 1.9e-8, -60.0 + 1e-9).unwrap();
        assert_eq!((offset, exp), (-60.0, -8));
        assert_eq!(format!("1e{exp}{offset:+e}"), "1e-8-6e1");
        // Ordinary ranges keep plain labels.
        assert_eq!(axis_offset(-62.0, 35.0), None);
        assert_eq!(axis_offset(-60.5, -59.5), None);
        assert_eq!(axis_offset(-60.001, -59.999), Some((-60.0, -3)));
        assert_eq!(axis_offset(0.0, 0.0), None);
        assert_eq!(axis_offset(f64::NAN, 1.0), None);
    }

    #[test]
    fn polylines_are_cut_where_they_turn_back_and_keep_one_point_per_pixel() {
        // Pixel positions: right, up (a spike), straight back down past the start, right.
        let px = [
            (0, 100),
            (10, 100),
            (10, 100),
            (11, 0),
            (12, 110),
            (20, 110),
        ];
        let pts = px.iter().map(|&(x, y)| ((x as f64, -(y as f64)), (x, y)));
        let pieces = polyline_pieces(pts);
        let xs: Vec<Vec<f64>> = pieces
            .iter()
            .map(|p| p.iter().map(|q| q.0).collect())
            .collect();
        // The duplicate pixel is dropped; the line is cut at the top of the spike (the
        // turn back), and the pieces share that point.
        assert_eq!(xs, vec![vec![0.0, 10.0, 11.0], vec![11.0, 12.0, 20.0]]);
        // Gentle turns stay one piece.
        let smooth =
            [(0, 0), (10, 5), (20, 5), (30, 0)].map(|(x, y)| ((x as f64, y as f64), (x, y)));
        assert_eq!(polyline_pieces(smooth.into_iter()).len(), 1);
    }

    use super::*;

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
    fn range_bounds_are_written_as_compneuropy_does() {
        assert_eq!(sci(0.0001), "1.0e-4");
        assert_eq!(sci(1.77), "1.8");
        assert_eq!(sci(1.77e-5), "1.8e-5");
        assert_eq!(sci(177.22), "177.2");
        assert_eq!(sci(-69.77), "-69.8");
        assert_eq!(sci(35.0), "35.0");
        assert_eq!(sci(0.0), "0.0");
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

    #[test]
    fn means_and_matrix_cells_average_what_they_cover() {
        let shape = PanelShape {
            neurons: 1000,
            window: (0.0, 2.0),
            period_ms: 1.0,
            dt: 1.0,
            pixels: (100, 10),
        };
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
    }
}
