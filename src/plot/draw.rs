//! Drawing the subplots with plotters, as PlotRecordings draws them: axes, lines and
//! matrices of variables, rasters, rates and histograms of spikes.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::{Axes, AxisSpec, TickRule};
use super::paint::Stroker;
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
    /// An SVG figure: text and lines are left to the viewer (no pixel painting).
    pub(super) svg: bool,
    /// Histograms count intervals that span a pause (`PlotPlan::isi_across_pauses`).
    pub(super) isi_across_pauses: bool,
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

pub(super) type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws a thick polyline on an SVG chart. plotters joins thick segments with mitres and
/// does not limit the inner side of a sharp turn, so a trace that turns back on itself (a
/// spike, the min/max stroke of a binned column) drew a stroke across the whole figure; a
/// zero-length segment (two points on one pixel) has no direction at all. So points on the
/// pixel of the previous one are dropped, and the line is cut where it turns back by more
/// than 120°: the pieces meet end to end, without a mitre. (PNG figures are stroked by
/// [`Stroker`], with round joins.)
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

/// Lines in data coordinates (of the right-hand axis when `twin`) in `color`, each
/// `Axes::line_width` wide: anti-aliased strokes on PNG, line elements on SVG.
fn draw_lines_of<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    axes: &Axes,
    frame: &Frame,
    lines: impl Iterator<Item = Vec<(f64, f64)>>,
    twin: bool,
    color: RGBColor,
) -> DrawResult {
    if frame.svg {
        let mut chart = axes.chart(area, twin)?;
        let style = color.stroke_width(axes.line_width().round().max(1.0) as u32);
        for line in lines {
            draw_polyline(&mut chart, line, style)?;
        }
        return Ok(());
    }
    let mut stroker = Stroker::new(axes.clip());
    let y = |v: f64| if twin { axes.y2_px(v) } else { axes.y_px(v) };
    for line in lines {
        let px: Vec<(f64, f64)> = line.iter().map(|&(a, b)| (axes.x_px(a), y(b))).collect();
        stroker.polyline(&px, axes.line_width());
    }
    stroker.flush(area, color)
}

/// A value range bound exactly as CompNeuroPy's `sci` writes it in matrix titles:
/// `str(round(x, 1))` for x >= 1 ("35.0", "177.2"), else `f"{x:.1e}"` ("-6.3e+01",
/// "1.0e-04", "0.0e+00"; its docstring's "1.0e-4" is not what Python prints).
fn sci(x: f64) -> String {
    if x >= 1.0 {
        // Rust's and Python's round-to-one-decimal agree (half to even on exact ties).
        let rounded: f64 = format!("{x:.1}").parse().unwrap_or(x);
        return crate::sim::py_float_repr(rounded);
    }
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return "-inf".to_string();
    }
    // Python: mantissa, 'e', sign, at least two exponent digits.
    let text = format!("{x:.1e}");
    match text.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => text,
    }
}

