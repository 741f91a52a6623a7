"""app.catalog: where the user's data lives (QStandardPaths, offscreen, a real QApplication)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QApplication

from app.catalog import DATA_DIR_ENV, user_data_dir

NAME = "SignStream"  # what run_app sets as both organisation and application name


@pytest.fixture
def data_home(
    qapp: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The app's names as run_app sets them, and a data folder (XDG_DATA_HOME) of the test's."""
    names = (qapp.organizationName(), qapp.applicationName())
    qapp.setOrganizationName(NAME)
    qapp.setApplicationName(NAME)
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    yield tmp_path / "share"
    qapp.setOrganizationName(names[0])
    qapp.setApplicationName(names[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG data paths")
def test_user_data_dir_names_the_app_once(data_home: Path) -> None:
    # issue 17: the About box showed .../SignStream/SignStream
    qt = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    assert Path(qt) == data_home / NAME / NAME  # what Qt gives: the reason for the fix
    assert user_data_dir() == data_home / NAME


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG data paths")
def test_user_data_dir_keeps_an_existing_users_doubled_folder(data_home: Path) -> None:
    old = data_home / NAME / NAME
    (old / "recordings").mkdir(parents=True)
    assert user_data_dir() == old  # their recordings and models stay where they are
    (data_home / NAME / "models").mkdir()  # the new folder is in use: it wins
    assert user_data_dir() == data_home / NAME


def test_override_wins(data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "portable"))
    assert user_data_dir() == tmp_path / "portable"
