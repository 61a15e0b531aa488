//! A subplot's axes as matplotlib draws them with PlotRecordings' defaults: a box of four
//! spines 0.8 pt wide, outward ticks 3.5 pt long with their labels 3.5 pt beyond, tick and
//! axis labels in 10 pt, a 12 pt title 6 pt above the box, y labels turned to read from
//! bottom to top (the right one of a twin axis too). The box is placed so that every label
//! lies inside the subplot, as `tight_layout` places them, and the ticks are chosen and
//! labelled as matplotlib's (see `ticks`), with fewer ticks where labels would touch.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::paint::{draw_text, text_box, text_size, Anchor};
use super::ticks::{format_ticks, Locator};

/// How an axis places its ticks.
#[derive(Clone, Debug)]
pub(super) enum TickRule {
    /// matplotlib's `AutoLocator`.
    Auto,
    /// `MaxNLocator(integer=True)` (the neuron axis of a raster).
    Integer,
    /// These positions, labelled as whole numbers (`plt.yticks`).
    Fixed(Vec<f64>),
    /// No ticks.
    None,
}

#[derive(Clone, Debug)]
pub(super) struct AxisSpec {
    /// The values at the start (left, bottom) and the end (right, top) of the axis; an
    /// inverted axis (a matrix's neurons, 0 at the top) has start > end.
    pub view: (f64, f64),
    pub label: String,
    pub rule: TickRule,
    pub color: RGBColor,
}

impl AxisSpec {
    pub(super) fn new(view: (f64, f64), label: &str, rule: TickRule) -> AxisSpec {
        AxisSpec {
            view,
            label: label.to_string(),
            rule,
            color: BLACK,
        }
    }
}

/// An axis with its ticks placed.
#[derive(Clone, Debug, Default)]
struct Placed {
    ticks: Vec<f64>,
    labels: Vec<String>,
    offset_text: String,
}

/// Sizes in pixels of one figure's decorations.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    pt: f64,
    margin: f64,
    line: f64,
    tick: f64,
    pad: f64,
    label_pad: f64,
    title_pad: f64,
    font: f64,
    title_font: f64,
}

impl Sizes {
    fn new(scale: f64) -> Sizes {
        let pt = scale * 100.0 / 72.0;
        Sizes {
            pt,
            margin: 6.0 * pt,
            line: (0.8 * pt).round().max(1.0),
            tick: 3.5 * pt,
            pad: 3.5 * pt,
            label_pad: 4.0 * pt,
            title_pad: 6.0 * pt,
            font: 10.0 * pt,
            title_font: 12.0 * pt,
        }
    }
}

/// A subplot's axes, laid out in the pixels of its area.
pub(super) struct Axes {
    title: String,
    x: AxisSpec,
    y: AxisSpec,
    y2: Option<AxisSpec>,
    /// The box: left, top, right, bottom (pixels of the area).
    pub rect: (f64, f64, f64, f64),
    area: (f64, f64),
    /// Room above the box for an offset text, below the title.
    offset_band: f64,
    px: Placed,
    py: Placed,
    py2: Placed,
    s: Sizes,
}

