"""Fixtures of the server tests.

Training takes about a second, so the two forecaster runs are made once per session;
every test registers them into its own home folder (cheap: the artifact bytes) and
gets a server of its own, so that alias moves and injected faults never leak.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelphase.spec import parse_spec
from modelphase.train import train
from serve.harness import V1_SPEC, V2_SPEC, Live, Runs, Setup, prepare, running, wait_for
from test_train import make_panel


@pytest.fixture(scope="session")
def runs() -> Runs:
    """Two training runs of the hourly forecaster (v2 on other noise, so they differ)."""
    v1 = train(parse_spec(V1_SPEC), make_panel(n=4, days=12, seed=0), n_jobs=1)
    v2 = train(parse_spec(V2_SPEC), make_panel(n=4, days=12, seed=1), n_jobs=1)
    assert v1.passed, v1.gates
    assert v2.passed, v2.gates
    return Runs(v1, v2)


@pytest.fixture
def setup(home: Path, runs: Runs) -> Setup:
    return prepare(home, runs)


@pytest.fixture
def prepare_home(runs: Runs) -> Callable[[Path], Setup]:
    """``prepare_home(folder)``: register the models and tokens in a new home there."""
    return lambda folder: prepare(folder, runs)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    """``wait_for(check, what=..., timeout=60)``: poll until ``check()`` is truthy."""
    return wait_for


@pytest.fixture
def start() -> Iterator[Callable[..., Live]]:
    """``start(home, setup=None, **ServeConfig options)``: another server, stopped at
    the end of the test."""
    with contextlib.ExitStack() as stack:
        yield lambda home, setup=None, **options: stack.enter_context(
            running(setup, home, **options)
        )


@pytest.fixture
def live(setup: Setup) -> Iterator[Live]:
    """The server over the prepared registry (reloads every 0.2 s)."""
    with running(setup, setup.home) as server:
        yield server
