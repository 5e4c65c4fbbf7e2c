"""The decision log's writer: what it writes, what it drops, and what survives failures.

Failures are real: a file where a day's folder should be (the disk refusing the write,
which works even as root), a file-size limit that stops a segment mid-write, and a
writer held on its lock (a disk that hangs).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from modelphase.decisions import SCHEMA, DecisionLog, DecisionRecord, read_decisions
from modelphase.exceptions import ConfigError
from support.decisions import NOON_US, MakeRecord, make_record

SEGMENT = re.compile(r"^date=\d{4}-\d{2}-\d{2}/\d+-\d+-\d+\.parquet$")


def files_under(root: Path) -> list[str]:
    """Every file under ``root``, hidden ones included, as relative paths."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_round_trip_keeps_every_field(root: Path, record: MakeRecord) -> None:
    sent = [
        record(0),
        record(1, version=None, alias="canary", answered_by="fallback", fallback_reason="timeout"),
        record(2, interval=None, principal=None, decision='{"scale_to": 7}', inputs='{"é": "✓"}'),
    ]
    log = DecisionLog(root)
    assert all(log.offer(r) for r in sent)
    assert log.close()
    assert (log.written, log.segments, log.dropped, log.errors) == (3, 1, 0, 0)

    [name] = files_under(root)
    assert SEGMENT.match(name), name
    assert name.startswith(f"date=2024-05-01/{NOON_US}-")
    segment = pq.ParquetFile(root / name)
    assert segment.schema_arrow.equals(SCHEMA)
    assert segment.metadata.row_group(0).column(0).compression == "ZSTD"

    frame = read_decisions(root)
    frame = frame.astype(object).where(frame.notna(), None)
    back = {row["request_id"]: row for row in frame.to_dict("records")}
    for r in sent:
        row = back[r.request_id]
        assert row.pop("time_us").value // 1000 == r.time_us
        assert row == {k: v for k, v in r.to_row().items() if k != "time_us"}


def test_a_batch_is_split_by_utc_day(root: Path, record: MakeRecord) -> None:
    before_midnight = NOON_US + 12 * 3600 * 1_000_000 - 1
    with DecisionLog(root) as log:
        log.offer(record(0, time_us=before_midnight))
        log.offer(record(1, time_us=before_midnight + 1))
    assert [Path(f).parent.name for f in files_under(root)] == [
        "date=2024-05-01",
        "date=2024-05-02",
    ]
    assert log.segments == 2


