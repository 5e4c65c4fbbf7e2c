"""Where the decision log's segments live, shared by the sink, retention and the reader.

::

    root/date=YYYY-MM-DD/<time_us>-<pid>-<seq>.parquet

one folder per UTC day of the requests; ``<time_us>`` is the segment's earliest request.
Hidden files (a write in progress: ``.<name>.<hex>.tmp``) and anything that is not a
regular file in a day folder are not segments. Every listing tolerates entries that
vanish while it runs: retention may remove segments under a reader's feet.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

__all__ = ["Segment", "day_folders", "day_name", "list_segments", "temp_files"]

_US_PER_DAY = 86_400 * 1_000_000
_DAY = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_NAME = re.compile(r"^(\d+)-\d+-\d+\.parquet$")


@dataclass(frozen=True, slots=True)
class Segment:
    """One Parquet segment: its path, UTC day, earliest request and size in bytes."""

    path: Path
    day: date
    first_us: int  # -1 when the name does not say (a file written by something else)
    size: int

    def key(self) -> tuple[date, int, str]:
        """Oldest first: by day, then earliest request, then name."""
        return (self.day, self.first_us, self.path.name)


def day_name(time_us: int) -> str:
    """The folder name of the UTC day of ``time_us`` (epoch microseconds)."""
    stamp = datetime.fromtimestamp(int(time_us) // _US_PER_DAY * 86_400, UTC)
    return stamp.strftime("date=%Y-%m-%d")


def day_folders(root: Path) -> Iterator[tuple[date, Path]]:
    """The day folders under ``root`` (none when it does not exist), in no order."""
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        match = _DAY.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:  # date=2024-13-45: not ours
            continue
        yield day, Path(entry.path)


def list_segments(
    root: str | Path, *, first: date | None = None, last: date | None = None
) -> list[Segment]:
    """Every segment under ``root`` whose day is in ``[first, last]``, oldest first."""
    out: list[Segment] = []
    for day, folder in day_folders(Path(root)):
        if (first is not None and day < first) or (last is not None and day > last):
            continue
        out.extend(_segments_in(folder, day))
    out.sort(key=Segment.key)
    return out


def temp_files(folder: Path) -> list[tuple[Path, int]]:
    """Temporary files of writes in ``folder`` (in progress, or left by a crash)."""
    found = []
    for entry in _entries(folder):
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            try:
                if entry.is_file(follow_symlinks=False):
                    found.append((Path(entry.path), entry.stat(follow_symlinks=False).st_size))
            except FileNotFoundError:
                continue
    return found


def _segments_in(folder: Path, day: date) -> Iterator[Segment]:
    for entry in _entries(folder):
        name = entry.name
        if name.startswith(".") or not name.endswith(".parquet"):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            size = entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:  # removed while we looked
            continue
        match = _NAME.match(name)
        yield Segment(Path(entry.path), day, int(match.group(1)) if match else -1, size)


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
