"""Looks at the pixels of a figure neurorec drew (a grid of subplots whose time axes show
one window): finds each subplot's box (its four spines), and checks what a reader must see.

usage: check_figure.py FIG.png ROWS COLS T0 T1 PAUSE0 PAUSE1 FORMAT...

FORMAT is a subplot's format in reading order (line, line_mean, matrix, matrix_mean,
raster, mean, hybrid, interspike, cv). Prints one line per subplot and exits 1 on the
first failure:
- every subplot has a box of four spines, with labelled ticks below it (at least two);
- x tick labels do not touch: below the box, the ink of each label is a separate run of
  columns, one per tick mark;
- data is drawn inside the box (ink for lines, rasters and histograms; the top colour of
  viridis in `matrix`; red in `hybrid`);
- nothing is drawn over the pause PAUSE0-PAUSE1 ms of the time axes (lines, rates, matrix
  cells, spikes), except in histograms, which have no time axis.
"""

import sys

from PIL import Image

path, rows, cols, t0, t1, p0, p1 = sys.argv[1:8]
formats = sys.argv[8:]
rows, cols = int(rows), int(cols)
t0, t1, p0, p1 = float(t0), float(t1), float(p0), float(p1)
im = Image.open(path).convert("RGB")
W, H = im.size
px = im.load()


def dark(p):
    return max(p) < 110


def red(p):
    return p[0] > 180 and p[1] < 90 and p[2] < 90


def viridis_top(p):
    return abs(p[0] - 253) < 14 and abs(p[1] - 231) < 14 and p[2] < 80


def coloured(p):
    # Any viridis cell: not grey (white, black or anti-aliased text).
    return max(p) - min(p) > 40


def fail(msg):
    print("FAIL", msg)
    sys.exit(1)


def find_box(x0, y0, x1, y1):
    """The spines of the subplot in [x0, x1) x [y0, y1): the longest dark runs."""
    w, h = x1 - x0, y1 - y0
    cols_ = [x for x in range(x0, x1) if sum(dark(px[x, y]) for y in range(y0, y1)) > 0.5 * h]
    rows_ = [y for y in range(y0, y1) if sum(dark(px[x, y]) for x in range(x0, x1)) > 0.5 * w]
    if len(cols_) < 2 or len(rows_) < 2:
        return None
    return min(cols_), min(rows_), max(cols_), max(rows_)


def runs(flags, merge):
    """Runs of True in flags, joining runs separated by fewer than `merge` False."""
    out = []
    start = None
    gap = 0
    for i, f in enumerate(flags + [False] * (merge + 1)):
        if f:
            if start is None:
                start = i
            gap = 0
            end = i
        elif start is not None:
            gap += 1
            if gap >= merge:
                out.append((start, end))
                start = None
    return out


cw, ch = W // cols, H // rows
for k, fmt in enumerate(formats):
    r, c = divmod(k, cols)
    x0, y0 = c * cw, r * ch
    box = find_box(x0, y0, x0 + cw, y0 + ch)
    if box is None:
        fail(f"subplot {k + 1} ({fmt}): no box of four spines")
    left, top, right, bottom = box
    # Spines are 0.8 pt wide; a subplot is 6.4 inches wide.
    dpi = cw / 6.4
    lw = max(1, round(0.8 * dpi / 72))
    # Tick marks: short dark runs just below the bottom spine.
    below = bottom + lw + 1
    ticks = runs([dark(px[x, below]) for x in range(left, right + 1)], 1)
    if len(ticks) < 2:
        fail(f"subplot {k + 1} ({fmt}): {len(ticks)} x ticks")
    # The tick labels: the band of ink below the tick marks, right of the y tick labels
    # (which end 3.5 pt + 3.5 pt left of the box).
    band_top = below
    while any(dark(px[left + (s + e) // 2, band_top]) for s, e in ticks):
        band_top += 1
    xs = range(left - 6, x0 + cw)
    while band_top < y0 + ch and not any(dark(px[x, band_top]) for x in xs):
        band_top += 1
    band = band_top
    while band < y0 + ch and any(dark(px[x, band]) for x in xs):
        band += 1
    ink = [any(dark(px[x, y]) for y in range(band_top, band)) for x in xs]
    # Glyphs of one label are less than half the digit height apart (DejaVu: ~0.25);
    # neurorec keeps labels at least half an em apart.
    digit = band - band_top
    labels = runs(ink, max(2, int(0.45 * digit)))
    if len(labels) != len(ticks):
        fail(f"subplot {k + 1} ({fmt}): {len(ticks)} ticks but {len(labels)} separate labels "
             f"(labels touch or are missing): {labels}")
    inside = lambda f: any(
        f(px[x, y]) for x in range(left + lw + 1, right - lw) for y in range(top + lw + 1, bottom - lw)
    )
    want = {"matrix": viridis_top, "matrix_mean": coloured, "hybrid": red}.get(fmt, dark)
    if not inside(want):
        fail(f"subplot {k + 1} ({fmt}): nothing drawn inside the box")
    if fmt in ("interspike", "cv"):
        print(f"ok {k + 1} {fmt}: box {box}, {len(ticks)} ticks and labels")
        continue
    # The pause, inset by a few pixels (line caps, dot radius, bin edges).
    to_x = lambda t: left + (t - t0) / (t1 - t0) * (right - left)
    a, b = int(to_x(p0)) + 6, int(to_x(p1)) - 6
    what = {"matrix": coloured, "matrix_mean": coloured, "hybrid": red}.get(fmt, dark)
    drawn = [
        (x, y) for x in range(a, b + 1) for y in range(top + lw + 1, bottom - lw) if what(px[x, y])
    ]
    if drawn:
        fail(f"subplot {k + 1} ({fmt}): {len(drawn)} pixels drawn inside the pause, e.g. {drawn[:3]}")
    print(f"ok {k + 1} {fmt}: box {box}, {len(ticks)} ticks and labels, pause columns {a}-{b} empty")
