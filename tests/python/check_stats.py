"""Recomputes `neurorec stats` from an archive with polars and numpy, as a notebook would.

Usage: python check_stats.py ARCHIVE_DIR STATS.parquet [BY_NEURON.parquet]
Exits non-zero (AssertionError) when a number differs (relative 1e-9).

- recorded_ms: the sum of the recording periods (the file metadata's period table);
- rate_hz: spikes / neurons / recorded seconds; silent_fraction: neurons without a spike;
- CV: per neuron, the inter-spike intervals inside each period pooled, np.std / np.mean
  (population std) for neurons with at least two intervals; cv_mean, cv_median over them;
- variables: mean, std (ddof 1), min, max over all samples and neurons.
"""
import glob
import json
import math
import os
import sys

import numpy as np
import polars as pl
import pyarrow.parquet as pq

root, stats_path = sys.argv[1], sys.argv[2]
by_neuron_path = sys.argv[3] if len(sys.argv) > 3 else None
stats = pl.read_parquet(stats_path)
runs_table = os.path.join(root, "runs.parquet")
params = pl.read_parquet(runs_table) if os.path.exists(runs_table) else None


def close(a, b, what):
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        assert (a is None or (isinstance(a, float) and math.isnan(a))) and (
            b is None or (isinstance(b, float) and math.isnan(b))
        ), (what, a, b)
        return
    assert abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)), (what, a, b)


def meta(path):
    kv = pq.read_metadata(path).metadata
    return {k.decode()[len("neurorec."):]: v.decode() for k, v in kv.items() if k.startswith(b"neurorec.")}


def files(comp, kind, run, set_, chunk):
    return sorted(glob.glob(os.path.join(root, comp, kind, f"run={run}", f"set={set_}", f"chunk={chunk}", "*.parquet")))


checked = 0
cv_by_neuron = {}
for row in stats.iter_rows(named=True):
    key = (row["compartment"], row["run"], row["set"], row["chunk"])
    state = files(row["compartment"], "state", *key[1:])
    spikes = files(row["compartment"], "spikes", *key[1:])
    m = meta((state or spikes)[0])
    dt = float(m["dt_ms"])
    size = int(m["neurons"])
    periods = json.loads(m["periods"])
    recorded = sum((p["stop_step"] - p["start_step"]) * dt for p in periods)
    close(row["recorded_ms"], recorded, (key, "recorded_ms"))
    if "projection" in m:
        assert row["synapses"] == size, (key, row["synapses"], size)
    else:
        assert row["neurons"] == size, (key, row["neurons"], size)
    if params is not None:
        for name in params.columns:
            if name != "run":
                expected = params.filter(pl.col("run") == row["run"])[name][0]
                close(row[name], float(expected), (key, name))
    if spikes:
        sp = pl.read_parquet(spikes)
        assert row["spikes"] == sp.height, (key, row["spikes"], sp.height)
        if recorded > 0:
            close(row["rate_hz"], sp.height / size / (recorded / 1000.0), (key, "rate"))
            close(row["silent_fraction"], 1 - sp["neuron"].n_unique() / size, (key, "silent"))
        cvs = []
        for n, group in sp.sort("step").group_by("neuron", maintain_order=True):
            isis = np.concatenate(
                [np.diff(p["step"].to_numpy()).astype(float) for _, p in group.group_by("period", maintain_order=True)]
            )
            if len(isis) >= 2:
                cv = float(np.std(isis) / np.mean(isis))
                cvs.append(cv)
                cv_by_neuron[key + (n[0],)] = cv
        close(row["cv_mean"], float(np.mean(cvs)) if cvs else None, (key, "cv_mean"))
        close(row["cv_median"], float(np.median(cvs)) if cvs else None, (key, "cv_median"))
    if state:
        st = pl.read_parquet(state)
        variables = json.loads(m["variables"])
        for v in variables:
            if st.height == 0:
                close(row[f"{v}_mean"], None, (key, v))
                continue
            col = st[v].cast(pl.Float64)
            close(row[f"{v}_mean"], col.mean(), (key, v, "mean"))
            close(row[f"{v}_std"], col.std(ddof=1), (key, v, "std"))
            close(row[f"{v}_min"], col.min(), (key, v, "min"))
            close(row[f"{v}_max"], col.max(), (key, v, "max"))
    checked += 1

if by_neuron_path:
    per = pl.read_parquet(by_neuron_path)
    for row in per.iter_rows(named=True):
        if row.get("neuron") is None or "cv" not in row:
            continue
        key = (row["compartment"], row["run"], row["set"], row["chunk"], row["neuron"])
        close(row["cv"], cv_by_neuron.get(key), (key, "cv"))
    # Variable means per neuron (a projection: per synapse).
    for (comp, run, set_, chunk), group in per.group_by(["compartment", "run", "set", "chunk"]):
        state = files(comp, "state", run, set_, chunk)
        if not state:
            continue
        st = pl.read_parquet(state)
        units = ["post", "pre"] if "post" in st.columns else ["neuron"]
        means = [c for c in group.columns if c.endswith("_mean")]
        if st.height == 0 or not means:
            continue
        expected = st.group_by(units).agg([pl.col(c[: -len("_mean")]).cast(pl.Float64).mean().alias(c) for c in means if c[: -len("_mean")] in st.columns])
        joined = group.join(expected, on=units, suffix="_py")
        assert joined.height == expected.height, (comp, joined.height, expected.height)
        for c in expected.columns:
            if c in units:
                continue
            for a, b in zip(joined[c].to_list(), joined[c + "_py"].to_list()):
                close(a, b, (comp, run, set_, chunk, c))
    # Per neuron spikes add up to the summary's.
    if "spikes" in per.columns:
        sums = per.group_by(["run", "set", "chunk", "compartment"]).agg(pl.col("spikes").sum())
        for r in sums.iter_rows(named=True):
            s = stats.filter(
                (pl.col("run") == r["run"]) & (pl.col("set") == r["set"]) & (pl.col("chunk") == r["chunk"]) & (pl.col("compartment") == r["compartment"])
            )["spikes"][0]
            if s is not None:
                assert s == r["spikes"], (r, s)

print(f"{checked} rows of neurorec stats match polars and numpy")
