"""A real, small file system that tests can fill up: a tmpfs mounted for one test.

Mounting needs root (``mount -t tmpfs``); where it is refused the test is skipped and
the same error paths are covered by tests that inject the ``OSError`` instead.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(mount_point: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of ``size`` at ``mount_point`` (created), unmounted afterwards."""
    mount_point.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or 'not root'}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(disk: Path, *, leave: int = 0) -> Path:
    """Write a filler file until the disk is full (or only about ``leave`` bytes are
    left); return it."""
    filler = disk / "filler"
    chunk = b"\0" * 4096
    with filler.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    if leave:
        size = filler.stat().st_size
        with filler.open("r+b") as fh:
            fh.truncate(max(0, size - leave))
    return filler