impl Axes {
    pub(super) fn layout(
        area: (u32, u32),
        scale: f64,
        title: String,
        x: AxisSpec,
        y: AxisSpec,
        y2: Option<AxisSpec>,
    ) -> Axes {
        let s = Sizes::new(scale);
        let (w, h) = (area.0 as f64, area.1 as f64);
        let line_h = text_size("0", s.font).1;
        let title_h = if title.is_empty() {
            0.0
        } else {
            text_size(&title, s.title_font).1 + s.title_pad
        };
        let ticked = |a: &AxisSpec| !matches!(a.rule, TickRule::None);
        let mut top = s.margin + title_h;
        let mut bottom = h - s.margin;
        if ticked(&x) {
            bottom -= s.tick + s.pad + line_h;
        }
        if !x.label.is_empty() {
            bottom -= s.label_pad + line_h;
        }
        // A box at least 1 pt tall and wide, inside the subplot even at dpi 1.
        let min_box = s.pt.max(1.0);
        let bottom = bottom.max(top + min_box).min(h);
        let place_y = |top: f64| {
            let py = place(&y, bottom - top, &s, true);
            let py2 = y2
                .as_ref()
                .map(|a| place(a, bottom - top, &s, true))
                .unwrap_or_default();
            (py, py2)
        };
        let (mut py, mut py2) = place_y(top);
        // An offset text ("1e−8−6e1") sits above the box, and the title above it, as
        // matplotlib moves a title up over it.
        let mut offset_band = 0.0;
        if !(py.offset_text.is_empty() && py2.offset_text.is_empty()) {
            offset_band = line_h + 2.0 * s.pt;
            top = (top + offset_band).min(bottom - min_box);
            (py, py2) = place_y(top);
        }
        let band = |a: &AxisSpec, p: &Placed| {
            let mut band = 0.0;
            if ticked(a) {
                let widest = p
                    .labels
                    .iter()
                    .map(|l| text_size(l, s.font).0)
                    .fold(0.0, f64::max);
                band += s.tick + s.pad + widest;
            }
            if !a.label.is_empty() {
                band += s.label_pad + line_h;
            }
            band
        };
        let left = s.margin + band(&y, &py);
        let mut right = w - s.margin;
        if let Some(a) = &y2 {
            right -= band(a, &py2);
        }
        let right = right.max(left + min_box).min(w);
        let mut px = place(&x, right - left, &s, false);
        // The last x label may reach past the box: keep it inside the subplot.
        let mut rect = (left, top, right, bottom);
        if y2.is_none() {
            if let (Some(t), Some(l)) = (px.ticks.last(), px.labels.last()) {
                let at = left + (t - x.view.0) / (x.view.1 - x.view.0) * (right - left);
                let over = at + text_size(l, s.font).0 / 2.0 - (w - s.margin / 2.0);
                if over > 0.0 && right - over > left + min_box {
                    rect.2 = right - over;
                    px = place(&x, rect.2 - left, &s, false);
                }
            }
        }
        Axes {
            title,
            x,
            y,
            y2,
            rect,
            area: (w, h),
            offset_band,
            px,
            py,
            py2,
            s,
        }
    }

    pub(super) fn x_px(&self, v: f64) -> f64 {
        let (a, b) = self.x.view;
        self.rect.0 + (v - a) / (b - a) * (self.rect.2 - self.rect.0)
    }

    fn y_px_of(&self, axis: &AxisSpec, v: f64) -> f64 {
        let (a, b) = axis.view;
        self.rect.3 - (v - a) / (b - a) * (self.rect.3 - self.rect.1)
    }

    pub(super) fn y_px(&self, v: f64) -> f64 {
        self.y_px_of(&self.y, v)
    }

    pub(super) fn y2_px(&self, v: f64) -> f64 {
        match &self.y2 {
            Some(a) => self.y_px_of(a, v),
            None => self.y_px(v),
        }
    }

    /// The box in whole pixels (left, top, right, bottom) within the subplot, where data
    /// is drawn.
    pub(super) fn clip(&self) -> (i64, i64, i64, i64) {
        let r = self.rect;
        let (w, h) = (self.area.0 as i64, self.area.1 as i64);
        (
            (r.0.round() as i64).clamp(0, w),
            (r.1.round() as i64).clamp(0, h),
            (r.2.round() as i64).clamp(0, w),
            (r.3.round() as i64).clamp(0, h),
        )
    }

    /// Width of data lines (matplotlib's 1.5 pt) in pixels.
    pub(super) fn line_width(&self) -> f64 {
        1.5 * self.s.pt
    }

