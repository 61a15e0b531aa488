//! Text and lines on PNG figures, drawn as matplotlib's Agg renderer draws them: glyphs at
//! sub-pixel positions with their side bearings and kerning, strokes of any width with
//! anti-aliased edges and round joins. (plotters' own glyph placement drops the side
//! bearings, so "Variable" read "Variab le", and its thick lines have hard edges.) SVG
//! figures keep the backend's text and lines, which the viewer renders.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::coord::Shift;
use plotters::prelude::*;

/// The embedded DejaVu Sans (matplotlib's default font).
fn face() -> Option<&'static FontRef<'static>> {
    static FACE: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FACE.get_or_init(|| FontRef::try_from_slice(dejavu::sans::regular()).ok())
        .as_ref()
}

/// ab_glyph's scale for a font whose em is `size` pixels (ab_glyph scales the line height,
/// ascent to descent, to its `PxScale`; matplotlib's 10 pt is an em of 10 pt).
fn px_scale(face: &FontRef<'_>, size: f64) -> PxScale {
    let per_em = face.units_per_em().unwrap_or(2048.0);
    PxScale::from((size as f32) * face.height_unscaled() / per_em)
}

/// Width and height in pixels of `text` with an em of `size` pixels: the advances with kerning, and
/// the line height (ascent to descent).
pub(super) fn text_size(text: &str, size: f64) -> (f64, f64) {
    let Some(face) = face() else {
        return (0.6 * size * text.chars().count() as f64, 1.2 * size);
    };
    let font = face.as_scaled(px_scale(face, size));
    let width = layout(&font, text)
        .last()
        .map_or(0.0, |(id, x)| x + font.h_advance(id));
    (width as f64, (font.ascent() - font.descent()) as f64)
}

/// Each glyph of `text` with the position of its origin: the advances with kerning.
fn layout<'a, F: Font>(
    font: &'a ab_glyph::PxScaleFont<F>,
    text: &'a str,
) -> impl Iterator<Item = (ab_glyph::GlyphId, f32)> + 'a {
    let mut x = 0f32;
    let mut prev: Option<ab_glyph::GlyphId> = None;
    text.chars().map(move |c| {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            x += font.h_advance(p) + font.kern(p, id);
        }
        prev = Some(id);
        (id, x)
    })
}

/// Where a text's box lies against its anchor point: 0 left (top), 0.5 centre, 1 right
/// (bottom).
#[derive(Clone, Copy, Debug)]
pub(super) struct Anchor {
    pub h: f64,
    pub v: f64,
}

impl Anchor {
    pub(super) const CENTER: Anchor = Anchor { h: 0.5, v: 0.5 };
}

/// The box (left, top, width, height) `text` covers when drawn at `at` with `anchor`,
/// turned a quarter to the left (reading bottom to top) when `rotated`.
pub(super) fn text_box(
    text: &str,
    size: f64,
    at: (f64, f64),
    anchor: Anchor,
    rotated: bool,
) -> (f64, f64, f64, f64) {
    let (w, h) = text_size(text, size);
    let (bw, bh) = if rotated { (h, w) } else { (w, h) };
    (
        (at.0 - anchor.h * bw).round(),
        (at.1 - anchor.v * bh).round(),
        bw,
        bh,
    )
}

/// Draws `text` with its box at `at` (see [`text_box`]); `svg` leaves the glyphs to the
/// backend's text element.
#[allow(clippy::too_many_arguments)]
pub(super) fn draw_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    svg: bool,
    text: &str,
    size: f64,
    color: RGBColor,
    at: (f64, f64),
    anchor: Anchor,
    rotated: bool,
) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    let (left, top, bw, bh) = text_box(text, size, at, anchor, rotated);
    let face = match face() {
        Some(face) if !svg => face,
        _ => return backend_text(area, text, size, color, (left, top, bw, bh), rotated),
    };
    let font = face.as_scaled(px_scale(face, size));
    let (w, h) = text_size(text, size);
    let (w, h) = (w.ceil() as usize + 2, h.ceil() as usize + 2);
    let mut coverage = vec![0f32; w * h];
    for (id, x) in layout(&font, text) {
        let glyph = id.with_scale_and_position(font.scale(), point(x, font.ascent()));
        let Some(outline) = face.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, c| {
            let px = bounds.min.x as i64 + gx as i64;
            let py = bounds.min.y as i64 + gy as i64;
            if px >= 0 && py >= 0 && (px as usize) < w && (py as usize) < h {
                let cell = &mut coverage[py as usize * w + px as usize];
                *cell = (*cell + c).min(1.0);
            }
        });
    }
    for (i, c) in coverage.iter().enumerate() {
        if *c <= 0.0 {
            continue;
        }
        let (u, v) = ((i % w) as f64, (i / w) as f64);
        // Turned a quarter to the left: the start of the text at the bottom, the tops of
        // the glyphs facing left.
        let (x, y) = if rotated {
            (left + v, top + bh - 1.0 - u)
        } else {
            (left + u, top + v)
        };
        area.draw_pixel((x as i32, y as i32), &color.mix(*c as f64))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Text as a backend element (SVG), placed by its centre.
fn backend_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: f64,
    color: RGBColor,
    (left, top, bw, bh): (f64, f64, f64, f64),
    rotated: bool,
) -> Result<(), String> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    // plotters writes an SVG font-size of its size / 1.24.
    let mut style = ("sans-serif", size * 1.24)
        .into_font()
        .color(&color)
        .pos(Pos::new(HPos::Center, VPos::Center));
    if rotated {
        style = style.transform(FontTransform::Rotate270);
    }
    let centre = ((left + bw / 2.0) as i32, (top + bh / 2.0) as i32);
    area.draw(&Text::new(text.to_string(), centre, style))
        .map_err(|e| e.to_string())
}

