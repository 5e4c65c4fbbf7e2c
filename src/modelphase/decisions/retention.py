"""Retention of the decision log: segments past an age, or beyond a size, are removed.

The log keeps every sampled request, so without limits it grows until the disk is
full. Two limits, each enforced oldest segment first:

- ``max_age`` (default :data:`MAX_AGE`, 30 days): a day folder's segments go once the
  whole UTC day is older than ``max_age``, so the log keeps at least ``max_age`` of
  history and at most one day more. Temporary files a crash left in such a day go too,
  and so does the emptied folder.
- ``max_bytes`` (default :data:`MAX_BYTES`, 10 GiB of segment files): while the
  segments that remain add up to more, the oldest one goes. ``None`` turns a limit off.

:class:`~modelphase.decisions.DecisionLog` runs :func:`prune` from its writer thread
(when it starts, then every ``prune_seconds``); an operator may run it on any log, even
one a server is writing. A removal is a plain unlink: a reader that has a segment open
keeps reading it, and a reader that listed a segment which is then removed skips it
(:mod:`modelphase.decisions.query`). Nothing but segments and the write's temporary
files in ``date=YYYY-MM-DD`` folders is ever removed.

>>> import tempfile
>>> from datetime import UTC, datetime
>>> prune(tempfile.mkdtemp(), now=datetime(2024, 5, 1, tzinfo=UTC))
PruneResult(segments=0, bytes=0, kept_segments=0, kept_bytes=0, failed=0)
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from modelphase.decisions._layout import Segment, day_folders, list_segments, temp_files
from modelphase.exceptions import ConfigError

__all__ = ["MAX_AGE", "MAX_BYTES", "PruneResult", "check_limits", "prune"]

log = logging.getLogger(__name__)

#: how long the decision log keeps a request by default
MAX_AGE = timedelta(days=30)
#: how many bytes of segments the decision log keeps by default (10 GiB)
MAX_BYTES = 10 * 2**30


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one :func:`prune` removed and what it kept.

    ``bytes`` counts the removed segments and temporary files; ``failed`` the files it
    could not remove (logged, and counted in ``kept_*`` when they are segments).
    """

    segments: int
    bytes: int
    kept_segments: int
    kept_bytes: int
    failed: int


def check_limits(max_age: timedelta | None, max_bytes: int | None) -> None:
    """Raise :class:`~modelphase.exceptions.ConfigError` unless the limits can be used."""
    if max_age is not None and (not isinstance(max_age, timedelta) or max_age <= timedelta(0)):
        raise ConfigError(
            f"decision log max_age: expected a positive timedelta (or None for no age "
            f"limit), got {max_age!r}"
        )
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0
    ):
        raise ConfigError(
            f"decision log max_bytes: expected a number of bytes >= 0 (or None for no size "
            f"limit), got {max_bytes!r}"
        )


def prune(
    root: str | Path,
    *,
    max_age: timedelta | None = MAX_AGE,
    max_bytes: int | None = MAX_BYTES,
    now: datetime,
) -> PruneResult:
    """Remove the segments under ``root`` that are older than ``max_age`` at ``now``, then
    the oldest ones while the rest add up to more than ``max_bytes``."""
    check_limits(max_age, max_bytes)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ConfigError(
            f"prune now: expected a time-zone aware time, got {now.isoformat()}. "
            "Fix: pass datetime.now(UTC)"
        )
    root = Path(root)
    kept = list_segments(root)
    doomed: list[Segment] = []
    expired: list[Path] = []
    if max_age is not None:
        cutoff = now.astimezone(UTC) - max_age
        expired = [folder for day, folder in day_folders(root) if _end(day) <= cutoff]
        doomed = [s for s in kept if _end(s.day) <= cutoff]
        kept = [s for s in kept if _end(s.day) > cutoff]
    if max_bytes is not None:
        total, over = sum(s.size for s in kept), 0
        while total > max_bytes and over < len(kept):
            total -= kept[over].size
            over += 1
        doomed, kept = doomed + kept[:over], kept[over:]

    removed = removed_bytes = failed = 0
    for segment in doomed:
        if _remove(segment.path):
            removed += 1
            removed_bytes += segment.size
        elif segment.path.exists():
            failed += 1
            kept.append(segment)
    for folder in expired:
        for path, size in temp_files(folder):
            if _remove(path):
                removed_bytes += size
            elif path.exists():
                failed += 1
        with contextlib.suppress(OSError):  # removed only when empty: not ours, kept
            folder.rmdir()
    return PruneResult(removed, removed_bytes, len(kept), sum(s.size for s in kept), failed)


def _end(day: date) -> datetime:
    """When a UTC day ends: every request of its folder is older than that."""
    return datetime.combine(day + timedelta(days=1), time(), UTC)


def _remove(path: Path) -> bool:
    """Unlink ``path``; False when it was gone already or cannot be removed (logged)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("decision log retention: cannot remove %s (%s)", path, exc.strerror or exc)
        return False
    return True
