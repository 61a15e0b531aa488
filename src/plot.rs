//! Figures from an archive (SPEC §7, CompNeuroPy's `PlotRecordings`): a grid of subplots, each
//! a compartment's variable or spikes of one chunk, drawn to PNG or SVG. Data is read from
//! the archive, never from memory; text uses an embedded font, so no system fonts are
//! needed.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::archive::{Archive, ArchiveError, ChunkRef};

/// Errors of plans and drawing.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("plan: {0}")]
    Plan(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("drawing {path}: {what}")]
    Draw { path: String, what: String },
}

/// Formats for variables.
pub const VARIABLE_FORMATS: [&str; 4] = ["line", "line_mean", "matrix", "matrix_mean"];
/// Formats for spikes.
pub const SPIKE_FORMATS: [&str; 5] = ["raster", "mean", "hybrid", "interspike", "cv"];

/// What to draw: PlotRecordings' `shape` and `plan`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotPlan {
    pub shape: (u32, u32),
    pub position: Vec<u32>,
    pub compartment: Vec<String>,
    pub variable: Vec<String>,
    pub format: Vec<String>,
}

/// Which chunk, which window, how large.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    pub chunk: ChunkRef,
    pub time_lim: Option<(f64, f64)>,
    pub dpi: u32,
}

fn plan_error(msg: impl Into<String>) -> PlotError {
    PlotError::Plan(msg.into())
}