/// Anti-aliased strokes of one colour: the coverage of every pixel a stroke touches is
/// gathered (the largest over the stroke's segments, so joins are not blended twice), then
/// blended into the figure once.
pub(super) struct Stroker {
    /// The clip rectangle (left, top, right, bottom) in pixels of the area.
    clip: (i64, i64, i64, i64),
    width: usize,
    coverage: Vec<f32>,
    touched: Vec<u32>,
}

impl Stroker {
    pub(super) fn new(clip: (i64, i64, i64, i64)) -> Stroker {
        let width = (clip.2 - clip.0).max(0) as usize;
        let height = (clip.3 - clip.1).max(0) as usize;
        Stroker {
            clip,
            width,
            coverage: vec![0.0; width * height],
            touched: Vec::new(),
        }
    }

    /// A stroke `line_width` pixels wide through `points` (pixels of the area), with round
    /// joins and caps; one point is a round dot.
    pub(super) fn polyline(&mut self, points: &[(f64, f64)], line_width: f64) {
        let hw = line_width / 2.0;
        match points {
            [] => {}
            [p] => self.segment(*p, *p, hw),
            _ => {
                for pair in points.windows(2) {
                    self.segment(pair[0], pair[1], hw);
                }
            }
        }
    }

    fn segment(&mut self, a: (f64, f64), b: (f64, f64), hw: f64) {
        if !(a.0.is_finite() && a.1.is_finite() && b.0.is_finite() && b.1.is_finite()) {
            return;
        }
        let reach = hw + 1.0;
        let (x0, x1) = (a.0.min(b.0) - reach, a.0.max(b.0) + reach);
        let (y0, y1) = (a.1.min(b.1) - reach, a.1.max(b.1) + reach);
        let (cl, ct, cr, cb) = self.clip;
        let rows = (y0.floor().max(ct as f64) as i64)..(y1.ceil().min(cb as f64) as i64);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let len = len2.sqrt();
        for y in rows {
            let yc = y as f64 + 0.5;
            // The columns the stroke can reach in this row.
            let (mut from, mut to) = (x0, x1);
            if dy.abs() > 1e-9 {
                let xm = a.0 + (yc - a.1) * dx / dy;
                let half = reach * len / dy.abs();
                from = from.max(xm - half);
                to = to.min(xm + half);
            }
            let from = from.floor().max(cl as f64) as i64;
            let to = to.ceil().min(cr as f64) as i64;
            for x in from..to {
                let xc = x as f64 + 0.5;
                let t = if len2 > 0.0 {
                    (((xc - a.0) * dx + (yc - a.1) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let d = (xc - a.0 - t * dx).hypot(yc - a.1 - t * dy);
                let c = (hw + 0.5 - d).clamp(0.0, 1.0) as f32;
                if c <= 0.0 {
                    continue;
                }
                let i = (y - ct) as usize * self.width + (x - cl) as usize;
                let cell = &mut self.coverage[i];
                if *cell == 0.0 {
                    self.touched.push(i as u32);
                }
                if c > *cell {
                    *cell = c;
                }
            }
        }
    }

    /// Blends the gathered strokes in `color` into `area` and starts afresh.
    pub(super) fn flush<DB: DrawingBackend>(
        &mut self,
        area: &DrawingArea<DB, Shift>,
        color: RGBColor,
    ) -> Result<(), String> {
        let (cl, ct, _, _) = self.clip;
        for i in self.touched.drain(..) {
            let c = std::mem::take(&mut self.coverage[i as usize]);
            let (x, y) = (i as usize % self.width, i as usize / self.width);
            area.draw_pixel(
                (cl as i32 + x as i32, ct as i32 + y as i32),
                &color.mix(c as f64),
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_measured_with_kerning_and_side_bearings() {
        let (w, h) = text_size("Variable", 13.9);
        assert!(w > 40.0 && w < 70.0, "{w}");
        assert!(h > 13.0 && h < 18.0, "{h}");
        // A wider string is wider; an empty one has no width.
        assert!(text_size("Variable v", 13.9).0 > w);
        assert_eq!(text_size("", 10.0).0, 0.0);
    }

    #[test]
    fn strokes_cover_their_width_with_soft_edges() {
        let mut s = Stroker::new((0, 0, 20, 20));
        s.polyline(&[(2.0, 10.0), (18.0, 10.0)], 2.0);
        let at = |x: usize, y: usize| s.coverage[y * 20 + x];
        // Pixel rows 9 and 10 are inside (centres 0.5 from the line), 8 and 11 outside
        // (1.5 away: coverage 0), the caps round.
        assert_eq!(at(10, 9), 1.0);
        assert_eq!(at(10, 10), 1.0);
        assert_eq!(at(10, 8), 0.0);
        assert_eq!(at(10, 12), 0.0);
        // A half-covered pixel: a line 1 px wide through the middle of rows 9-10.
        let mut t = Stroker::new((0, 0, 20, 20));
        t.polyline(&[(2.0, 10.0), (18.0, 10.0)], 1.0);
        assert_eq!(t.coverage[9 * 20 + 10], 0.5);
        assert_eq!(t.coverage[10 * 20 + 10], 0.5);
        // Nothing outside the clip.
        let mut u = Stroker::new((5, 5, 10, 10));
        u.polyline(&[(0.0, 0.0), (30.0, 30.0)], 3.0);
        assert!(u.touched.len() <= 25);
    }
}
