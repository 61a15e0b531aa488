"""Scans archives left by killed runs with real readers: none may fail, and each must see
exactly the rows of the complete files in place (never a staged or unfinished one).

Usage: python check_killed.py EXPECTED.json
EXPECTED.json: [{"dir": ..., "compartments": {"pop": {"state": rows, "spikes": rows}}}, ...]
where rows counts the complete chunks' files that are in place (-1: the directory does not
exist yet). Exits non-zero (AssertionError) on the first reader that disagrees.
"""
import json
import os
import sys

import duckdb
import polars as pl
import pyarrow.dataset as ds

cases = json.load(open(sys.argv[1]))
for case in cases:
    for comp, kinds in case["compartments"].items():
        for kind, rows in kinds.items():
            d = os.path.join(case["dir"], comp, kind)
            where = f"{d} (expected {rows} rows)"
            if rows < 0:
                assert not os.path.exists(d) or not any(
                    f.endswith(".parquet") for _, _, fs in os.walk(d) for f in fs
                ), where
                continue
            # pyarrow: a directory scan with Hive partitions.
            n = ds.dataset(d, format="parquet", partitioning="hive").count_rows()
            assert n == rows, ("pyarrow", where, n)
            # polars: the directory itself, and a glob.
            n = pl.scan_parquet(d, hive_partitioning=True).select(pl.len()).collect().item()
            assert n == rows, ("polars dir", where, n)
            n = (
                pl.scan_parquet(os.path.join(d, "**", "*.parquet"), hive_partitioning=True)
                .select(pl.len())
                .collect()
                .item()
            )
            assert n == rows, ("polars glob", where, n)
            # DuckDB: a glob with Hive partitioning.
            n = duckdb.sql(
                f"SELECT count(*) FROM read_parquet('{d}/**/*.parquet', hive_partitioning=true)"
            ).fetchall()[0][0]
            assert n == rows, ("duckdb", where, n)
print(f"{len(cases)} archives checked with pyarrow, polars and DuckDB")
