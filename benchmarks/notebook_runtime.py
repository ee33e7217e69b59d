"""Run time and peak memory of each lesson executed top to bottom, as nbval executes it.

Each notebook runs in a fresh subprocess so the peak resident memory of its kernel (a child of
that subprocess) can be read from `getrusage(RUSAGE_CHILDREN)` after the kernel exits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"

_RUNNER = r"""
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
path = sys.argv[1]
notebook = nbformat.read(path, as_version=4)
start = time.perf_counter()
NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "kernel_peak_mib": peak_kib / 1024}))
"""


def run_one(path: Path) -> dict:
    """Execute one notebook in a subprocess; return its wall seconds and the kernel's peak RSS."""
    result = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(path), str(path.parent)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        return {"notebook": path.name, "error": result.stderr.strip().splitlines()[-1:]}
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    return {"notebook": path.name, **figures}


def run() -> list[dict]:
    return [run_one(path) for path in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))]
