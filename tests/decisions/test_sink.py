"""The decision log's writer: what it writes, what it drops, and what survives failures.

Failures are real: a file where a day's folder should be (the disk refusing the write,
which works even as root), a file-size limit that stops a segment mid-write, and a
writer held on its lock (a disk that hangs).
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import re
import subprocess
import sys
import threading
import time
import weakref
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelphase.decisions import (
    SCHEMA,
    DecisionLog,
    DecisionRecord,
    cap_inputs,
    query,
    read_decisions,
)
from modelphase.exceptions import ConfigError
from support.decisions import NOON_US, MakeRecord, make_record

SEGMENT = re.compile(r"^date=\d{4}-\d{2}-\d{2}/\d+-\d+-\d+\.parquet$")


def at_noon() -> float:
    """The clock of logs whose writer thread runs: the records' own day, so that
    retention never takes them whatever the machine's date or speed."""
    return NOON_US / 1e6


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
        stored = cap_inputs(r).to_row()  # what offer keeps: the inputs' size added
        assert row == {k: v for k, v in stored.items() if k != "time_us"}
        assert row["inputs_bytes"] == len(r.inputs.encode("utf-8"))
        assert row["inputs_truncated"] is False


def test_a_batch_is_split_by_utc_day(root: Path, record: MakeRecord) -> None:
    before_midnight = NOON_US + 12 * 3600 * 1_000_000 - 1
    with DecisionLog(root, clock=at_noon) as log:
        log.offer(record(0, time_us=before_midnight))
        log.offer(record(1, time_us=before_midnight + 1))
    assert [Path(f).parent.name for f in files_under(root)] == [
        "date=2024-05-01",
        "date=2024-05-02",
    ]
    assert log.segments == 2


def test_sampling_is_the_logs_own_draw(tmp_path: Path) -> None:
    scripted = iter([0.49, 0.5, 0.51, 0.0, 0.99])
    log = DecisionLog(tmp_path, sample=0.5, rng=lambda: next(scripted))
    assert [log.sampled() for _ in range(5)] == [True, False, False, True, False]
    tenth = DecisionLog(tmp_path, sample=0.1, rng=random.Random(3).random)
    chosen = [tenth.sampled() for _ in range(20_000)]
    assert 0.09 < sum(chosen) / len(chosen) < 0.11
    again = DecisionLog(tmp_path, sample=0.1, rng=random.Random(3).random)
    assert [again.sampled() for _ in range(20_000)] == chosen  # a seed repeats it
    assert all(DecisionLog(tmp_path, sample=1.0).sampled() for _ in range(1000))
    assert not any(DecisionLog(tmp_path, sample=0.0).sampled() for _ in range(1000))


def test_a_caller_cannot_choose_to_be_left_out(tmp_path: Path) -> None:
    # ids a caller could pick to be skipped when the log hashed the x-request-id
    def hashed_out(request_id: str) -> bool:
        digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") >= 2**63

    chosen_ids = [i for i in (f"req-{n}" for n in range(1000)) if hashed_out(i)][:50]
    assert len(chosen_ids) == 50
    log = DecisionLog(tmp_path, sample=0.5, rng=random.Random(11).random)
    logged = [log.sampled() for _ in chosen_ids]  # whatever the ids: the log draws
    assert 15 <= sum(logged) <= 35
    with pytest.raises(TypeError, match="weak references"):
        log.sampled(chosen_ids[0])  # a request id cannot stand for the request


def test_a_shadow_is_logged_exactly_when_its_primary_was(tmp_path: Path) -> None:
    from modelphase.serve.calls import Answer  # the object the server passes as the pair

    log = DecisionLog(tmp_path, sample=0.5, rng=random.Random(5).random)
    answers = [Answer("model", None, {}, 0.01, NOON_US) for _ in range(200)]
    primary = [log.sampled(a) for a in answers]
    shadow = [log.sampled(a) for a in reversed(answers)][::-1]
    assert shadow == primary
    assert 50 < sum(primary) < 150
    first = weakref.ref(answers[0])
    del answers
    gc.collect()
    assert first() is None  # the log holds no answer alive
    assert log._sampler.remembered() == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("sample", 1.5),
        ("sample", -0.1),
        ("max_queue", 0),
        ("batch_size", 0),
        ("flush_seconds", 0),
        ("prune_seconds", 0),
        ("max_input_bytes", -1),
        ("max_age", timedelta(0)),
        ("max_age", 30),
        ("max_bytes", -1),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, option: str, value: float) -> None:
    with pytest.raises(ConfigError, match=option):
        DecisionLog(tmp_path, **{option: value})  # type: ignore[arg-type]


