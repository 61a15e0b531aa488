"""Executes notebooks with nbclient against given archives; exits non-zero on any error.

usage: run_notebooks.py SEED_ARCHIVE SWEEP_ARCHIVE NOTEBOOK...
"""
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main():
    seed, sweep, *notebooks = sys.argv[1:]
    os.environ["NEUROREC_SEED_ARCHIVE"] = str(Path(seed).resolve())
    os.environ["NEUROREC_SWEEP_ARCHIVE"] = str(Path(sweep).resolve())
    for path in map(Path, notebooks):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        client.execute()  # raises CellExecutionError, naming the cell, on any error
        images = sum(
            1
            for cell in nb.cells
            for out in cell.get("outputs", [])
            if "image/png" in out.get("data", {})
        )
        print(f"{path.name}: {len(nb.cells)} cells executed, {images} figures")


if __name__ == "__main__":
    main()
