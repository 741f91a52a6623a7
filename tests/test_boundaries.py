"""Architecture contracts: the engine stays free of Qt, torch, the app and training; training
never imports the app; the training core never imports its benchmarks or experiments.

Checked twice: statically (every import statement in the package's source) and at run time
(importing every engine module in a fresh interpreter pulls none of the forbidden modules).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

FORBIDDEN = {
    "engine": {"PySide6", "torch", "app", "training", "signstream"},
    "app": {"training", "torch"},
    "training": {"app", "PySide6"},
}
# training/: what is product (the core) and what uses it. The commands and the recipe run the
# real-data benchmarks beside the core; nothing of the core may depend on them.
TRAINING_USERS = ("training/benchmarks", "training/experiments", "training/cli.py",
                  "training/recipe.py", "training/results.py")  # fmt: skip
NOT_FOR_THE_CORE = ("training.benchmarks", "training.experiments")


def imported_modules(path: Path, dotted: bool = False) -> set[str]:
    """Top-level packages ``path`` imports (``dotted``: the full module names), anywhere in
    it, inside functions too."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names if dotted else {n.split(".")[0] for n in names}


def training_core() -> list[Path]:
    files = sorted((REPO / "training").rglob("*.py"))
    return [f for f in files if not str(f.relative_to(REPO)).startswith(TRAINING_USERS)]


def test_the_training_core_never_imports_benchmarks_or_experiments() -> None:
    core = training_core()
    assert REPO / "training" / "trainer.py" in core and REPO / "training" / "loop.py" in core
    offenders = {
        str(f.relative_to(REPO)): sorted(
            m for m in imported_modules(f, dotted=True) if m.startswith(NOT_FOR_THE_CORE)
        )
        for f in core
    }
    offenders = {f: bad for f, bad in offenders.items() if bad}
    assert not offenders, f"the training core imports its users: {offenders}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_static_imports(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    offenders = {
        str(f.relative_to(REPO)): sorted(imported_modules(f) & FORBIDDEN[package]) for f in files
    }
    offenders = {f: bad for f, bad in offenders.items() if bad}
    assert not offenders, f"{package}/ imports what it must not: {offenders}"


def test_engine_imports_nothing_forbidden_at_run_time() -> None:
    modules = sorted(
        "engine." + p.stem for p in (REPO / "engine").glob("*.py") if p.stem != "__init__"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'PySide6', 'torch', 'app', 'training'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"importing the engine pulled in: {out.stdout.strip()}"


def test_cli_starts_without_torch() -> None:
    """`signstream --help` and the data commands must not pay for importing torch."""
    code = (
        "import sys\n"
        "from signstream import cli\n"
        "try:\n    cli.main(['data', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def test_training_modules_and_functions_stay_short_enough_to_read() -> None:
    """No module of training/ over 600 lines, no function over 80 (issue 18's bar)."""
    too_long = []
    for f in sorted((REPO / "training").rglob("*.py")):
        src = f.read_text("utf-8")
        name = str(f.relative_to(REPO))
        if src.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {src.count(chr(10))} lines")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}: {node.name}() {n} lines")
    assert not too_long, f"split these: {too_long}"