/// Dots per spike, or a density image when there are more spikes than pixels.
fn draw_raster<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    axes: &Axes,
    spikes: &[(f64, u32)],
    neurons: usize,
    frame: &Frame,
) -> DrawResult {
    let (w, h) = frame.pixels;
    let window = frame.window;
    let pt = frame.scale * 100.0 / 72.0;
    if spikes.iter().all(|(_, n)| *n == 0) {
        // Only neuron 0 fires: PlotRecordings draws tall ticks (marker `|`, size 3000:
        // sqrt(3000) pt tall) instead of dots.
        let half = 3000f64.sqrt() / 2.0 * pt;
        let y0 = axes.y_px(0.0);
        if frame.svg {
            let mut chart = axes.chart(area, false)?;
            let span = (half / (axes.rect.3 - axes.rect.1)) * 1.0;
            return chart
                .draw_series(spikes.iter().map(|(t, _)| {
                    PathElement::new(vec![(*t, -span), (*t, span)], BLACK.stroke_width(1))
                }))
                .map(|_| ())
                .map_err(|e| e.to_string());
        }
        let mut stroker = Stroker::new(axes.clip());
        for (t, _) in spikes {
            let x = axes.x_px(*t);
            stroker.polyline(&[(x, y0 - half), (x, y0 + half)], (0.1 * pt).max(1.0));
        }
        return stroker.flush(area, BLACK);
    }
    if spikes.len() <= w * h {
        // PlotRecordings' `.` markers of size 3 (points are circles of half the marker
        // size: 0.5 sqrt(3) pt) with a 0.1 pt edge.
        let across = (0.5 * 3f64.sqrt() + 0.1) * pt;
        if frame.svg {
            let mut chart = axes.chart(area, false)?;
            let r = ((across / 2.0) as u32).max(1);
            return chart
                .draw_series(
                    spikes
                        .iter()
                        .map(|(t, n)| Circle::new((*t, *n as f64), r, BLACK.filled())),
                )
                .map(|_| ())
                .map_err(|e| e.to_string());
        }
        let mut stroker = Stroker::new(axes.clip());
        for (t, n) in spikes {
            stroker.polyline(&[(axes.x_px(*t), axes.y_px(*n as f64))], across);
        }
        return stroker.flush(area, BLACK);
    }
    let mut chart = axes.chart(area, false)?;
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

/// The time axis of a subplot: the window, or one ms from its start when empty.
fn time_range(frame: &Frame) -> (f64, f64) {
    if frame.window.1 > frame.window.0 {
        frame.window
    } else {
        (frame.window.0, frame.window.0 + 1.0)
    }
}

/// The view of a value axis whose data spans `[lo, hi]`, as matplotlib autoscales a plot:
/// flat data widened by 5 % of its value (0.05 at zero, `nonsingular`), then a margin of
/// 5 % of the span on each side. Kept finite (no data: 0 to 1; a span beyond f64, e.g. an
/// expression scaling by 1e306, is cut to a quarter of f64's range).
fn auto_view(lo: f64, hi: f64) -> (f64, f64) {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() && lo <= hi {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    if !(hi - lo).is_finite() {
        lo = lo.max(-f64::MAX / 4.0);
        hi = hi.min(f64::MAX / 4.0);
    }
    let maxabs = lo.abs().max(hi.abs());
    if maxabs < 1e21 * f64::MIN_POSITIVE {
        (lo, hi) = (-0.05, 0.05);
    } else if hi - lo <= maxabs * 1e-15 {
        (lo, hi) = (lo - 0.05 * lo.abs(), hi + 0.05 * hi.abs());
    }
    let pad = (hi - lo) * 0.05;
    if !(hi - lo + 2.0 * pad).is_finite() {
        return (lo, hi);
    }
    (lo - pad, hi + pad)
}

/// The neuron ticks of a matrix, as PlotRecordings sets them: 0 alone for one row, else
/// `min(10, n)` ticks at `linspace(0, n, endpoint=False)` rounded down.
fn matrix_ticks(n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![0.0];
    }
    let num = n.min(10);
    let step = n as f64 / num as f64;
    (0..num).map(|i| (i as f64 * step).floor()).collect()
}

/// The neuron ticks of a raster: 0 alone when only neuron 0 fired, else matplotlib's
/// `MaxNLocator(integer=True)`.
fn raster_rule(max_rank: f64) -> TickRule {
    if max_rank == 0.0 {
        TickRule::Fixed(vec![0.0])
    } else {
        TickRule::Integer
    }
}

/// A variable as a matrix: one viridis cell per column and row of neurons.
fn draw_matrix<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &VarPanel,
    frame: &Frame,
) -> DrawResult {
    // As PlotRecordings: the value range in the title (its `sci` format), neuron 0 at
    // the top (matplotlib's imshow), no y label.
    let title = format!("{} [{}, {}]", p.title, sci(p.lo), sci(p.hi));
    let (lo, hi) = (p.lo, if p.hi > p.lo { p.hi } else { p.lo + 1.0 });
    let n = if p.mean { 1 } else { p.neurons.max(1) };
    let axes = Axes::layout(
        area.dim_in_pixel(),
        frame.scale,
        title,
        AxisSpec::new(time_range(frame), "time [ms]", TickRule::Auto),
        AxisSpec::new((n as f64 - 0.5, -0.5), "", TickRule::Fixed(matrix_ticks(n))),
        None,
    );
    let mut chart = axes.chart(area, false)?;
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
    axes.draw(area, frame.svg)
}

