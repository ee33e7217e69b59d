"""Every lesson still shows its figures when opened without a kernel or JavaScript.

GitHub, nbviewer and an nbconvert HTML export show only what is stored in the notebook. Widgets
need a live kernel, so each cell that outputs a widget view must be accompanied by a stored PNG
figure of a representative state, in the same code cell or the next one. The HTML export is made
here without executing anything, exactly as a static viewer would see the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# The project's notebook standard keeps each lesson well under 10 MiB.
MAX_NOTEBOOK_BYTES = 10 * 1024 * 1024

PNG_IMG = re.compile(r"<img[^>]*src=\"data:image/png;base64,")
GIF_IMG = re.compile(r"<img[^>]*src=\"data:image/gif;base64,")

notebook_params = pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def output_types(cell: nbformat.NotebookNode) -> set[str]:
    """Return the MIME types of all display and result outputs of a code cell."""
    return {mime for output in cell.get("outputs", []) for mime in output.get("data", {})}


def test_lessons_exist() -> None:
    assert NOTEBOOKS, f"no lesson notebooks found in {NOTEBOOKS_DIR}"


@notebook_params
def test_html_export_has_figures(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    assert len(PNG_IMG.findall(html)) >= 1, f"{path.name} exports to HTML with no PNG figure"
    if path.name.startswith("05_"):
        # Lesson 5's reverse-process animation is an embedded GIF, which plays without JavaScript.
        assert GIF_IMG.search(html), f"{path.name} exports to HTML without its GIF animation"


@notebook_params
def test_widget_views_have_static_figure(path: Path) -> None:
    cells = code_cells(nbformat.read(path, as_version=4))
    missing = []
    for index, cell in enumerate(cells):
        if WIDGET_VIEW not in output_types(cell):
            continue
        nearby = output_types(cell) | (output_types(cells[index + 1]) if index + 1 < len(cells) else set())
        if "image/png" not in nearby:
            missing.append(cell.get("execution_count"))
    assert missing == [], (
        f"{path.name}: the widget cells with execution counts {missing} have no stored PNG figure in the "
        "same or the next code cell, so GitHub and HTML exports show nothing there"
    )


@notebook_params
def test_widget_metadata_well_formed(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    widgets = notebook.metadata.get("widgets")
    if widgets is None:
        return
    # GitHub refuses to render a notebook whose widget metadata lacks the "state" key.
    assert isinstance(widgets, dict), f"{path.name}: metadata.widgets must be an object, got {type(widgets).__name__}"
    assert WIDGET_STATE in widgets, f"{path.name}: metadata.widgets lacks {WIDGET_STATE!r}"
    state = widgets[WIDGET_STATE]
    assert isinstance(state.get("state"), dict), f"{path.name}: metadata.widgets[{WIDGET_STATE!r}] lacks 'state'"
    for model_id, model in state["state"].items():
        for key in ("model_name", "model_module", "state"):
            assert key in model, f"{path.name}: widget model {model_id} lacks {key!r}"


@notebook_params
def test_notebook_size(path: Path) -> None:
    size = path.stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, f"{path.name} is {size / 2**20:.1f} MiB; keep it under 10 MiB"
