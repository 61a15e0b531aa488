"""Loads the connectivity tables of a neurorec archive with real Arrow readers.

Usage: python check_connectivity.py ARCHIVE_DIR PROJECTION SYNAPSES [STATE_ROWS]
Exits non-zero (AssertionError) when a reader does not see the SYNAPSES rows neurorec wrote
for PROJECTION (columns pre, post, w, delay; `run` from the Hive directory).
"""
import os
import sys

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds

root, projection, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
synapses = os.path.join(root, projection, "synapses")
files = os.path.join(synapses, "**", "*.parquet")

table = ds.dataset(synapses, format="parquet", partitioning="hive").to_table()
assert table.num_rows == expected, table.num_rows
for col in ["pre", "post", "w", "delay", "run"]:
    assert col in table.column_names, (col, table.column_names)

df = pl.scan_parquet(files, hive_partitioning=True).collect()
assert df.height == expected and set(df["run"].to_list()) == {0}, df
assert df["delay"].min() > 0 and df["pre"].dtype == pl.UInt32, df.schema

pdf = pd.read_parquet(synapses)
assert len(pdf) == expected, len(pdf)

con = duckdb.connect()
n = con.execute(f"select count(*) from read_parquet('{files}', hive_partitioning=true)").fetchone()[0]
assert n == expected, n
print(f"{projection}: {expected} synapses read by pyarrow, polars, pandas and DuckDB")

# With a fourth argument, the projection's recorded state: ROWS rows of `period, step,
# time_ms, post, pre, <variables>` sorted by step, post, pre within each chunk, whose
# (post, pre) pairs are the connectivity's.
if len(sys.argv) > 4:
    rows = int(sys.argv[4])
    state = os.path.join(root, projection, "state")
    state_files = os.path.join(state, "**", "*.parquet")
    t = ds.dataset(state, format="parquet", partitioning="hive").to_table()
    assert t.num_rows == rows, (t.num_rows, rows)
    assert t.column_names[:5] == ["period", "step", "time_ms", "post", "pre"], t.column_names
    st = pl.scan_parquet(state_files, hive_partitioning=True).collect()
    assert st.height == rows, st
    for _, part in st.group_by(["run", "set", "chunk"]):
        keys = part.select(["step", "post", "pre"]).rows()
        assert keys == sorted(keys), "rows not sorted by step, post, pre"
    pairs = set(st.select(["post", "pre"]).unique().rows())
    assert pairs == set(df.select(["post", "pre"]).rows()), (pairs, df)
    assert len(pd.read_parquet(state)) == rows
    n = con.execute(
        f"select count(*) from read_parquet('{state_files}', hive_partitioning=true)"
    ).fetchone()[0]
    assert n == rows, n
    print(f"{projection}: {rows} state rows read by pyarrow, polars, pandas and DuckDB")
