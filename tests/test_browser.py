"""Lesson 1 in a real JupyterLab, driven by headless Chromium through Playwright.

The test starts a private JupyterLab server on a temporary copy of the lessons and opens lesson 1.
It runs every cell and checks that no cell failed and that the widgets render as controls. Then
it moves the t slider and checks that the explorer's image changed. Screenshots go to
``test-artifacts/``.

It uses Debian's ``/usr/bin/chromium`` and never downloads a browser (``playwright install`` is
not needed). Without Chromium or Playwright the test is skipped locally, but fails when the
environment variable ``CI`` is set, so CI cannot pass by skipping it.
"""

from __future__ import annotations

import os
import re
import time
import shutil
import urllib.parse
from pathlib import Path

import pytest

from lab_server import LabServer

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
LESSON_1 = "01_forward_noising.ipynb"
CHROMIUM_PATH = Path("/usr/bin/chromium")
# Flags for a headless Chromium in a container: no sandbox (often run as root), no GPU, /tmp
# instead of a small /dev/shm, and no background requests to Google services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Upper bounds in milliseconds for each wait, generous for a loaded 2-core machine.
PAGE_LOAD_MS = 120_000
KERNEL_IDLE_MS = 120_000
RUN_ALL_MS = 300_000
REDRAW_MS = 30_000

# The text repr a widget falls back to when the page has no widget manager: IntSlider(value=…).
WIDGET_AS_TEXT = re.compile(r"\b\w*(Slider|Box|Dropdown|Image|Play|Button|ToggleButtons)\(")

JS_KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    if (!panel || !panel.sessionContext || !panel.context || !panel.context.isReady) return false;
    const session = panel.sessionContext.session;
    return !!(session && session.kernel && session.kernel.status === 'idle');
}"""

# Clear the stored outputs first so that an execution count proves the cell ran in this browser.
JS_START_RUN_ALL = """() => {
    window.__classroomRunAll = undefined;
    const commands = window.jupyterapp.commands;
    commands.execute('notebook:clear-all-cell-outputs')
        .then(() => commands.execute('notebook:run-all-cells'))
        .then(ok => { window.__classroomRunAll = String(ok); },
              error => { window.__classroomRunAll = 'error: ' + error; });
}"""

JS_CELL_REPORT = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    return panel.content.widgets
        .map((cell, index) => ({cell, index}))
        .filter(({cell}) => cell.model.type === 'code' && cell.model.sharedModel.getSource().trim() !== '')
        .map(({cell, index}) => ({
            index,
            executionCount: cell.model.executionCount,
            errors: cell.model.outputs.toJSON()
                .filter(output => output.output_type === 'error')
                .map(output => output.ename + ': ' + output.evalue),
        }));
}"""

# SHA-256 of the bytes behind each widget image, read from its blob URL inside the page.
JS_IMAGE_DIGESTS = """async () => {
    const digests = [];
    for (const image of document.querySelectorAll('.jp-OutputArea-output img.widget-image')) {
        const data = await (await fetch(image.src)).arrayBuffer();
        const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
        digests.push(Array.from(hash, byte => byte.toString(16).padStart(2, '0')).join(''));
    }
    return digests;
}"""


def require_browser_tools():
    """Return Playwright's ``sync_playwright``; skip locally or fail under CI if a tool is missing."""
    missing = []
    if not CHROMIUM_PATH.exists():
        missing.append(f"Chromium at {CHROMIUM_PATH} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the Python package playwright (pip install playwright)")
        sync_playwright = None
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run this test, not skip it")
        pytest.skip(reason)
    return sync_playwright


