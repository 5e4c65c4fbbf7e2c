"""The registry database's failures as a person sees them: one ``error:`` line that says
what happened and how to fix it, exit 1, never a traceback, nothing half-written.

A lock held past the busy timeout and a damaged file are real here; a full disk is a
real tmpfs filled to the brim (skipped where it cannot be mounted: the injected
``OSError`` tests in tests/test_cli_limits.py cover the same lines there).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelphase.config import get_settings
from modelphase.exceptions import (
    RegistryBusyError,
    RegistryStorageError,
    RegistryUnavailableError,
)
from modelphase.registry import Registry
from support.cli import CliResult, RunCli
from support.disk import fill, small_disk


def one_line(result: CliResult, *words: str) -> str:
    assert result.code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Fix:" in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def register(cli: RunCli, folder: Path, content: bytes) -> CliResult:
    path = folder / f"artifact-{len(content)}.bin"
    path.write_bytes(content)
    return cli("models", "register", "m", "--artifact", str(path))


def test_a_write_lock_held_past_the_busy_timeout_is_one_line(
    cli: RunCli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other writer holds its lock for the whole attempt, so the outcome does not
    depend on how long the (shortened) timeout is."""
    monkeypatch.setattr("modelphase.registry.store._BUSY_TIMEOUT_S", 0.05)
    assert register(cli, tmp_path, b"one").code == 0
    holder = sqlite3.connect(home / "registry.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        line = one_line(register(cli, tmp_path, b"two"), "is busy", "database is locked")
        assert "more than 0.05 s" in line
        with pytest.raises(RegistryBusyError) as info, Registry() as reg:
            reg.register("m", b"three")
        assert isinstance(info.value, RegistryUnavailableError)
    finally:
        holder.rollback()
        holder.close()
    with Registry() as reg:
        assert [v.version for v in reg.versions("m")] == [1]


def test_a_damaged_database_file_is_one_line(cli: RunCli, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "registry.db").write_bytes(b"this is not a database" * 100)
    one_line(cli("models", "list"), "is damaged", "file is not a database", "backup")
    with pytest.raises(RegistryStorageError):
        Registry()


@pytest.fixture
def full_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path) -> Iterator[Path]:
    """MODELPHASE_HOME on a 4 MiB tmpfs of its own (mounted for this test)."""
    with small_disk(tmp_path / "disk") as disk:
        folder = disk / "home"
        monkeypatch.setenv("MODELPHASE_HOME", str(folder))
        get_settings.cache_clear()
        yield folder
    get_settings.cache_clear()


def leftovers(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob(".tmp-*"))


def test_a_full_disk_is_one_line_for_ingest_register_and_list(
    cli: RunCli, full_home: Path, tmp_path: Path
) -> None:
    data = tmp_path / "t.csv"
    data.write_text("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2\n")
    assert register(cli, tmp_path, b"one").code == 0
    filler = fill(full_home.parent)
    one_line(
        cli("ingest", "csv", str(data)),
        f"{full_home / 'datasets'}: no space left on the device (ENOSPC)",
        "nothing partial was kept",
    )
    one_line(register(cli, tmp_path, b"two"), "registry database", "full or failing disk")
    one_line(cli("models", "list"), "cannot be read or written: disk I/O error")
    assert leftovers(full_home) == []
    assert list((full_home / "datasets").iterdir()) == []
    filler.unlink()
    listed = cli("models", "list", "--json")
    assert listed.code == 0, listed.stderr
    assert '"latest_version": 1' in listed.stdout


def test_an_artifact_that_does_not_fit_is_one_line_and_registers_nothing(
    cli: RunCli, full_home: Path, tmp_path: Path
) -> None:
    assert register(cli, tmp_path, b"one").code == 0
    fill(full_home.parent, leave=256 * 1024)  # room for the database, not the artifact
    big = bytes(range(256)) * 8192  # 2 MiB
    one_line(
        register(cli, tmp_path, big),
        f"{full_home / 'artifacts'}: no space left on the device (ENOSPC)",
    )
    assert leftovers(full_home) == []
    with Registry() as reg:
        assert [v.version for v in reg.versions("m")] == [1]
