"""Running a lesson's cells twice changes nothing: not the cell, not later cells, not open figures.

Students rerun cells out of order all the time. Each lesson is executed here with nbclient, and
each code cell that ran in at most ``RERUN_MAX_S`` seconds is run a second time before the next
one. The test checks that

- the second run of a cell shows the same outputs as the first (nothing piles up),
- the second run leaves no more matplotlib figures open than the first,
- every cell's outputs still match the outputs stored in the notebook, which ``pytest --nbval``
  checks against a clean top-to-bottom run, so a rerun does not change any later result,
- executing the lesson writes no files beside it, so "Restart Kernel and Run All" starts from
  the same state whatever ran before. The kernel runs in a temporary copy of ``notebooks/`` (with
  ``data`` linked beside it) so that only the lesson's own writes are seen.

Outputs are compared the way nbval compares them: text after the sanitizing patterns of
``tests/nbval_sanitize.cfg``, images and widget views by their presence only. Cells that nbval
skips are skipped here. Cells whose output nbval ignores (training, timings) run once and are not
compared. Slower cells (sampling loops, mostly) also run once, so that this test adds well under a
minute per lesson to the suite. They are still compared with the stored outputs after the
earlier cells ran twice.
"""

from __future__ import annotations

import copy
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbval.plugin import coalesce_streams, find_comment_markers, find_metadata_tags

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
SANITIZE_FILE = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
CELL_TIMEOUT_S = 300
# Cells whose first run took longer than this run only once (see the module docstring).
RERUN_MAX_S = 5.0
TEXT_TYPES = ("text/plain", "text/html", "text/latex", "text/markdown", "image/svg+xml")
COUNT_OPEN_FIGURES = 'print(len(__import__("matplotlib.pyplot", fromlist=["get_fignums"]).get_fignums()))'


def read_sanitizers(path: Path) -> list[tuple[re.Pattern, str]]:
    """Parse nbval's sanitize file: adjacent ``regex:`` and ``replace:`` lines."""
    pairs, pattern = [], None
    for line in path.read_text().splitlines():
        if line.startswith("regex:"):
            pattern = re.compile(line[len("regex:"):].strip())
        elif line.startswith("replace:") and pattern is not None:
            pairs.append((pattern, line[len("replace:"):].strip()))
            pattern = None
    return pairs


SANITIZERS = read_sanitizers(SANITIZE_FILE)


def sanitize(text: str) -> str:
    for pattern, replacement in SANITIZERS:
        text = pattern.sub(replacement, text)
    return text


def normalize_outputs(outputs: list) -> list[tuple]:
    """Reduce outputs to what nbval compares: sanitized text, and the kinds of rich output.

    Streams are merged per name first, with nbval's own function, because the kernel may split
    one print into several stream messages.
    """
    normalized = []
    for output in coalesce_streams(copy.deepcopy(outputs)):
        if output.output_type == "stream":
            normalized.append(("stream", output.name, sanitize(output.text)))
        elif output.output_type == "error":
            normalized.append(("error", output.ename, sanitize(output.evalue)))
        else:
            data = output.get("data", {})
            texts = {mime: sanitize(str(data[mime])) for mime in TEXT_TYPES if mime in data}
            others = sorted(mime for mime in data if mime not in TEXT_TYPES)
            normalized.append((output.output_type, tuple(sorted(texts.items())), tuple(others)))
    return normalized


def nbval_markers(cell: nbformat.NotebookNode) -> dict[str, bool]:
    """Return nbval's markers for a cell, from comments and tags, e.g. {"check": False}."""
    return dict(find_comment_markers(cell.source)) | dict(find_metadata_tags(cell.metadata))


def folder_snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Map every file under ``folder`` to (size, mtime in ns)."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def copy_lessons(destination: Path) -> Path:
    """Copy ``notebooks/`` into ``destination``, link ``data`` beside it, and return the copy."""
    copy_dir = destination / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, copy_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if (REPO_ROOT / "data").is_dir():
        (destination / "data").symlink_to(REPO_ROOT / "data", target_is_directory=True)
    return copy_dir


def count_open_figures(client: NotebookClient) -> int:
    probe = nbformat.v4.new_code_cell(COUNT_OPEN_FIGURES)
    client.execute_cell(probe, 0, store_history=False)
    return int(probe.outputs[0].text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_cells_run_twice_same_results(path: Path, tmp_path: Path) -> None:
    lessons = copy_lessons(tmp_path)
    notebook = nbformat.read(lessons / path.name, as_version=4)
    stored = {index: normalize_outputs(cell.outputs) for index, cell in enumerate(notebook.cells)
              if cell.cell_type == "code"}
    files_before = folder_snapshot(lessons)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(lessons)}})

    num_rerun = 0
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            markers = nbval_markers(cell)
            if cell.cell_type != "code" or markers.get("skip"):
                continue
            start = time.monotonic()
            client.execute_cell(cell, index)
            if not markers.get("check", True):
                continue  # NOTE: training and timing cells run once: they are slow and nbval ignores them.
            where = f"{path.name}, cell {index}"
            first, figures_first = normalize_outputs(cell.outputs), count_open_figures(client)
            if time.monotonic() - start <= RERUN_MAX_S:
                client.execute_cell(cell, index)
                num_rerun += 1
                second, figures_second = normalize_outputs(cell.outputs), count_open_figures(client)
                assert figures_second <= figures_first, f"{where}: a second run left more figures open"
                assert second == first, f"{where}: a second run shows different outputs"
            assert first == stored[index], f"{where}: after rerunning earlier cells the outputs differ from stored"

    assert num_rerun > 0, f"no cell of {path.name} was fast enough to run twice"

    assert folder_snapshot(lessons) == files_before, f"{path.name} wrote files beside itself"