/// A variable as lines: one polyline per row, broken at pauses.
fn draw_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &VarPanel,
    frame: &Frame,
) -> DrawResult {
    let axes = Axes::layout(
        area.dim_in_pixel(),
        frame.scale,
        p.title.clone(),
        AxisSpec::new(time_range(frame), "time [ms]", TickRule::Auto),
        AxisSpec::new(auto_view(p.lo, p.hi), "", TickRule::Auto),
        None,
    );
    let lines = (0..p.rows).flat_map(|r| row_lines(p, r));
    draw_lines_of(area, &axes, frame, lines, false, BLACK)?;
    axes.draw(area, frame.svg)
}

/// Row `r` of a line subplot as polylines: pauses are gaps, a new line wherever a pause
/// lies between two columns.
fn row_lines(p: &VarPanel, r: usize) -> Vec<Vec<(f64, f64)>> {
    let mut lines = Vec::new();
    let mut segment: Vec<(f64, f64)> = Vec::new();
    for col in &p.cols {
        if col.gap_before && !segment.is_empty() {
            lines.push(std::mem::take(&mut segment));
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
        lines.push(segment);
    }
    lines
}

/// The view of a rate axis: autoscaled to the rates drawn, as `ax.plot` does.
fn rate_view(rate: &[Vec<(f64, f64)>]) -> (f64, f64) {
    let values = rate.iter().flatten().map(|r| r.1);
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    auto_view(lo, hi)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    frame: &Frame,
) -> DrawResult {
    match panel {
        Panel::Variable(p) if p.matrix => draw_matrix(area, p, frame),
        Panel::Variable(p) => draw_lines(area, p, frame),
        Panel::NotRecorded { title, message } => draw_message(area, title, message, frame),
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
                return draw_message(area, title, &message, frame);
            }
            // PlotRecordings' titles: the raster counts neurons up to the highest that
            // fired; the rate (also as hybrid, whose title it overwrites) and the histograms
            // count every neuron of the compartment.
            let max_rank = spikes.iter().map(|(_, n)| *n).max().unwrap_or(0) as f64;
            let raster_title = format!("{title} ({})", max_rank + 1.0);
            let activity_title = format!("Activity {compartment} ({neurons})");
            let data = (spikes.as_slice(), *neurons, *window, periods.as_slice());
            match format.as_str() {
                "raster" => {
                    let axes = Axes::layout(
                        area.dim_in_pixel(),
                        frame.scale,
                        raster_title,
                        AxisSpec::new(time_range(frame), "time [ms]", TickRule::Auto),
                        AxisSpec::new((-0.5, max_rank + 0.5), "# neurons", raster_rule(max_rank)),
                        None,
                    );
                    draw_raster(area, &axes, spikes, *neurons, frame)?;
                    axes.draw(area, frame.svg)
                }
                "hybrid" => draw_hybrid(area, activity_title, max_rank, data, frame),
                "mean" => draw_mean_rate(area, activity_title, data, frame),
                _ => draw_histogram(area, compartment, format, data, frame),
            }
        }
    }
}

/// A framed subplot without data, saying why (no spikes, not recorded).
fn draw_message<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    text: &str,
    frame: &Frame,
) -> DrawResult {
    let axes = Axes::layout(
        area.dim_in_pixel(),
        frame.scale,
        title.to_string(),
        AxisSpec::new((0.0, 1.0), "", TickRule::None),
        AxisSpec::new((0.0, 1.0), "", TickRule::None),
        None,
    );
    axes.message(area, frame.svg, text)?;
    axes.draw(area, frame.svg)
}