def copy_lessons(destination: Path) -> Path:
    """Copy the lessons into ``destination``/notebooks and link ``data`` beside them; return the root."""
    shutil.copytree(NOTEBOOKS_DIR, destination / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if (REPO_ROOT / "data").is_dir():
        (destination / "data").symlink_to(REPO_ROOT / "data", target_is_directory=True)
    return destination


def block_remote_requests(context, server: LabServer, blocked: list[str]) -> None:
    """Abort every browser request whose host is not the test server; record the URLs."""
    local = urllib.parse.urlsplit(server.base_url).netloc

    def handle(route) -> None:
        if urllib.parse.urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", handle)


def run_all_cells(page) -> list[dict]:
    """Run every cell of the open notebook and return, per code cell, its execution count and errors."""
    page.wait_for_function(JS_KERNEL_IDLE, timeout=KERNEL_IDLE_MS)
    page.evaluate(JS_START_RUN_ALL)
    page.wait_for_function("() => window.__classroomRunAll !== undefined", timeout=RUN_ALL_MS)
    page.wait_for_function(JS_KERNEL_IDLE, timeout=KERNEL_IDLE_MS)
    return page.evaluate(JS_CELL_REPORT)


def find_t_slider(page):
    """Return the first slider labelled t, or the first slider when none is labelled t."""
    sliders = page.locator(".jp-OutputArea-output .widget-slider")
    labelled_t = sliders.filter(has=page.locator(".widget-label", has_text=re.compile(r"^\s*\$?t\b")))
    return labelled_t.first if labelled_t.count() else sliders.first


def move_slider(slider) -> tuple[float, int]:
    """Type a new value into the slider's editable readout; return (old value, new value)."""
    handle = slider.locator(".noUi-handle").first
    low = float(handle.get_attribute("aria-valuemin"))
    high = float(handle.get_attribute("aria-valuemax"))
    old = float(handle.get_attribute("aria-valuenow"))
    new = round((low + high) / 2)
    if new == old:
        new = round(high)
    readout = slider.locator(".widget-readout")
    readout.click()
    readout.press("Control+A")
    readout.press_sequentially(str(new))
    readout.press("Enter")
    return old, new


def wait_for_new_images(page, before: list[str]) -> None:
    """Poll the widget images' digests until they differ from ``before`` or ``REDRAW_MS`` passes."""
    deadline = time.monotonic() + REDRAW_MS / 1000
    while time.monotonic() < deadline:
        if page.evaluate(JS_IMAGE_DIGESTS) != before:
            return
        page.wait_for_timeout(250)


@pytest.fixture
def sync_playwright():
    """Playwright's ``sync_playwright``, after checking that the tools and lesson 1 exist."""
    playwright_entry = require_browser_tools()
    if not (NOTEBOOKS_DIR / LESSON_1).exists():
        pytest.fail(f"lesson 1 is missing: {NOTEBOOKS_DIR / LESSON_1}")
    return playwright_entry


@pytest.fixture
def lab_server(sync_playwright, tmp_path: Path):
    """A JupyterLab server on a temporary copy of the lessons, always stopped afterwards."""
    root = copy_lessons(tmp_path / "root")
    state = tmp_path / "state"
    state.mkdir()
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    try:
        with LabServer(root, state) as server:
            yield server
    finally:
        log_path = state / "jupyterlab-server.log"
        if log_path.exists():
            shutil.copyfile(log_path, ARTIFACTS_DIR / "jupyterlab-server.log")


def test_lesson1_in_jupyterlab(sync_playwright, lab_server: LabServer) -> None:
    blocked: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
            block_remote_requests(context, lab_server, blocked)
            page = context.new_page()
            page.set_default_timeout(PAGE_LOAD_MS)
            url = f"{lab_server.base_url}/lab/tree/notebooks/{LESSON_1}?token={lab_server.token}"
            page.goto(url, timeout=PAGE_LOAD_MS)

            # 1. Run every cell: each must get an execution count and none may show an error.
            cells = run_all_cells(page)
            page.screenshot(path=ARTIFACTS_DIR / "lesson1-after-run-all.png", full_page=True)
            assert cells, "lesson 1 has no code cells"
            failed = {cell["index"]: cell["errors"] for cell in cells if cell["errors"]}
            assert failed == {}, f"cells failed in JupyterLab: {failed}"
            not_run = [cell["index"] for cell in cells if cell["executionCount"] is None]
            assert not_run == [], f"cells {not_run} did not run; see test-artifacts/lesson1-after-run-all.png"

            # 2. Widgets render as controls, not as their text repr.
            assert page.locator(".jp-OutputArea-output .widget-slider").count() >= 1, "no slider control rendered"
            assert page.locator(".jp-OutputArea-output img.widget-image").count() >= 1, "no widget image rendered"
            output_text = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
            as_text = WIDGET_AS_TEXT.findall(output_text)
            assert as_text == [], f"widgets shown as text ({as_text}): the widget manager did not load"

            # 3. Moving the t slider redraws the explorer's image.
            slider = find_t_slider(page)
            slider.scroll_into_view_if_needed()
            explorer = slider.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea-output')][1]")
            before_png = explorer.screenshot(path=ARTIFACTS_DIR / "lesson1-explorer-before.png")
            before = page.evaluate(JS_IMAGE_DIGESTS)
            old, new = move_slider(slider)
            wait_for_new_images(page, before)
            page.wait_for_function(JS_KERNEL_IDLE, timeout=KERNEL_IDLE_MS)
            after_png = explorer.screenshot(path=ARTIFACTS_DIR / "lesson1-explorer-after.png")
            page.screenshot(path=ARTIFACTS_DIR / "lesson1-after-slider.png", full_page=True)
            after = page.evaluate(JS_IMAGE_DIGESTS)
            value_now = float(slider.locator(".noUi-handle").first.get_attribute("aria-valuenow"))
            assert value_now == new, f"typed t = {new} into the slider's readout, but the slider shows {value_now}"
            assert after != before, f"moving t from {old} to {new} left every widget image unchanged"
            assert after_png != before_png, f"moving t from {old} to {new} left the explorer's pixels unchanged"
        finally:
            browser.close()

    # 4. Nothing outside the local server was requested: the lesson works offline.
    assert blocked == [], f"the page requested remote URLs (aborted): {blocked[:10]}"
