"""Decision records to write, and a folder for the log."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.decisions import MakeRecord, make_record


@pytest.fixture
def record() -> MakeRecord:
    return make_record


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Where the log is written (created by the first segment)."""
    return tmp_path / "decisions"


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """``wait_until(check, what=...)``: poll until ``check()`` is true; the limit only
    turns a hang into a failure, it is not what the test measures."""

    def wait(check: Callable[[], Any], *, what: str, limit: float = 60.0) -> None:
        deadline = time.monotonic() + limit
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            time.sleep(0.01)

    return wait