/// Spikes, neurons, window and recording periods of a spike subplot.
type SpikeData<'a> = (&'a [(f64, u32)], usize, (f64, f64), &'a [(f64, f64)]);

/// `hybrid`: the raster with the population rate on a second y axis, in red.
fn draw_hybrid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: String,
    max_rank: f64,
    (spikes, neurons, window, periods): SpikeData<'_>,
    frame: &Frame,
) -> DrawResult {
    let rate = population_rate(spikes, neurons, window, periods);
    let mut twin = AxisSpec::new(rate_view(&rate), "Mean firing rate [Hz]", TickRule::Auto);
    twin.color = RED;
    let axes = Axes::layout(
        area.dim_in_pixel(),
        frame.scale,
        title,
        AxisSpec::new(time_range(frame), "time [ms]", TickRule::Auto),
        AxisSpec::new((-0.5, max_rank + 0.5), "# neurons", raster_rule(max_rank)),
        Some(twin),
    );
    draw_raster(area, &axes, spikes, neurons, frame)?;
    draw_lines_of(area, &axes, frame, rate.into_iter(), true, RED)?;
    axes.draw(area, frame.svg)
}

/// `mean`: the population rate as a line.
fn draw_mean_rate<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: String,
    (spikes, neurons, window, periods): SpikeData<'_>,
    frame: &Frame,
) -> DrawResult {
    let rate = population_rate(spikes, neurons, window, periods);
    let axes = Axes::layout(
        area.dim_in_pixel(),
        frame.scale,
        title,
        AxisSpec::new(time_range(frame), "time [ms]", TickRule::Auto),
        AxisSpec::new(rate_view(&rate), "Mean firing rate [Hz]", TickRule::Auto),
        None,
    );
    draw_lines_of(area, &axes, frame, rate.into_iter(), false, BLACK)?;
    axes.draw(area, frame.svg)
}

/// Each neuron's interspike intervals. An interval between two spikes with a pause between
/// them (in different recording `periods`) is dropped unless `across_pauses`: the neuron
/// may have fired in the pause, unrecorded.
fn interspike_intervals(
    spikes: &[(f64, u32)],
    neurons: usize,
    periods: &[(f64, f64)],
    across_pauses: bool,
) -> Vec<Vec<f64>> {
    let period_of = |t: f64| periods.partition_point(|(start, _)| *start <= t);
    let mut per_neuron: Vec<Vec<(f64, usize)>> = vec![Vec::new(); neurons];
    for (t, n) in spikes {
        if let Some(list) = per_neuron.get_mut(*n as usize) {
            list.push((*t, period_of(*t)));
        }
    }
    per_neuron
        .iter()
        .map(|ts| {
            ts.windows(2)
                .filter(|w| across_pauses || w[0].1 == w[1].1)
                .map(|w| w[1].0 - w[0].0)
                .collect()
        })
        .collect()
}