    /// A plotters chart whose plotting area is the box, with the axes' value ranges (the
    /// right-hand axis' when `twin`).
    pub(super) fn chart<'a, DB: DrawingBackend>(
        &self,
        area: &'a DrawingArea<DB, Shift>,
        twin: bool,
    ) -> Result<super::draw::Chart<'a, DB>, String> {
        let (l, t, r, b) = self.clip();
        let (w, h) = (self.area.0 as i64, self.area.1 as i64);
        let m = |v: i64| v.max(0) as u32;
        let view = match &self.y2 {
            Some(a) if twin => a.view,
            _ => self.y.view,
        };
        ChartBuilder::on(area)
            .margin_left(m(l))
            .margin_top(m(t))
            .margin_right(m(w - r))
            .margin_bottom(m(h - b))
            .build_cartesian_2d(self.x.view.0..self.x.view.1, view.0..view.1)
            .map_err(|e| e.to_string())
    }

    /// Every tick label's box (left, top, width, height), the x axis first.
    #[cfg(test)]
    pub(super) fn label_boxes(&self) -> Vec<(f64, f64, f64, f64)> {
        self.labels().into_iter().map(|(_, b, _)| b).collect()
    }

    /// The tick labels: text, box, colour.
    fn labels(&self) -> Vec<Label> {
        let s = &self.s;
        let (w, h) = self.area;
        let (left, _, right, bottom) = self.rect;
        let mut out = Vec::new();
        for (t, l) in self.px.ticks.iter().zip(&self.px.labels) {
            let at = (self.x_px(*t), bottom + s.tick + s.pad);
            let mut b = text_box(l, s.font, at, Anchor { h: 0.5, v: 0.0 }, false);
            b.0 = b.0.min(w - b.2).max(0.0);
            out.push((l.clone(), b, self.x.color));
        }
        let mut ys = vec![(&self.y, &self.py, left - s.tick - s.pad, 1.0)];
        if let Some(a) = &self.y2 {
            ys.push((a, &self.py2, right + s.tick + s.pad, 0.0));
        }
        for (axis, placed, x, h_anchor) in ys {
            for (t, l) in placed.ticks.iter().zip(&placed.labels) {
                let at = (x, self.y_px_of(axis, *t));
                let mut b = text_box(
                    l,
                    s.font,
                    at,
                    Anchor {
                        h: h_anchor,
                        v: 0.5,
                    },
                    false,
                );
                b.1 = b.1.min(h - b.3).max(0.0);
                out.push((l.clone(), b, axis.color));
            }
        }
        out
    }

    /// Draws the box, ticks, labels and title (after the data, as matplotlib does).
    pub(super) fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        svg: bool,
    ) -> Result<(), String> {
        let s = &self.s;
        let (left, top, right, bottom) = self.rect;
        let lw = s.line;
        let fill = |x0: f64, y0: f64, x1: f64, y1: f64, color: RGBColor| {
            let (x0, y0) = (x0.round() as i32, y0.round() as i32);
            let (x1, y1) = (
                (x1.round() as i32).max(x0 + 1),
                (y1.round() as i32).max(y0 + 1),
            );
            // Filled rectangles cover [x0, x1) x [y0, y1).
            area.draw(&Rectangle::new([(x0, y0), (x1, y1)], color.filled()))
                .map_err(|e| e.to_string())
        };
        // Spines, centred on the box's edges.
        let half = lw / 2.0;
        fill(left - half, top - half, right + half, top + half, BLACK)?;
        fill(
            left - half,
            bottom - half,
            right + half,
            bottom + half,
            BLACK,
        )?;
        fill(left - half, top - half, left + half, bottom + half, BLACK)?;
        fill(right - half, top - half, right + half, bottom + half, BLACK)?;
        // Ticks, outward.
        for t in &self.px.ticks {
            let x = self.x_px(*t);
            fill(x - half, bottom, x + half, bottom + s.tick, self.x.color)?;
        }
        for t in &self.py.ticks {
            let y = self.y_px(*t);
            fill(left - s.tick, y - half, left, y + half, self.y.color)?;
        }
        if let Some(a) = &self.y2 {
            for t in &self.py2.ticks {
                let y = self.y2_px(*t);
                fill(right, y - half, right + s.tick, y + half, a.color)?;
            }
        }
        let labels = self.labels();
        for (text, b, color) in &labels {
            draw_text(area, svg, text, s.font, *color, (b.0, b.1), TOP_LEFT, false)?;
        }
        // Axis labels beyond the tick labels.
        let below = labels
            .iter()
            .filter(|(_, b, _)| b.1 >= bottom)
            .map(|(_, b, _)| b.1 + b.3)
            .fold(bottom + s.tick + s.pad, f64::max);
        if !self.x.label.is_empty() {
            let at = ((left + right) / 2.0, below + s.label_pad);
            let anchor = Anchor { h: 0.5, v: 0.0 };
            draw_text(
                area,
                svg,
                &self.x.label,
                s.font,
                self.x.color,
                at,
                anchor,
                false,
            )?;
        }
        let line_h = text_size("0", s.font).1;
        let mid = (top + bottom) / 2.0;
        if !self.y.label.is_empty() {
            let widest = labels
                .iter()
                .filter(|(_, b, _)| b.0 + b.2 <= left)
                .map(|(_, b, _)| left - b.0)
                .fold(s.tick + s.pad, f64::max);
            let at = (left - widest - s.label_pad - line_h / 2.0, mid);
            draw_text(
                area,
                svg,
                &self.y.label,
                s.font,
                self.y.color,
                at,
                Anchor::CENTER,
                true,
            )?;
        }
        if let Some(a) = &self.y2 {
            if !a.label.is_empty() {
                let widest = labels
                    .iter()
                    .filter(|(_, b, _)| b.0 >= right)
                    .map(|(_, b, _)| b.0 + b.2 - right)
                    .fold(s.tick + s.pad, f64::max);
                let at = (right + widest + s.label_pad + line_h / 2.0, mid);
                draw_text(
                    area,
                    svg,
                    &a.label,
                    s.font,
                    a.color,
                    at,
                    Anchor::CENTER,
                    true,
                )?;
            }
        }
        // Offset texts: the y axis' above its top left, the twin's above its top right,
        // the x axis' below its right end.
        let above = Anchor { h: 0.0, v: 1.0 };
        let at = (left, top - 2.0 * s.pt);
        draw_text(
            area,
            svg,
            &self.py.offset_text,
            s.font,
            BLACK,
            at,
            above,
            false,
        )?;
        if let Some(a) = &self.y2 {
            let at = (right, top - 2.0 * s.pt);
            let anchor = Anchor { h: 1.0, v: 1.0 };
            draw_text(
                area,
                svg,
                &self.py2.offset_text,
                s.font,
                a.color,
                at,
                anchor,
                false,
            )?;
        }
        let at = (right, below + s.label_pad);
        let anchor = Anchor { h: 1.0, v: 0.0 };
        draw_text(
            area,
            svg,
            &self.px.offset_text,
            s.font,
            BLACK,
            at,
            anchor,
            false,
        )?;
        // The title, centred above the box.
        if !self.title.is_empty() {
            let at = ((left + right) / 2.0, top - self.offset_band - s.title_pad);
            let anchor = Anchor { h: 0.5, v: 1.0 };
            draw_text(
                area,
                svg,
                &self.title,
                s.title_font,
                BLACK,
                at,
                anchor,
                false,
            )?;
        }
        Ok(())
    }

    /// Draws `text` centred in the box (a subplot without data).
    pub(super) fn message<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        svg: bool,
        text: &str,
    ) -> Result<(), String> {
        let r = self.rect;
        let at = ((r.0 + r.2) / 2.0, (r.1 + r.3) / 2.0);
        draw_text(
            area,
            svg,
            text,
            self.s.font,
            BLACK,
            at,
            Anchor::CENTER,
            false,
        )
    }
}

