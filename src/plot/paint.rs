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
    // The unturned text's size, measured once by `text_box`.
    let (w, h) = if rotated { (bh, bw) } else { (bw, bh) };
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
    // Only pixels of the subplot's area: a long title is cut at its edge rather than drawn
    // over the neighbouring subplot.
    let (aw, ah) = area.dim_in_pixel();
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
        if x < 0.0 || y < 0.0 || x >= aw as f64 || y >= ah as f64 {
            continue;
        }
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
///
/// A segment is a capsule (round caps and joins). It is filled column by column: in each
/// pixel column the capsule covers one interval of rows, whose inside is fully covered and
/// filled at once, and only the pixels at its two ends get the exact coverage
/// `hw + 0.5 - distance`. Coverage is kept column-major, so the tall strokes of a dense
/// trace (spikes, min/max envelopes) are filled as contiguous runs.
pub(super) struct Stroker {
    /// The clip rectangle (left, top, right, bottom) in pixels of the area.
    clip: (i64, i64, i64, i64),
    height: usize,
    /// Coverage in 1/255ths, column-major (a byte per pixel of the box).
    coverage: Vec<u8>,
    dirty: bool,
}

/// A segment with what [`Segment::span`] needs for every column precomputed.
struct Segment {
    a: (f64, f64),
    b: (f64, f64),
    dy_over_dx: f64,
    len_over_dx: f64,
    dx_over_dy: f64,
    len2_over_dy: f64,
    len2: f64,
    dx: f64,
    dy: f64,
}

impl Segment {
    fn new(a: (f64, f64), b: (f64, f64)) -> Segment {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let len = len2.sqrt();
        Segment {
            a,
            b,
            dy_over_dx: dy / dx,
            len_over_dx: len / dx,
            dx_over_dy: dx / dy,
            len2_over_dy: len2 / dy,
            len2,
            dx,
            dy,
        }
    }

    /// The rows (interval of y) of the vertical line x = `xc` within distance `r` of the
    /// segment: the union of its body and its two round caps (the capsule is convex, so
    /// the union is one interval).
    fn span(&self, r: f64, xc: f64) -> Option<(f64, f64)> {
        let (a, b) = (self.a, self.b);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in [a, b] {
            let dx = xc - p.0;
            if dx.abs() <= r {
                let h = (r * r - dx * dx).sqrt();
                lo = lo.min(p.1 - h);
                hi = hi.max(p.1 + h);
            }
        }
        if self.len2 > 0.0 {
            let along = (xc - a.0) * self.dx;
            // |cross((x, y) - a, d)| <= r len: the band around the segment's line.
            let band = if self.dx.abs() > 1e-12 {
                let mid = a.1 + (xc - a.0) * self.dy_over_dx;
                let half = (r * self.len_over_dx).abs();
                Some((mid - half, mid + half))
            } else if (xc - a.0).abs() <= r {
                Some((f64::NEG_INFINITY, f64::INFINITY))
            } else {
                None
            };
            // 0 <= projection <= len2: between the perpendiculars at a and b.
            let between = if self.dy.abs() > 1e-12 {
                let t1 = a.1 - (xc - a.0) * self.dx_over_dy;
                let t2 = t1 + self.len2_over_dy;
                Some((t1.min(t2), t1.max(t2)))
            } else if (0.0..=self.len2).contains(&along) {
                Some((f64::NEG_INFINITY, f64::INFINITY))
            } else {
                None
            };
            if let (Some(band), Some(between)) = (band, between) {
                let (y0, y1) = (band.0.max(between.0), band.1.min(between.1));
                if y0 <= y1 {
                    lo = lo.min(y0);
                    hi = hi.max(y1);
                }
            }
        }
        (lo <= hi).then_some((lo, hi))
    }
}