def test_a_full_queue_drops_and_counts_without_blocking(root: Path, record: MakeRecord) -> None:
    log = DecisionLog(root, max_queue=50, batch_size=10, flush_seconds=0.01, clock=at_noon).start()
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
    log = DecisionLog(
        root, max_queue=n_threads * per_thread, batch_size=700, flush_seconds=0.02, clock=at_noon
    )
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
    log = DecisionLog(root, flush_seconds=0.01, clock=at_noon).start()
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

log = DecisionLog(root, max_input_bytes=2_000_000)  # big inputs kept whole: big segments
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
    log = DecisionLog(root, flush_seconds=0.02, clock=at_noon).start()
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


def test_large_inputs_are_kept_as_their_size_and_sha256(root: Path, record: MakeRecord) -> None:
    values = [round(random.Random(0).random(), 6) for _ in range(100_000)]
    big = json.dumps({"unique_id": "load", "values": values})  # ~0.85 MB, as in the report
    assert len(big) > 800_000
    log = DecisionLog(root)
    log.offer(record(0, inputs=big))
    log.offer(record(1, inputs='{"values": ["é"]}'))
    assert log.close()
    assert (log.written, log.truncated) == (2, 1)
    assert sum(f.stat().st_size for f in root.rglob("*.parquet")) < 64 * 1024  # not 0.85 MB

    rows = {r["request_id"]: r for r in read_decisions(root).to_dict("records")}
    kept = rows["req-000000"]
    assert kept["inputs_truncated"] is True
    assert kept["inputs_bytes"] == len(big)
    assert kept["inputs_sha256"] == hashlib.sha256(big.encode()).hexdigest()
    assert json.loads(kept["inputs"]) == {
        "truncated": True,
        "bytes": len(big),
        "sha256": kept["inputs_sha256"],
    }
    small = rows["req-000001"]
    assert small["inputs"] == '{"values": ["é"]}'
    assert (small["inputs_truncated"], small["inputs_bytes"]) == (False, 18)  # bytes: 17 characters
    assert small["inputs_sha256"] is None
    found = query(root, "SELECT request_id FROM decisions WHERE inputs_truncated")
    assert found["request_id"].tolist() == ["req-000000"]


def test_the_input_cap_is_a_setting(root: Path, record: MakeRecord) -> None:
    log = DecisionLog(root, max_input_bytes=0)  # keep no inputs at all, only their hash
    log.offer(record(0))
    assert log.close()
    assert read_decisions(root)["inputs_truncated"].tolist() == [True]
    assert cap_inputs(cap_inputs(record(0), 0), 0) == cap_inputs(record(0), 0)  # idempotent


def test_segments_from_before_the_input_columns_are_read_with_nulls(
    root: Path, record: MakeRecord
) -> None:
    with DecisionLog(root, clock=at_noon) as log:
        log.offer(record(0))
    old = pa.Table.from_pylist(
        [{k: v for k, v in record(1).to_row().items() if not k.startswith("inputs_")}],
        schema=pa.schema([f for f in SCHEMA if not f.name.startswith("inputs_")]),
    )
    pq.write_table(old, root / "date=2024-05-01" / "1-1-1.parquet")
    frame = read_decisions(root).set_index("request_id")
    assert frame.loc["req-000001", "inputs_truncated"] is pd.NA or pd.isna(
        frame.loc["req-000001", "inputs_truncated"]
    )
    assert frame.loc["req-000000", "inputs_bytes"] == len(record(0).inputs)
