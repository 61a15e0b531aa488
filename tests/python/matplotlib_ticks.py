"""The ticks and labels matplotlib draws on an axis (AutoLocator-style MaxNLocator with
steps 1, 2, 2.5, 5, 10 and nbins 1..9; MaxNLocator(integer=True) for neuron axes) with the
default ScalarFormatter, for a set of view limits: the reference neurorec's tick code
(src/plot/ticks.rs) is checked against. Each case is drawn on a real axis and read back
(tick positions within the view, their label texts, the offset text).

usage: python tests/python/matplotlib_ticks.py > tests/data/matplotlib_ticks.json
"""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

ranges = [
    (0, 550), (0, 1), (0, 200), (0, 2), (0, 1.05), (-80, 40), (-63.1, 35.0), (-90.5, -40.2),
    (1e-9, 5e-9), (0, 1e-9), (-3e-9, 2e-9), (0, 3.7e-7), (0, 1e6), (0, 1.2e6), (0, 7.3e5),
    (123456, 123789), (1e6, 1e6 + 3), (-60 - 1.9e-8, -60 + 1e-9), (-60.001, -59.999),
    (0.5, 0.5000001), (99.9, 100.1), (-1e6, -9.9e5), (310, 340), (300, 350), (0, 0.01),
    (0, 12.5), (-0.5, 0.5), (2.3, 2.7), (-5e-6, 5e-6), (1e5, 2e5), (0, 33.3), (1000, 1550),
    (-0.001, 0.003), (17, 18), (0, 47.25), (12.5, 512.5), (-68.575, -61.425),
    (26479.09270663153, 26479.0927066422), (0, 5e-5), (0, 9.9e-5), (-0.05, 1.05),
    (3e7, 3.00001e7),
]
fig, ax = plt.subplots()


def drawn(a, b, locator):
    ax.xaxis.set_major_locator(locator)
    ax.set_xlim(a, b)
    fig.canvas.draw()
    lo, hi = min(a, b), max(a, b)
    ticks = [float(t) for t in ax.get_xticks()]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    shown = [(t, l) for t, l in zip(ticks, labels)
             if lo - 1e-10 * (hi - lo) <= t <= hi + 1e-10 * (hi - lo)]
    return {"ticks": [t for t, _ in shown], "labels": [l for _, l in shown],
            "offset": ax.xaxis.get_offset_text().get_text()}


cases = []
for (a, b) in ranges:
    for nbins in range(1, 10):
        case = drawn(a, b, MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]))
        cases.append({"vmin": a, "vmax": b, "nbins": nbins, "integer": False, **case})
    case = drawn(a, b, MaxNLocator(integer=True))
    cases.append({"vmin": a, "vmax": b, "nbins": 10, "integer": True, **case})
# neuron axes of rasters: -0.5 .. n - 0.5
for n in [1, 2, 3, 5, 7, 10, 15, 50, 99, 100, 1000, 12345]:
    case = drawn(-0.5, n - 0.5, MaxNLocator(integer=True))
    cases.append({"vmin": -0.5, "vmax": n - 0.5, "nbins": 10, "integer": True, **case})
print('{"matplotlib": "%s", "cases": [' % matplotlib.__version__)
print(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
print("]}")