/// A tick label: text, box (left, top, width, height), colour.
type Label = (String, (f64, f64, f64, f64), RGBColor);

const TOP_LEFT: Anchor = Anchor { h: 0.0, v: 0.0 };

/// Places the ticks of an axis `length` pixels long: matplotlib's choice, with fewer
/// intervals while two labels would touch.
fn place(axis: &AxisSpec, length: f64, s: &Sizes, vertical: bool) -> Placed {
    let (a, b) = axis.view;
    let (lo, hi) = (a.min(b), a.max(b));
    match &axis.rule {
        TickRule::None => Placed::default(),
        TickRule::Fixed(ticks) => {
            let ticks: Vec<f64> = ticks
                .iter()
                .copied()
                .filter(|t| *t >= lo && *t <= hi)
                .collect();
            let labels = ticks
                .iter()
                .map(|t| super::ticks::fix_minus(&format!("{:.0}", t + 0.0)))
                .collect();
            Placed {
                ticks,
                labels,
                offset_text: String::new(),
            }
        }
        TickRule::Auto | TickRule::Integer => {
            let mut locator = match axis.rule {
                TickRule::Integer => Locator::integer(),
                _ => Locator::auto(length / s.pt, 10.0, vertical),
            };
            loop {
                let labels = format_ticks(&locator.ticks(lo, hi), lo, hi);
                let ticks = labels.ticks.clone();
                // Room each label needs along the axis: its height on a y axis, its width
                // on an x axis.
                let extent: Vec<f64> = labels
                    .labels
                    .iter()
                    .map(|l| {
                        let (w, h) = text_size(l, s.font);
                        if vertical {
                            h
                        } else {
                            w
                        }
                    })
                    .collect();
                let fits = ticks.windows(2).zip(extent.windows(2)).all(|(t, e)| {
                    let gap = (t[1] - t[0]).abs() / (hi - lo) * length;
                    gap >= (e[0] + e[1]) / 2.0 + 0.5 * s.font
                });
                if fits || ticks.len() < 2 {
                    return Placed {
                        ticks,
                        labels: labels.labels,
                        offset_text: labels.offset_text,
                    };
                }
                if locator.nbins <= 1 {
                    // Even two labels do not fit (long labels on a short axis): the one
                    // tick nearest the middle.
                    let mid = (lo + hi) / 2.0;
                    let one = ticks
                        .iter()
                        .copied()
                        .min_by(|a, b| (a - mid).abs().total_cmp(&(b - mid).abs()))
                        .into_iter()
                        .collect::<Vec<f64>>();
                    let labels = format_ticks(&one, lo, hi);
                    return Placed {
                        ticks: one,
                        labels: labels.labels,
                        offset_text: labels.offset_text,
                    };
                }
                locator.nbins -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlap(a: &(f64, f64, f64, f64), b: &(f64, f64, f64, f64)) -> bool {
        a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
    }

    /// Tick labels never touch and stay inside the subplot, for spans from 1e-9 to 1e6,
    /// negative and offset ones, at the sizes of a 3 x 3 figure and a narrow 1 x 4 one.
    #[test]
    fn tick_labels_neither_overlap_nor_leave_the_subplot() {
        let spans = [
            (0.0, 550.0),
            (-1e-9, 3e-9),
            (123456.0, 123789.0),
            (-60.0 - 1.9e-8, -60.0 + 1e-9),
            (-1e6, 1e6),
            (-0.00012, -0.00011),
            (0.0, 1.05),
            (-90.5, 40.2),
        ];
        for (w, h, scale) in [(640, 480, 1.0), (1920, 1440, 3.0), (320, 960, 1.0)] {
            for &(lo, hi) in &spans {
                let x = AxisSpec::new((lo, hi), "time [ms]", TickRule::Auto);
                let y = AxisSpec::new((lo, hi), "v", TickRule::Auto);
                let y2 = AxisSpec::new((0.0, hi.abs() * 7.0), "rate", TickRule::Auto);
                let axes = Axes::layout((w, h), scale, "t".into(), x, y, Some(y2));
                let boxes = axes.label_boxes();
                assert!(boxes.len() >= 3, "{lo}..{hi}: {boxes:?}");
                for (i, a) in boxes.iter().enumerate() {
                    assert!(a.0 >= 0.0 && a.1 >= 0.0, "{lo}..{hi}: {a:?}");
                    assert!(a.0 + a.2 <= w as f64 && a.1 + a.3 <= h as f64, "{a:?}");
                    for b in &boxes[i + 1..] {
                        assert!(!overlap(a, b), "{lo}..{hi} at {w}x{h}: {a:?} {b:?}");
                    }
                }
                let (l, t, r, b) = axes.rect;
                assert!(l > 0.0 && t > 0.0 && r < w as f64 && b < h as f64 && r > l && b > t);
            }
        }
    }
}
