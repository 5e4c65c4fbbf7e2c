"""Shared fixtures: a fresh home folder per test, and the CLI run in-process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from modelphase.config import get_settings
from support.cli import CliResult, RunCli

# CI runs the same examples every time (a run must not fail on a newly drawn one);
# a developer's run draws new ones, which is where new counterexamples come from
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty MODELPHASE_HOME for this test."""
    folder = tmp_path / "home"
    monkeypatch.setenv("MODELPHASE_HOME", str(folder))
    for name in ("URL", "TOKEN", "USERNAME", "PASSWORD", "CA_CERT", "INSECURE", "TIMEOUT"):
        monkeypatch.delenv(f"MODELPHASE_PROMETHEUS_{name}", raising=False)
    for name in ("REGISTRY_URL", "ARTIFACTS_URL", "TOKEN", "TOKEN_FILE"):
        monkeypatch.delenv(f"MODELPHASE_{name}", raising=False)
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture
def cli(home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run ``modelphase ARGS...`` through its real entry point, in this process."""
    from modelphase.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["modelphase", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real PostgreSQL server (Debian's package) on loopback for the session."""
    from support.postgres import start_postgres

    server = start_postgres(tmp_path_factory.mktemp("postgres"))
    with server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def registry_url(
    request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """An empty registry database: SQLite in the home folder, or a fresh PostgreSQL one.

    A shared (PostgreSQL) registry has no implicit admin: its first admin token
    (``bootstrap-admin``) is made here and set as MODELPHASE_TOKEN, as its operator would
    after ``modelphase tokens bootstrap``."""
    if request.param == "sqlite":
        return f"sqlite:///{home / 'registry.db'}"
    from modelphase.registry import Registry

    server = request.getfixturevalue("postgres_server")
    url = str(server.create_database())
    _, secret = Registry.bootstrap_admin(url, "bootstrap-admin")
    monkeypatch.setenv("MODELPHASE_TOKEN", secret)
    get_settings.cache_clear()
    return url