def test_sampling_is_deterministic_and_near_the_rate(tmp_path: Path) -> None:
    ids = [f"req-{i}" for i in range(20_000)]
    tenth = DecisionLog(tmp_path, sample=0.1)
    chosen = [tenth.sampled(i) for i in ids]
    assert 0.09 < sum(chosen) / len(ids) < 0.11
    assert chosen == [DecisionLog(tmp_path / "other", sample=0.1).sampled(i) for i in ids]
    assert all(DecisionLog(tmp_path, sample=1.0).sampled(i) for i in ids[:1000])
    assert not any(DecisionLog(tmp_path, sample=0.0).sampled(i) for i in ids[:1000])
    # another process (another replica, another hash seed) decides the same
    script = (
        "import sys; from modelphase.decisions import DecisionLog\n"
        "log = DecisionLog('.', sample=0.1)\n"
        "print(''.join('1' if log.sampled(f'req-{i}') else '0' for i in range(2000)))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    )
    assert other.stdout.strip() == "".join("1" if c else "0" for c in chosen[:2000])


@pytest.mark.parametrize(
    ("option", "value"),
    [("sample", 1.5), ("sample", -0.1), ("max_queue", 0), ("batch_size", 0), ("flush_seconds", 0)],
)
def test_bad_settings_are_refused(tmp_path: Path, option: str, value: float) -> None:
    with pytest.raises(ConfigError, match=option):
        DecisionLog(tmp_path, **{option: value})  # type: ignore[arg-type]


def test_a_full_queue_drops_and_counts_without_blocking(root: Path, record: MakeRecord) -> None:
    log = DecisionLog(root, max_queue=50, batch_size=10, flush_seconds=0.01).start()
    with log._write_lock:  # the writer is stuck in a write that does not return
        results = [log.offer(record(i)) for i in range(500)]
        assert results.count(True) <= 60  # what the writer took before it stalled + 50
        assert log.dropped == results.count(False) >= 440
        assert log.queue_depth() <= 50
    assert log.close()
    assert log.written == results.count(True)
    assert len(read_decisions(root)) == log.written
    assert not log.offer(record(999))  # closed: refused and counted
    assert log.dropped == 501 - log.written


def test_close_loses_nothing_offered_from_many_threads(root: Path) -> None:
    n_threads, per_thread = 8, 2_500
    log = DecisionLog(root, max_queue=n_threads * per_thread, batch_size=700, flush_seconds=0.02)
    log.start().start()  # idempotent
    barrier = threading.Barrier(n_threads)

    def produce(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            assert log.offer(make_record(t * per_thread + i))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.close(timeout=30)
    total = n_threads * per_thread
    assert (log.written, log.dropped, log.errors, log.queue_depth()) == (total, 0, 0, 0)
    frame = read_decisions(root)
    assert len(frame) == total
    assert frame["request_id"].is_unique
    assert log.segments == len(files_under(root)) >= total // 700


def test_a_refused_write_is_kept_and_retried(root: Path, record: MakeRecord) -> None:
    root.mkdir()
    blocker = root / "date=2024-05-01"
    blocker.write_text("not a folder")  # every write into that day fails
    log = DecisionLog(root)
    for i in range(5):
        log.offer(record(i))
    log.flush()
    assert (log.written, log.errors, log.queue_depth(), log.dropped) == (0, 1, 5, 0)
    blocker.unlink()
    log.flush()
    assert (log.written, log.segments, log.queue_depth()) == (5, 1, 0)
    assert log.close()
    assert sorted(read_decisions(root)["request_id"]) == [f"req-{i:06d}" for i in range(5)]


def test_records_kept_for_retry_are_bounded(root: Path, record: MakeRecord) -> None:
    root.mkdir()
    blocker = root / "date=2024-05-01"
    blocker.write_text("not a folder")
    log = DecisionLog(root, max_queue=10)
    for i in range(10):
        log.offer(record(i))
    log.flush()
    for i in range(10, 20):
        log.offer(record(i))
    log.flush()
    assert (log.errors, log.dropped, log.queue_depth()) == (2, 10, 10)
    blocker.unlink()
    assert log.close()
    kept = sorted(read_decisions(root)["request_id"])
    assert kept == [f"req-{i:06d}" for i in range(10, 20)]  # the newest survive


def test_close_gives_up_after_its_timeout(root: Path, record: MakeRecord) -> None:
    root.mkdir()
    (root / "date=2024-05-01").write_text("not a folder")
    log = DecisionLog(root, flush_seconds=0.01).start()
    for i in range(3):
        log.offer(record(i))
    assert not log.close(timeout=0.2)
    assert (log.written, log.dropped, log.queue_depth()) == (0, 3, 0)
    assert log.errors >= 1


def test_a_bad_record_is_dropped_alone(root: Path, record: MakeRecord) -> None:
    log = DecisionLog(root)
    log.offer(record(0))
    log.offer(record(1, latency_ms="slow"))
    log.offer(record(2, model=None))
    log.offer(record(3, time_us="yesterday"))
    log.offer(record(4))
    assert log.close()
    assert (log.written, log.dropped, log.errors) == (2, 3, 1)
    assert sorted(read_decisions(root)["request_id"]) == ["req-000000", "req-000004"]


CRASH = """
import json, os, resource, signal, sys
from modelphase.decisions import DecisionLog, DecisionRecord

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
root = sys.argv[1]

def record(i, inputs):
    return DecisionRecord(f"req-{i}", 1_714_564_800_000_000 + i, "score", "m", 1,
        "production", "model", None, inputs, "0.5", None, None, 1.0, None)

def listing():
    return sorted(os.path.relpath(os.path.join(d, f), root)
        for d, _, files in os.walk(root) for f in files)

log = DecisionLog(root)
log.offer(record(0, "{}"))
log.flush()
_, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, hard))
big = json.dumps(os.urandom(400_000).hex())  # a segment far above the limit
for i in range(1, 4):
    log.offer(record(i, big))
log.flush()
failed = {"written": log.written, "errors": log.errors, "depth": log.queue_depth(),
          "files": listing()}
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
log.flush()
print(json.dumps({"failed": failed, "written": log.written, "files": listing()}))
"""


def test_a_write_that_fails_midway_leaves_no_partial_segment(root: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", CRASH, str(root)], capture_output=True, text=True, check=True
    )
    report = json.loads(run.stdout)
    failed = report["failed"]
    assert (failed["written"], failed["errors"], failed["depth"]) == (1, 1, 3)
    assert len(failed["files"]) == 1  # the first segment, and no temporary file left
    assert SEGMENT.match(failed["files"][0])
    assert report["written"] == 4  # the batch was kept, and written once the disk allowed
    assert len(report["files"]) == 2
    assert all(SEGMENT.match(f) for f in report["files"])
    assert len(read_decisions(root)) == 4


def test_the_writer_thread_flushes_on_its_own(root: Path, record: MakeRecord) -> None:
    log = DecisionLog(root, flush_seconds=0.02).start()
    log.offer(record(0))
    deadline = time.monotonic() + 5
    while log.written == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log.written == 1
    assert log.close()


def test_record_fields_are_the_schema() -> None:
    assert DecisionRecord.__slots__ == tuple(SCHEMA.names)
    with pytest.raises(AttributeError):
        make_record(0).model = "other"  # type: ignore[misc]