/// `interspike` (ISI, 0-200 ms) or `cv` (0-2): histograms with 100 bins, normalised to a
/// probability density as PlotRecordings draws them (`density=True`).
fn draw_histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    compartment: &str,
    format: &str,
    (spikes, neurons, _, periods): SpikeData<'_>,
    frame: &Frame,
) -> DrawResult {
    let intervals = interspike_intervals(spikes, neurons, periods, frame.isi_across_pauses);
    let (values, range, label): (Vec<f64>, (f64, f64), &str) = if format == "interspike" {
        let isi = intervals.into_iter().flatten().collect();
        (isi, (0.0, 200.0), "Interspike interval [ms]")
    } else {
        let cv = intervals
            .into_iter()
            .filter_map(|isi| {
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
    let axes = Axes::layout(
        area.dim_in_pixel(),
        frame.scale,
        format!("{name} {compartment} ({neurons})"),
        AxisSpec::new(range, label, TickRule::Auto),
        AxisSpec::new((0.0, max * 1.05), "Probability", TickRule::Auto),
        None,
    );
    let mut chart = axes.chart(area, false)?;
    chart
        .draw_series(density.iter().enumerate().map(|(i, d)| {
            let a = range.0 + i as f64 * width;
            Rectangle::new([(a, 0.0), (a + width, *d)], BLACK.filled())
        }))
        .map_err(|e| e.to_string())?;
    axes.draw(area, frame.svg)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // `sci` of CompNeuroPy's extra_functions, as Python prints it.
        assert_eq!(sci(0.0001), "1.0e-04");
        assert_eq!(sci(1.77), "1.8");
        assert_eq!(sci(1.77e-5), "1.8e-05");
        assert_eq!(sci(177.22), "177.2");
        assert_eq!(sci(-69.77), "-7.0e+01");
        assert_eq!(sci(-63.1), "-6.3e+01");
        assert_eq!(sci(35.0), "35.0");
        assert_eq!(sci(0.0), "0.0e+00");
        assert_eq!(sci(1.25), "1.2");
        assert_eq!(sci(0.5), "5.0e-01");
        assert_eq!(sci(1e300), "1e+300");
        assert_eq!(sci(-2e-300), "-2.0e-300");
        assert_eq!(sci(f64::NAN), "nan");
        assert_eq!(sci(f64::INFINITY), "inf");
        assert_eq!(sci(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn intervals_across_a_pause_are_dropped_unless_asked_for() {
        // Neuron 0 fires at 10, 20 (period 0-100), 160, 170 (period 150-200); neuron 1 once.
        let spikes = [(10.0, 0), (20.0, 0), (50.0, 1), (160.0, 0), (170.0, 0)];
        let periods = [(0.0, 100.0), (150.0, 200.0)];
        let isi = interspike_intervals(&spikes, 2, &periods, false);
        assert_eq!(isi, vec![vec![10.0, 10.0], vec![]]);
        let all = interspike_intervals(&spikes, 2, &periods, true);
        assert_eq!(all, vec![vec![10.0, 140.0, 10.0], vec![]]);
    }

    #[test]
    fn value_axes_are_autoscaled_as_matplotlib_does() {
        let close = |a: (f64, f64), b: (f64, f64)| {
            (a.0 - b.0).abs() < 1e-9 * b.0.abs().max(1.0)
                && (a.1 - b.1).abs() < 1e-9 * b.1.abs().max(1.0)
        };
        // A silent neuron at -65: matplotlib's view is -68.575 to -61.425.
        assert!(close(auto_view(-65.0, -65.0), (-68.575, -61.425)));
        assert!(close(auto_view(0.0, 0.0), (-0.055, 0.055)));
        assert!(close(auto_view(0.0, 100.0), (-5.0, 105.0)));
        assert!(close(auto_view(f64::NAN, f64::NAN), (-0.05, 1.05)));
        for v in [1e20, -1e300, 1e-300] {
            let (lo, hi) = auto_view(v, v);
            assert!(
                lo.is_finite() && hi.is_finite() && hi > lo,
                "{v}: {lo} {hi}"
            );
        }
        let (lo, hi) = auto_view(-1e308, 1e308);
        assert!(lo.is_finite() && hi.is_finite() && hi > lo);
    }

    #[test]
    fn matrix_ticks_are_plotrecordings() {
        assert_eq!(matrix_ticks(1), vec![0.0]);
        assert_eq!(matrix_ticks(7), (0..7).map(f64::from).collect::<Vec<_>>());
        assert_eq!(
            matrix_ticks(15),
            vec![0.0, 1.0, 3.0, 4.0, 6.0, 7.0, 9.0, 10.0, 12.0, 13.0]
        );
        assert_eq!(matrix_ticks(1000)[1], 100.0);
    }
}
