"""Loads a neurorec archive of the seed example with real Arrow readers.

Usage: python check_readers.py ARCHIVE_DIR [WIDE_ARCHIVE_DIR]
(WIDE_ARCHIVE_DIR: 20 neurons recorded every 2 steps, whose period/step/time_ms/neuron
columns are written as dictionaries, runs and deltas.)
Exits non-zero (AssertionError) when a reader does not see what neurorec wrote.
"""
import glob
import json
import os
import sys

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq

root = sys.argv[1]
state = os.path.join(root, "my_pop2", "state")
# my_pop2 records v every step: 4000 + 7000 + 7000 samples (set 0), 1000 + 1000 (set 1),
# 1000 (set 2), one neuron.
expected_rows = 21000
per_set = {0: 18000, 1: 2000, 2: 1000}

# pyarrow.dataset with Hive partitioning
table = ds.dataset(state, format="parquet", partitioning="hive").to_table()
for col in ["run", "set", "chunk", "period", "step", "time_ms", "neuron", "v"]:
    assert col in table.column_names, (col, table.column_names)
assert table.num_rows == expected_rows, table.num_rows

# polars lazy scan with Hive partitioning
lf = pl.scan_parquet(os.path.join(state, "**", "*.parquet"), hive_partitioning=True)
counts = lf.group_by("set").agg(pl.len()).collect().sort("set")
assert dict(zip(counts["set"].to_list(), counts["len"].to_list())) == per_set, counts
df = lf.filter((pl.col("set") == 0) & (pl.col("chunk") == 1)).collect()
assert df.height == 7000 and df["time_ms"].min() == 800.0 and df["time_ms"].max() == 1499.9, df

# pandas
pdf = pd.read_parquet(state)
assert len(pdf) == expected_rows, len(pdf)
assert {"run", "set", "chunk"} <= set(pdf.columns), pdf.columns

# DuckDB
con = duckdb.connect()
n = con.execute(
    f"select count(*) from read_parquet('{state}/**/*.parquet', hive_partitioning=true)"
).fetchone()[0]
assert n == expected_rows, n
sets = con.execute(
    f"select set, count(*) from read_parquet('{state}/**/*.parquet', hive_partitioning=true) group by set order by set"
).fetchall()
assert {int(s): c for s, c in sets} == per_set, sets

# The period table from the file metadata, with pyarrow, polars and DuckDB
path = os.path.join(root, "my_pop1", "state", "run=0", "set=0", "chunk=0", "part-0.parquet")
meta = pq.read_metadata(path).metadata
periods = json.loads(meta[b"neurorec.periods"])
assert [p["start_ms"] for p in periods] == [100.0, 300.0, 600.0], periods
assert [p["stop_idx"] for p in periods] == [49, 149, 199], periods
assert json.loads(meta[b"neurorec.period_ms"]) == 2.0
schema_meta = pq.read_schema(path).metadata
assert b"neurorec.periods" in schema_meta, sorted(schema_meta)
pl_meta = pl.read_parquet_metadata(path)
assert "neurorec.periods" in pl_meta, sorted(pl_meta)
kv = con.execute(f"select key, value from parquet_kv_metadata('{path}')").fetchall()
keys = {k.decode() if isinstance(k, bytes) else k for k, _ in kv}
assert "neurorec.periods" in keys, keys

# Temporary files of a crashed run are never picked up: every data file ends in .parquet.
for f in glob.glob(os.path.join(root, "**", "*"), recursive=True):
    assert not os.path.basename(f).startswith(".part-"), f

if len(sys.argv) > 2:
    wide = os.path.join(sys.argv[2], "wide", "state")
    t = ds.dataset(wide, format="parquet", partitioning="hive").to_table().to_pandas()
    t = t.sort_values(["set", "chunk", "step", "neuron"], kind="stable").reset_index(drop=True)
    assert len(t) > 1000 and len(t) % 20 == 0, len(t)
    # Every sample has neurons 0..19 in order, one step, one period, one time.
    assert (t["neuron"].to_numpy() == np.tile(np.arange(20), len(t) // 20)).all()
    for col in ["step", "period", "time_ms", "set", "chunk"]:
        per_sample = t[col].to_numpy().reshape(-1, 20)
        assert (per_sample == per_sample[:, :1]).all(), col
    assert np.allclose(t["time_ms"], t["step"] * 0.1), "time_ms = step * dt"
    assert (t["step"] % 2 == 0).all(), "recorded every 2 steps"
    # The same rows, in file order, from polars and DuckDB.
    files = sorted(glob.glob(os.path.join(wide, "**", "*.parquet"), recursive=True))
    plain = pq.read_table(files).select(["period", "step", "time_ms", "neuron", "v", "u"])
    lf = pl.scan_parquet(files).select(["period", "step", "time_ms", "neuron", "v", "u"])
    assert pl.from_arrow(plain).equals(lf.collect())
    duck = con.execute(
        "select period, step, time_ms, neuron, v, u from read_parquet("
        + repr(files) + ", filename=true, file_row_number=true) order by filename, file_row_number"
    ).to_arrow_table()
    assert duck.num_rows == plain.num_rows
    for col in plain.column_names:
        assert duck[col].to_pylist() == plain[col].to_pylist(), col
print("readers ok")
