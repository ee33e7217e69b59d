"""The lessons run wherever students open them: JupyterLab, VS Code, Google Colab, on any OS.

Checked statically, from the source of the notebooks and of ``ddpm_lib``:
- no IPython magic or shell command that only some front ends support (``%matplotlib widget``
  needs ipympl, ``%%javascript`` does not run in VS Code, ``!pip`` downloads at run time),
- every third-party import is a package named in ``requirements.txt``,
- no unguarded import of a module that exists on only one OS (``fcntl`` is POSIX-only),
- stored widget state uses only the core ipywidgets models, which every front end renders.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LIBRARY_FILES = sorted((REPO_ROOT / "ddpm_lib").glob("*.py"))
PROJECT_PACKAGE = "ddpm_lib"

# Magics from IPython itself that behave the same in JupyterLab, VS Code and Colab.
ALLOWED_LINE_MAGICS = re.compile(r"^%(matplotlib inline|config InlineBackend\.\S+ *=.*|time|timeit|load_ext autoreload|autoreload)\b")
ALLOWED_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")
# Standard-library modules that exist on only one family of operating systems.
OS_SPECIFIC_MODULES = {
    "fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "posix", "crypt", "syslog", "curses",
    "msvcrt", "winreg", "winsound", "_winapi", "nt",
}  # fmt: skip
# The ipywidgets packages that JupyterLab, VS Code and Colab all render without an extension.
CORE_WIDGET_MODULES = {"@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output"}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

notebook_params = pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])


def normalize_name(name: str) -> str:
    """Normalize a distribution name as PEP 503 does: lowercase, runs of -_. become one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: Path) -> set[str]:
    """Return the normalized distribution names listed in a pip requirements file."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        names.add(normalize_name(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0]))
    return names


def code_without_magics(source: str) -> str:
    """Blank out IPython magic and shell lines so the rest parses as Python."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def parse_source(source: str, where: str, problems: list[str]) -> ast.AST:
    """Parse ``source``, appending a problem for every compile warning.

    An invalid escape such as ``"$\\hat x$"`` warns silently under Python 3.11, but from 3.12 on
    it prints a SyntaxWarning into the cell output, and Python plans to make it an error.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = ast.parse(source)
    problems.extend(f"{where}: {warning.category.__name__}: {warning.message}" for warning in caught)
    return tree


def imported_modules(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    """Return (top-level module name, node) for every absolute import in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name.split(".")[0], node) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], node))
    return found


def is_guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Return True if ``node`` sits in a ``try`` that catches ImportError or under an OS check."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try):
            caught = {ast.unparse(handler.type) for handler in node.handlers if handler.type is not None}
            if caught & {"ImportError", "ModuleNotFoundError", "(ImportError, ModuleNotFoundError)"}:
                return True
        if isinstance(node, ast.If) and re.search(r"sys\.platform|os\.name|platform\.system", ast.unparse(node.test)):
            return True
    return False


@functools.cache
def installed_distributions() -> dict[str, list[str]]:
    """Map each importable top-level name to the installed distributions that provide it."""
    return importlib.metadata.packages_distributions()


def third_party_problems(tree: ast.AST, allowed: set[str], where: str) -> list[str]:
    """List imports of packages outside ``allowed`` and unguarded OS-specific imports in ``tree``."""
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    distributions = installed_distributions()
    problems = []
    for module, node in imported_modules(tree):
        if module in OS_SPECIFIC_MODULES and not is_guarded(node, parents):
            problems.append(f"{where}, line {node.lineno}: '{module}' exists on only one OS; guard or avoid it")
        if module == PROJECT_PACKAGE or module in sys.stdlib_module_names:
            continue
        names = {normalize_name(name) for name in distributions.get(module, [])}
        if not names & allowed:
            package = ", ".join(sorted(names)) or "no installed package"
            problems.append(f"{where}, line {node.lineno}: imports '{module}' ({package}), not in requirements.txt")
    return problems


@pytest.fixture(scope="module")
def allowed_packages() -> set[str]:
    return requirement_names(REPO_ROOT / "requirements.txt")


def test_library_imports_only_requirements(allowed_packages: set[str]) -> None:
    problems = []
    for path in LIBRARY_FILES:
        where = str(path.relative_to(REPO_ROOT))
        tree = parse_source(path.read_text(), where, problems)
        problems += third_party_problems(tree, allowed_packages, where)
    assert problems == []


@notebook_params
def test_notebook_imports_only_requirements(path: Path, allowed_packages: set[str]) -> None:
    problems = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code" or cell.source.lstrip().startswith("%%"):
            continue
        where = f"{path.name} cell {index}"
        tree = parse_source(code_without_magics(cell.source), where, problems)
        problems += third_party_problems(tree, allowed_packages, where)
    assert problems == []


@notebook_params
def test_notebook_magics_portable(path: Path) -> None:
    problems = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        first_line = cell.source.lstrip().split("\n", 1)[0]
        if first_line.startswith("%%") and not first_line.startswith(ALLOWED_CELL_MAGICS):
            problems.append(f"cell {index}: cell magic {first_line!r}")
        for line in cell.source.splitlines():
            line = line.strip()
            if line.startswith("!") or (line.startswith("%") and not line.startswith("%%") and not ALLOWED_LINE_MAGICS.match(line)):
                problems.append(f"cell {index}: {line!r}")
            if re.search(r"\bipympl\b|%matplotlib (widget|ipympl|notebook)", line):
                problems.append(f"cell {index}: {line!r} needs ipympl, a JupyterLab extension")
    assert problems == [], f"{path.name} uses magics or shell commands that not every front end supports"


@notebook_params
def test_widget_state_uses_core_widgets(path: Path) -> None:
    widgets = nbformat.read(path, as_version=4).metadata.get("widgets", {})
    models = widgets.get(WIDGET_STATE, {}).get("state", {})
    modules = {model.get("model_module") for model in models.values()}
    assert modules <= CORE_WIDGET_MODULES, f"{path.name} stores widgets from {modules - CORE_WIDGET_MODULES}"


def test_checks_catch_violations(allowed_packages: set[str]) -> None:
    # The checks above must be able to fail: feed them code that breaks each rule.
    source = "import fcntl\nimport diffusers\ntry:\n    import msvcrt\nexcept ImportError:\n    msvcrt = None\n"
    problems = third_party_problems(ast.parse(source), allowed_packages, "example")
    assert any("'fcntl'" in problem for problem in problems)
    assert any("'diffusers'" in problem for problem in problems)
    assert not any("'msvcrt'" in problem for problem in problems)
    warned: list[str] = []
    parse_source('title = "$\\hat x_0$"', "example", warned)
    assert any("escape" in problem for problem in warned)
    assert "%matplotlib widget" not in code_without_magics("%matplotlib widget\nx = 1")
    assert ALLOWED_LINE_MAGICS.match("%matplotlib inline")
    assert not ALLOWED_LINE_MAGICS.match("%matplotlib widget")
    assert not ALLOWED_LINE_MAGICS.match("%pip install torch")
