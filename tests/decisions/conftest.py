"""Decision records to write, and a folder for the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.decisions import MakeRecord, make_record


@pytest.fixture
def record() -> MakeRecord:
    return make_record


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Where the log is written (created by the first segment)."""
    return tmp_path / "decisions"