/// Coverage of the pixel centred at `p` by a stroke of half width `hw` along `a`-`b`.
fn coverage_at(p: (f64, f64), a: (f64, f64), b: (f64, f64), hw: f64) -> u8 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    // Pixel coordinates: no overflow to guard against (hypot is several times slower).
    let (ex, ey) = (p.0 - a.0 - t * dx, p.1 - a.1 - t * dy);
    let d = (ex * ex + ey * ey).sqrt();
    ((hw + 0.5 - d).clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

impl Stroker {
    pub(super) fn new(clip: (i64, i64, i64, i64)) -> Stroker {
        let width = (clip.2 - clip.0).max(0) as usize;
        let height = (clip.3 - clip.1).max(0) as usize;
        Stroker {
            clip,
            height,
            coverage: vec![0; width * height],
            dirty: false,
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
        let (cl, ct, cr, cb) = self.clip;
        let outer = hw + 0.5;
        let inner = hw - 0.5;
        let x0 = (a.0.min(b.0) - outer).floor().max(cl as f64);
        let x1 = (a.0.max(b.0) + outer).ceil().min(cr as f64);
        if x0 >= x1 {
            return;
        }
        let height = self.height;
        let seg = Segment::new(a, b);
        // Pixel rows whose centres lie in [lo, hi], within the clip (casts in place of
        // floor and ceil, which are library calls on baseline x86-64).
        let rows = |(lo, hi): (f64, f64)| {
            let (lo, hi) = (
                (lo - 0.5).clamp(ct as f64 - 1.0, cb as f64),
                (hi - 0.5).clamp(ct as f64 - 1.0, cb as f64),
            );
            let mut y0 = lo as i64;
            if (y0 as f64) < lo {
                y0 += 1;
            }
            let mut y1 = hi as i64;
            if (y1 as f64) > hi {
                y1 -= 1;
            }
            let (y0, y1) = (y0.max(ct), y1.min(cb - 1));
            (y0 <= y1).then_some((y0, y1))
        };
        for x in x0 as i64..x1 as i64 {
            let xc = x as f64 + 0.5;
            let Some((y0, y1)) = seg.span(outer, xc).and_then(rows) else {
                continue;
            };
            self.dirty = true;
            let column = &mut self.coverage[(x - cl) as usize * height..][..height];
            let full = if inner > 0.0 {
                seg.span(inner, xc).and_then(rows)
            } else {
                None
            };
            let edge = |y: i64, column: &mut [u8]| {
                let cell = &mut column[(y - ct) as usize];
                if *cell < 255 {
                    *cell = (*cell).max(coverage_at((xc, y as f64 + 0.5), a, b, hw));
                }
            };
            match full {
                Some((f0, f1)) => {
                    column[(f0 - ct) as usize..=(f1 - ct) as usize].fill(255);
                    for y in (y0..f0).chain(f1 + 1..=y1) {
                        edge(y, column);
                    }
                }
                None => {
                    for y in y0..=y1 {
                        edge(y, column);
                    }
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
        if !std::mem::take(&mut self.dirty) || self.height == 0 {
            return Ok(());
        }
        let (cl, ct, _, _) = self.clip;
        for (x, column) in self.coverage.chunks_mut(self.height).enumerate() {
            for (y, c) in column.iter_mut().enumerate() {
                if *c == 0 {
                    continue;
                }
                let alpha = std::mem::take(c) as f64 / 255.0;
                area.draw_pixel(
                    (cl as i32 + x as i32, ct as i32 + y as i32),
                    &color.mix(alpha),
                )
                .map_err(|e| e.to_string())?;
            }
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
        let at = |s: &Stroker, x: usize, y: usize| s.coverage[x * 20 + y];
        // Pixel rows 9 and 10 are inside (centres 0.5 from the line), 8 and 11 outside
        // (1.5 away: coverage 0).
        assert_eq!(at(&s, 10, 9), 255);
        assert_eq!(at(&s, 10, 10), 255);
        assert_eq!(at(&s, 10, 8), 0);
        assert_eq!(at(&s, 10, 12), 0);
        // A half-covered pixel: a line 1 px wide through the middle of rows 9-10.
        let mut t = Stroker::new((0, 0, 20, 20));
        t.polyline(&[(2.0, 10.0), (18.0, 10.0)], 1.0);
        assert_eq!(at(&t, 10, 9), 128);
        assert_eq!(at(&t, 10, 10), 128);
    }

    /// The column spans give every pixel the coverage its distance to the segment gives
    /// (up to rounding at the edge of the fully covered run), for segments of every
    /// direction and length, dots, and strokes reaching past the clip.
    #[test]
    fn column_spans_match_the_distance_of_every_pixel() {
        let mut seed = 12345u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let clip = (3, 2, 37, 33);
        for i in 0..400 {
            let a = (next() * 40.0, next() * 35.0);
            let b = match i % 4 {
                0 => a,
                1 => (a.0, next() * 35.0),
                2 => (next() * 40.0, a.1),
                _ => (next() * 40.0, next() * 35.0),
            };
            let hw = 0.2 + next() * 4.0;
            let mut s = Stroker::new(clip);
            s.segment(a, b, hw);
            for x in clip.0..clip.2 {
                for y in clip.1..clip.3 {
                    let want = coverage_at((x as f64 + 0.5, y as f64 + 0.5), a, b, hw);
                    let got = s.coverage[(x - clip.0) as usize * 31 + (y - clip.1) as usize];
                    assert!(
                        (want as i32 - got as i32).abs() <= 1,
                        "{a:?}-{b:?} hw {hw} at {x},{y}: {got} instead of {want}"
                    );
                }
            }
        }
    }
}
