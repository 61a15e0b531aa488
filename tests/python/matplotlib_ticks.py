"""matplotlib's AutoLocator / MaxNLocator(integer) ticks and ScalarFormatter labels for
a set of axis limits: the reference neurorec's tick code is checked against."""
import json, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator, ScalarFormatter

ranges = [
    (0, 550), (0, 1), (0, 200), (0, 2), (0, 1.05), (-80, 40), (-63.1, 35.0), (-90.5, -40.2),
    (1e-9, 5e-9), (0, 1e-9), (-3e-9, 2e-9), (0, 3.7e-7), (0, 1e6), (0, 1.2e6), (0, 7.3e5),
    (123456, 123789), (1e6, 1e6 + 3), (-60 - 1.9e-8, -60 + 1e-9), (-60.001, -59.999),
    (0.5, 0.5000001), (99.9, 100.1), (-1e6, -9.9e5), (310, 340), (300, 350), (0, 0.01),
    (0, 12.5), (-0.5, 0.5), (2.3, 2.7), (-5e-6, 5e-6), (1e5, 2e5), (0, 33.3), (1000, 1550),
    (-0.001, 0.003), (17, 18), (0, 47.25), (12.5, 512.5),
]
nbins_list = [2, 4, 6, 9]
cases = []
fig, ax = plt.subplots()
for (a, b) in ranges:
    for nbins in nbins_list:
        loc = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10])
        ticks = [float(t) for t in loc.tick_values(a, b)]
        ax.set_xlim(a, b)
        vis = [t for t in ticks if min(a, b) - 1e-10 * abs(b - a) <= t <= max(a, b) + 1e-10 * abs(b - a)]
        fmt = ScalarFormatter()
        fmt.set_axis(ax.xaxis)
        labels = fmt.format_ticks(vis)
        cases.append({"vmin": a, "vmax": b, "nbins": nbins, "integer": False,
                      "ticks": vis, "labels": labels, "offset": fmt.get_offset()})
    loc = MaxNLocator(integer=True)
    ticks = [float(t) for t in loc.tick_values(a, b)]
    vis = [t for t in ticks if min(a, b) - 1e-10 * abs(b - a) <= t <= max(a, b) + 1e-10 * abs(b - a)]
    cases.append({"vmin": a, "vmax": b, "nbins": 10, "integer": True, "ticks": vis})
# neuron axes of rasters: -0.5 .. n - 0.5
for n in [1, 2, 3, 5, 7, 10, 15, 50, 99, 100, 1000, 12345]:
    a, b = -0.5, n - 0.5
    loc = MaxNLocator(integer=True)
    ticks = [float(t) for t in loc.tick_values(a, b)]
    vis = [t for t in ticks if a <= t <= b]
    cases.append({"vmin": a, "vmax": b, "nbins": 10, "integer": True, "ticks": vis})
print(json.dumps({"matplotlib": matplotlib.__version__, "cases": cases}, ensure_ascii=False))
