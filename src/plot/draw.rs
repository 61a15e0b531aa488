//! Drawing the subplots with plotters, as PlotRecordings draws them: axes, lines and
//! matrices of variables, rasters, rates and histograms of spikes.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::panel::{population_rate, Columns, Panel, VarPanel};
use super::plan::{PlotError, PlotPlan};

pub(super) fn register_font() -> Result<(), PlotError> {
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
pub(super) struct Frame {
    pub(super) scale: f64,
    pub(super) window: (f64, f64),
    /// Drawable pixels of one subplot (width, height).
    pub(super) pixels: (usize, usize),
}

pub(super) fn draw<DB: DrawingBackend>(
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
    let x = time_range(frame);
    let y = value_range(p);
    if p.matrix {
        return draw_matrix(area, p, frame.scale, x);
    }
    draw_lines(area, p, frame.scale, x, y)
}

/// The time axis of a variable subplot: the window, or one ms from its start when empty.
fn time_range(frame: &Frame) -> (f64, f64) {
    if frame.window.1 > frame.window.0 {
        frame.window
    } else {
        (frame.window.0, frame.window.0 + 1.0)
    }
}

/// The value range of a line subplot: kept finite, and widened by 1 when (nearly) flat.
fn value_range(p: &VarPanel) -> (f64, f64) {
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
    (lo, hi)
}

/// A variable as a matrix: one viridis cell per column and row of neurons.
fn draw_matrix<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &VarPanel,
    scale: f64,
    (x0, x1): (f64, f64),
) -> DrawResult {
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
            // The cell's extreme (see `Column::cell`); `matrix_mean` cells hold one mean.
            let v = if col.min.is_empty() {
                (col.b[r] != 0.0).then(|| col.a[r] / col.b[r])?
            } else {
                col.cell(r)?
            };
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
    Ok(())
}

/// A variable as lines: one polyline per row, broken at pauses.
fn draw_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &VarPanel,
    scale: f64,
    (x0, x1): (f64, f64),
    (lo, hi): (f64, f64),
) -> DrawResult {
    let px = |x: f64| (x * scale) as u32;
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
    match panel {
        Panel::Variable(p) => draw_variable(area, p, frame),
        Panel::NotRecorded { title, message } => draw_message(area, title, message, scale),
        Panel::Spikes {
            title,
            format,
            compartment,
            spikes,
            neurons,
            window,
            periods,
        } => {
            if spikes.is_empty() {
                let message = format!("{compartment} does not contain any spikes.");
                return draw_message(area, title, &message, scale);
            }
            let x_range = window.0..window.1.max(window.0 + 1.0);
            // PlotRecordings' titles: the raster counts neurons up to the highest that
            // fired; the rate (also as hybrid, whose title it overwrites) and the histograms
            // count every neuron of the compartment.
            let max_rank = spikes.iter().map(|(_, n)| *n).max().unwrap_or(0) as f64;
            let y_range = -0.5f64..max_rank + 0.5;
            let raster_title = format!("{title} ({})", max_rank + 1.0);
            let activity_title = format!("Activity {compartment} ({neurons})");
            let data = (spikes.as_slice(), *neurons, *window, periods.as_slice());
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
                "hybrid" => draw_hybrid(area, activity_title, (x_range, y_range), data, frame),
                "mean" => draw_mean_rate(area, activity_title, x_range, data, scale),
                _ => draw_histogram(area, compartment, format, spikes, *neurons, scale),
            }
        }
    }
}

/// A framed subplot saying that the compartment has no spikes.
fn draw_message<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    text: &str,
    scale: f64,
) -> DrawResult {
    let px = |x: f64| (x * scale) as u32;
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
    let style = font(scale, 13.0).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Center,
    ));
    plotting
        .draw(&Text::new(text, (0.5, 0.5), style))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Spikes, neurons, window and recording periods of a spike subplot.
type SpikeData<'a> = (&'a [(f64, u32)], usize, (f64, f64), &'a [(f64, f64)]);

/// `hybrid`: the raster with the population rate on a second y axis.
fn draw_hybrid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: String,
    (x_range, y_range): (std::ops::Range<f64>, std::ops::Range<f64>),
    (spikes, neurons, window, periods): SpikeData<'_>,
    frame: &Frame,
) -> DrawResult {
    let scale = frame.scale;
    let px = |x: f64| (x * scale) as u32;
    let rate = population_rate(spikes, neurons, window, periods);
    let max = rate.iter().flatten().map(|r| r.1).fold(1.0, f64::max);
    let chart = ChartBuilder::on(area)
        .caption(title, font(scale, 16.0))
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
    draw_raster(&mut chart, spikes, neurons, frame)?;
    for curve in rate {
        chart
            .draw_secondary_series(LineSeries::new(curve, RED.stroke_width(px(1.5).max(1))))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `mean`: the population rate as a line.
fn draw_mean_rate<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: String,
    x_range: std::ops::Range<f64>,
    (spikes, neurons, window, periods): SpikeData<'_>,
    scale: f64,
) -> DrawResult {
    let px = |x: f64| (x * scale) as u32;
    let rate = population_rate(spikes, neurons, window, periods);
    let max = rate.iter().flatten().map(|r| r.1).fold(1.0, f64::max);
    let mut chart = axes(
        area,
        title,
        scale,
        60.0,
        (x_range, 0f64..max * 1.05),
        ("time [ms]", "Mean firing rate [Hz]"),
    )?;
    for curve in rate {
        draw_polyline(&mut chart, curve, BLACK.stroke_width(px(1.5).max(1)))?;
    }
    Ok(())
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
    use super::*;

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
}
