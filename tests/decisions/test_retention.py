"""Retention: the decision log stops growing at an age and a size, oldest segments first.

Times are injected (``now``, the log's ``clock``), so nothing here depends on the date
the tests run or on how fast the machine is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelphase.decisions import DecisionLog, PruneResult, prune, read_decisions
from modelphase.exceptions import ConfigError
from support.decisions import NOON_US, MakeRecord

DAY_US = 86_400 * 1_000_000
NOON = datetime.fromtimestamp(NOON_US / 1e6, UTC)  # 2024-05-01T12:00:00Z


def at(when: datetime) -> Callable[[], float]:
    return lambda: when.timestamp()


def write_days(root: Path, record: MakeRecord, days: int, per_day: int = 2) -> None:
    """``per_day`` segments (one record each) on each of ``days`` days from 2024-05-01."""
    log = DecisionLog(root, max_age=None, max_bytes=None)
    for d in range(days):
        for k in range(per_day):
            log.offer(record(d * 10 + k, time_us=NOON_US + d * DAY_US + k * 1_000_000))
            log.flush()
    assert log.close()


def segments(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))


def test_prune_by_age_removes_whole_days_older_than_the_limit(
    root: Path, record: MakeRecord
) -> None:
    write_days(root, record, days=6)
    old_bytes = sum((root / s).stat().st_size for s in segments(root)[:6])
    now = NOON + timedelta(days=5)  # 2024-05-06T12:00Z: the cutoff is 2024-05-04T12:00Z
    result = prune(root, max_age=timedelta(days=2), max_bytes=None, now=now)
    # days that ended before the cutoff go (05-01 .. 05-03); 05-04 ends after it: kept
    assert sorted(p.name for p in root.iterdir()) == [
        "date=2024-05-04",
        "date=2024-05-05",
        "date=2024-05-06",
    ]
    assert (result.segments, result.kept_segments, result.failed) == (6, 6, 0)
    assert result.bytes == old_bytes
    assert sorted(read_decisions(root)["time_us"].dt.day.unique()) == [4, 5, 6]
    # nothing newer than max_age is ever removed, and a second prune finds nothing
    assert prune(root, max_age=timedelta(days=2), max_bytes=None, now=now).segments == 0


def test_prune_by_size_removes_the_oldest_segments_first(root: Path, record: MakeRecord) -> None:
    write_days(root, record, days=3, per_day=3)
    names = segments(root)  # the names sort oldest first: day, then earliest request
    sizes = [(root / n).stat().st_size for n in names]
    quota = sum(sizes[-4:])  # room for the four newest
    result = prune(root, max_age=None, max_bytes=quota, now=NOON)
    assert segments(root) == names[-4:]
    assert result == PruneResult(5, sum(sizes[:5]), 4, quota, 0)
    assert result.kept_bytes <= quota
    assert prune(root, max_age=None, max_bytes=0, now=NOON).kept_segments == 0


def test_prune_removes_nothing_that_is_not_a_segment(root: Path, record: MakeRecord) -> None:
    write_days(root, record, days=2, per_day=1)
    old, new = root / "date=2024-05-01", root / "date=2024-05-02"
    (root / "notes.txt").write_text("an operator's notes")
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "x.parquet").write_bytes(b"PAR1 not in a day folder")
    (old / "README").write_text("not ours: the folder is kept for it")
    (old / ".0-1-2.parquet.0123abcd.tmp").write_bytes(b"left by a crash")
    (new / ".0-1-3.parquet.4567cdef.tmp").write_bytes(b"a write in progress")
    result = prune(root, max_age=timedelta(hours=1), max_bytes=None, now=NOON + timedelta(days=1))
    assert result.segments == 1
    assert sorted(p.name for p in old.iterdir()) == ["README"]  # the crash's file went
    assert (new / ".0-1-3.parquet.4567cdef.tmp").exists()  # today's write is left alone
    assert (root / "notes.txt").exists()
    assert (root / "elsewhere" / "x.parquet").exists()
    (old / "README").unlink()
    prune(root, max_age=timedelta(hours=1), max_bytes=None, now=NOON + timedelta(days=1))
    assert not old.exists()  # an empty expired day folder goes


def test_prune_of_a_log_that_does_not_exist_is_empty(tmp_path: Path) -> None:
    assert prune(tmp_path / "nothing", now=NOON) == PruneResult(0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_age": timedelta(seconds=-1)}, "max_age: expected a positive timedelta"),
        ({"max_age": 86_400}, "max_age: expected a positive timedelta"),
        ({"max_bytes": -1}, "max_bytes: expected a number of bytes >= 0"),
        ({"now": datetime(2024, 5, 1)}, "expected a time-zone aware time"),
    ],
)
def test_bad_limits_are_refused(tmp_path: Path, options: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"now": NOON, **options}
    with pytest.raises(ConfigError, match=message):
        prune(tmp_path, **arguments)  # type: ignore[arg-type]


def test_the_sink_prunes_and_counts_what_it_pruned(root: Path, record: MakeRecord) -> None:
    write_days(root, record, days=3, per_day=2)
    total = sum(p.stat().st_size for p in root.rglob("*.parquet"))
    log = DecisionLog(root, max_age=timedelta(days=1), clock=at(NOON + timedelta(days=3)))
    result = log.prune()
    assert result.segments == 4  # the first two days
    assert (log.pruned_segments, log.pruned_bytes) == (4, result.bytes)
    assert (log.stored_segments, log.stored_bytes) == (2, total - result.bytes)
    assert log.prune_errors == 0
    assert log.close()


def test_the_writer_thread_enforces_the_quota_on_its_own(
    root: Path, record: MakeRecord, wait_until: Callable[..., None]
) -> None:
    log = DecisionLog(
        root, max_bytes=0, max_age=None, flush_seconds=0.01, prune_seconds=0.01, clock=at(NOON)
    ).start()
    log.offer(record(0))
    wait_until(lambda: log.pruned_segments >= 1, what="the writer thread to prune")
    assert log.close()
    assert (log.written, log.pruned_segments, segments(root)) == (1, 1, [])


def test_retention_counts_what_it_cannot_remove(
    root: Path, record: MakeRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_days(root, record, days=1, per_day=2)
    [stuck, _] = segments(root)
    unlink = os.unlink

    def refuse(path: str | Path) -> None:  # the disk refuses one removal (modes bind no root)
        if str(path).endswith(stuck.split("/")[1]):
            raise PermissionError(13, "Permission denied", str(path))
        unlink(path)

    monkeypatch.setattr(os, "unlink", refuse)
    log = DecisionLog(root, max_bytes=0, clock=at(NOON))
    result = log.prune()
    assert (result.segments, result.failed, result.kept_segments) == (1, 1, 1)
    assert (log.pruned_segments, log.prune_errors, log.stored_segments) == (1, 1, 1)
    assert segments(root) == [stuck]
