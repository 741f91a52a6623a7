"""One place decides where the shared data is: ``engine.data_root.data_root``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.data_root import ENV, data_root
from tests.conftest import REPO


def test_env_wins_over_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    assert data_root() == tmp_path
    assert data_root(tmp_path / "given") == tmp_path / "given"  # an explicit --data-root wins


def test_default_is_beside_the_repo_from_any_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert data_root() == REPO.parent / "shared" / "data"
    assert data_root().is_absolute()


def test_benchmark_configs_follow_the_env(tmp_path: Path) -> None:
    code = (
        "from training.benchmarks.boston import BostonConfig\n"
        "from training.benchmarks.wlasl import WlaslConfig\n"
        "print(BostonConfig().data_root); print(WlaslConfig().data)\n"
    )
    env = {"SIGNSTREAM_DATA": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(tmp_path / "boston104"), str(tmp_path / "wlasl50" / "wlasl50.npz")]


def test_no_other_module_builds_the_shared_data_path() -> None:
    """A second default (``"../shared/data"``, ``REPO.parent / "shared"``) would drift."""
    pattern = re.compile(
        r"""["']\.\./shared/data|/ ["']shared["']|environ\.get\(["']SIGNSTREAM_DATA"""
    )
    found = []
    for folder in ("engine", "app", "signstream", "training", "bench", "scripts", "tests"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name in ("data_root.py", "test_data_root.py"):
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert found == []