/// Checks a plan against the archive as PlotRecordings does, returning errors instead of
/// exiting.
pub fn validate_plan(plan: &PlotPlan, archive: &Archive, chunk: ChunkRef) -> Result<(), PlotError> {
    let n = plan.position.len();
    if plan.compartment.len() != n || plan.variable.len() != n || plan.format.len() != n {
        return Err(plan_error(format!(
            "position, compartment, variable and format must have the same length, got {}, {}, {} and {}",
            n,
            plan.compartment.len(),
            plan.variable.len(),
            plan.format.len()
        )));
    }
    let (rows, cols) = plan.shape;
    if rows == 0 || cols == 0 {
        return Err(plan_error(format!(
            "shape ({rows}, {cols}) has no subplot; use e.g. shape = [2, 2]"
        )));
    }
    let slots = rows * cols;
    for (i, p) in plan.position.iter().enumerate() {
        if *p < 1 || *p > slots {
            return Err(plan_error(format!(
                "position {p} is outside 1..{slots} of shape ({rows}, {cols})"
            )));
        }
        if plan.position[..i].contains(p) {
            return Err(plan_error(format!(
                "position {p} is used twice; give every subplot its own position"
            )));
        }
    }
    let entry = archive
        .chunks(chunk.run, chunk.set)
        .into_iter()
        .find(|c| c.chunk == chunk.chunk)
        .ok_or_else(|| {
            plan_error(format!(
                "run {} set {} has no chunk {}",
                chunk.run, chunk.set, chunk.chunk
            ))
        })?;
    for i in 0..n {
        let comp = &plan.compartment[i];
        let var = &plan.variable[i];
        let fmt = &plan.format[i];
        if !archive.manifest().compartments.contains(comp) {
            return Err(plan_error(format!(
                "unknown compartment \"{comp}\"; the archive holds {}",
                archive.manifest().compartments.join(", ")
            )));
        }
        let file = entry
            .files
            .iter()
            .find(|f| &f.compartment == comp)
            .ok_or_else(|| plan_error(format!("no files of {comp} in this chunk")))?;
        let meta = archive.file_meta(&file.path)?;
        let has_spikes = entry
            .files
            .iter()
            .any(|f| &f.compartment == comp && f.kind == crate::archive::Kind::Spikes);
        if var == "spike" {
            if !has_spikes {
                return Err(plan_error(format!("{comp} does not record spikes")));
            }
            if !SPIKE_FORMATS.contains(&fmt.as_str()) {
                return Err(plan_error(format!(
                    "format \"{fmt}\" is not for spikes; use one of {}",
                    SPIKE_FORMATS.join(", ")
                )));
            }
        } else {
            let state_meta = entry
                .files
                .iter()
                .find(|f| &f.compartment == comp && f.kind == crate::archive::Kind::State)
                .map(|f| archive.file_meta(&f.path))
                .transpose()?
                .unwrap_or(meta);
            if !state_meta.variables.contains(var) {
                return Err(plan_error(format!(
                    "{comp} has no recorded variable \"{var}\"; recorded: {}",
                    state_meta
                        .variables
                        .iter()
                        .cloned()
                        .chain(has_spikes.then(|| "spike".to_string()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if !VARIABLE_FORMATS.contains(&fmt.as_str()) {
                return Err(plan_error(format!(
                    "format \"{fmt}\" is not for variables; use one of {}",
                    VARIABLE_FORMATS.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// One subplot's data, read from the archive.
enum Panel {
    Variable {
        title: String,
        format: String,
        name: String,
        /// Time of each sample in ms and the values `[samples][neurons]`; `None` rows split
        /// periods (pauses are gaps, never joined).
        times: Vec<f64>,
        values: ndarray::Array2<f64>,
        period_ms: f64,
    },
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

/// Draws a figure from an archive to `path` (`.png` or `.svg`). Returns the warnings printed
/// by PlotRecordings (e.g. a spike subplot without spikes).
pub fn plot(
    archive: &Archive,
    plan: &PlotPlan,
    options: &PlotOptions,
    path: &Path,
) -> Result<Vec<String>, PlotError> {
    validate_plan(plan, archive, options.chunk)?;
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
        for (&(s0, s1), _) in c.pairs.iter().zip(0..) {
            lo = lo.min(s0 as f64 * dt);
            hi = hi.max((s1 - 1) as f64 * dt);
        }
    }
    if !lo.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    let window = match options.time_lim {
        Some((a, b)) => {
            if a >= b || b < lo || a > hi {
                return Err(plan_error(format!(
                    "time_lim ({a}, {b}) is outside the chunk's recordings ({lo}, {hi}); give a window inside them"
                )));
            }
            (a, b)
        }
        None => (lo, hi),
    };
    let mut warnings = Vec::new();
    let mut panels = Vec::new();
    for i in 0..plan.position.len() {
        let comp = &plan.compartment[i];
        let var = &plan.variable[i];
        let format = plan.format[i].clone();
        if var == "spike" {
            let per_neuron = archive.read_spikes(options.chunk, comp, Some(window))?;
            let neurons = per_neuron.len();
            let mut spikes = Vec::new();
            for (n, steps) in per_neuron.iter().enumerate() {
                spikes.extend(steps.iter().map(|s| (*s as f64 * dt, n as u32)));
            }
            if spikes.is_empty() {
                warnings.push(format!("WARNING PlotRecordings: {comp} does not contain any spikes in the given time interval."));
            }
            panels.push(Panel::Spikes {
                title: format!("Spikes {comp}"),
                format,
                compartment: comp.clone(),
                spikes,
                neurons,
                window,
            });
        } else {
            let (steps, values) = archive.read_state(options.chunk, comp, var, Some(window))?;
            let neurons = values.ncols();
            let period_ms = chunk_times
                .compartment(comp)
                .map_or(dt, |c| c.period_steps as f64 * dt);
            panels.push(Panel::Variable {
                title: format!("Variable {var} of {comp} ({neurons})"),
                format,
                name: var.clone(),
                times: steps.iter().map(|s| *s as f64 * dt).collect(),
                values,
                period_ms,
            });
        }
    }
    let scale = options.dpi as f64 / 100.0;
    let size = ((1280.0 * scale) as u32, (960.0 * scale) as u32);
    register_font()?;
    let path_text = path.display().to_string();
    let draw_err = |e: String| PlotError::Draw {
        path: path_text.clone(),
        what: e,
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw(&root, plan, &panels, scale, window).map_err(draw_err)?;
            root.present().map_err(|e| PlotError::Draw {
                path: path.display().to_string(),
                what: e.to_string(),
            })?;
        }
        Some("png") => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw(&root, plan, &panels, scale, window).map_err(draw_err)?;
            root.present().map_err(|e| PlotError::Draw {
                path: path.display().to_string(),
                what: e.to_string(),
            })?;
        }
        _ => {
            return Err(plan_error(format!(
                "{} must end in .png or .svg",
                path.display()
            )))
        }
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

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plan: &PlotPlan,
    panels: &[Panel],
    scale: f64,
    window: (f64, f64),
) -> DrawResult {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let areas = root.split_evenly((plan.shape.0 as usize, plan.shape.1 as usize));
    for (panel, pos) in panels.iter().zip(&plan.position) {
        let area = &areas[*pos as usize - 1];
        draw_panel(area, panel, scale, window)?;
    }
    Ok(())
}

/// A subplot's axes as PlotRecordings draws them: title, no grid, labelled axes.
fn axes<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: impl AsRef<str>,
    scale: f64,
    y_label_px: f64,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    (x_desc, y_desc): (&str, &str),
) -> Result<
    ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    String,
> {
    let px = |v: f64| (v * scale) as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(title.as_ref(), font(scale, 16.0))
        .margin(px(10.0))
        .x_label_area_size(px(40.0))
        .y_label_area_size(px(y_label_px))
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(font(scale, 12.0))
        .axis_desc_style(font(scale, 13.0))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

fn font(scale: f64, size: f64) -> TextStyle<'static> {
    ("sans-serif", size * scale).into_font().color(&BLACK)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    scale: f64,
    window: (f64, f64),
) -> DrawResult {
    let px = |x: f64| (x * scale) as u32;
    let (x0, x1) = if window.1 > window.0 {
        window
    } else {
        (window.0, window.0 + 1.0)
    };
    match panel {
        Panel::Variable {
            title,
            format,
            name,
            times,
            values,
            period_ms,
        } => {
            let mean_only = format.ends_with("_mean");
            let rows: Vec<Vec<f64>> = if mean_only {
                vec![values
                    .rows()
                    .into_iter()
                    .map(|r| r.mean().unwrap_or(f64::NAN))
                    .collect()]
            } else {
                (0..values.ncols())
                    .map(|n| values.column(n).to_vec())
                    .collect()
            };
            let (mut lo, mut hi) = rows
                .iter()
                .flatten()
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(*v), b.max(*v))
                });
            if !lo.is_finite() {
                lo = 0.0;
                hi = 1.0;
            }
            if hi - lo < 1e-12 {
                lo -= 0.5;
                hi += 0.5;
            }
            let pad = (hi - lo) * 0.05;
            if format.starts_with("matrix") {
                let title = format!("{title}, range [{lo:.2}, {hi:.2}]");
                let n = rows.len().max(1);
                let mut chart = axes(
                    area,
                    title,
                    scale,
                    50.0,
                    (x0..x1, 0f64..n as f64),
                    ("time [ms]", if mean_only { "mean" } else { "neuron" }),
                )?;
                let half = period_ms / 2.0;
                let cells = rows.iter().enumerate().flat_map(|(n, row)| {
                    times
                        .iter()
                        .zip(row)
                        .filter(|(_, v)| v.is_finite())
                        .map(move |(t, v)| {
                            let f = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
                            let color = ViridisRGB::get_color(f);
                            Rectangle::new(
                                [(t - half, n as f64), (t + half, n as f64 + 1.0)],
                                color.filled(),
                            )
                        })
                });
                chart.draw_series(cells).map_err(|e| e.to_string())?;
                return Ok(());
            }
            let mut chart = axes(
                area,
                title,
                scale,
                60.0,
                (x0..x1, (lo - pad)..(hi + pad)),
                ("time [ms]", name.as_str()),
            )?;
            for row in &rows {
                // Pauses are gaps: a new segment wherever samples are more than a period apart.
                let mut segment: Vec<(f64, f64)> = Vec::new();
                let mut last_t = f64::NEG_INFINITY;
                for (t, v) in times.iter().zip(row) {
                    if t - last_t > period_ms * 1.5 && !segment.is_empty() {
                        chart
                            .draw_series(LineSeries::new(
                                std::mem::take(&mut segment),
                                BLACK.stroke_width(px(1.5).max(1)),
                            ))
                            .map_err(|e| e.to_string())?;
                    }
                    segment.push((*t, *v));
                    last_t = *t;
                }
                if !segment.is_empty() {
                    chart
                        .draw_series(LineSeries::new(segment, BLACK.stroke_width(px(1.5).max(1))))
                        .map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        }
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
                let (w, h) = plotting.dim_in_pixel();
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
                let _ = (w, h);
                plotting
                    .draw(&Text::new(text, (0.5, 0.5), style))
                    .map_err(|e| e.to_string())?;
                return Ok(());
            }
            match format.as_str() {
                "raster" | "hybrid" => {
                    let mut chart = axes(
                        area,
                        title,
                        scale,
                        60.0,
                        (
                            window.0..window.1.max(window.0 + 1.0),
                            -0.5f64..(*neurons as f64 - 0.5).max(0.5),
                        ),
                        ("time [ms]", "# neurons"),
                    )?;
                    let r = px(2.0).max(1);
                    chart
                        .draw_series(
                            spikes
                                .iter()
                                .map(|(t, n)| Circle::new((*t, *n as f64), r, BLACK.filled())),
                        )
                        .map_err(|e| e.to_string())?;
                    Ok(())
                }
                "mean" => {
                    // Population rate in 100 bins over the window, in Hz.
                    let bins = 100usize;
                    let width = (window.1 - window.0).max(1e-9) / bins as f64;
                    let mut counts = vec![0f64; bins];
                    for (t, _) in spikes {
                        let b = (((t - window.0) / width) as usize).min(bins - 1);
                        counts[b] += 1.0;
                    }
                    let rate: Vec<(f64, f64)> = counts
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            (
                                window.0 + (i as f64 + 0.5) * width,
                                c / (*neurons).max(1) as f64 / (width / 1000.0),
                            )
                        })
                        .collect();
                    let max = rate.iter().map(|r| r.1).fold(1.0, f64::max);
                    let mut chart = axes(
                        area,
                        title,
                        scale,
                        60.0,
                        (window.0..window.1.max(window.0 + 1.0), 0f64..max * 1.05),
                        ("time [ms]", "mean firing rate [Hz]"),
                    )?;
                    chart
                        .draw_series(LineSeries::new(rate, BLACK.stroke_width(px(1.5).max(1))))
                        .map_err(|e| e.to_string())?;
                    Ok(())
                }
                _ => {
                    // interspike (0-200 ms) or cv (0-2): histograms with 100 bins.
                    let mut per_neuron: Vec<Vec<f64>> = vec![Vec::new(); *neurons];
                    for (t, n) in spikes {
                        per_neuron[*n as usize].push(*t);
                    }
                    let (values, range, label): (Vec<f64>, (f64, f64), &str) = if format
                        == "interspike"
                    {
                        let isi = per_neuron
                            .iter()
                            .flat_map(|ts| ts.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>())
                            .collect();
                        (isi, (0.0, 200.0), "ISI [ms]")
                    } else {
                        let cv = per_neuron
                            .iter()
                            .filter_map(|ts| {
                                let isi: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
                                if isi.len() < 2 {
                                    return None;
                                }
                                let mean = isi.iter().sum::<f64>() / isi.len() as f64;
                                let var = isi.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                                    / isi.len() as f64;
                                Some(var.sqrt() / mean)
                            })
                            .collect();
                        (cv, (0.0, 2.0), "CV")
                    };
                    let bins = 100usize;
                    let width = (range.1 - range.0) / bins as f64;
                    let mut counts = vec![0u32; bins];
                    for v in &values {
                        if *v >= range.0 && *v <= range.1 {
                            counts[(((v - range.0) / width) as usize).min(bins - 1)] += 1;
                        }
                    }
                    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
                    let mut chart = axes(
                        area,
                        title,
                        scale,
                        60.0,
                        (range.0..range.1, 0f64..max * 1.05),
                        (label, "count"),
                    )?;
                    chart
                        .draw_series(counts.iter().enumerate().map(|(i, c)| {
                            let a = range.0 + i as f64 * width;
                            Rectangle::new([(a, 0.0), (a + width, *c as f64)], BLACK.filled())
                        }))
                        .map_err(|e| e.to_string())?;
                    Ok(())
                }
            }
        }
    }
}
