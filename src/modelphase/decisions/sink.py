"""The batched Parquet sink of the decision log, written off the request path.

The server calls :meth:`DecisionLog.offer` on the request path, so ``offer`` only
appends to a bounded in-memory queue: it never waits for the disk and never raises;
when the queue is full it drops the record and counts it (``dropped``), because a slow
disk must not become slow predictions. A background thread writes the queue in batches
as zstd Parquet segments::

    root/date=YYYY-MM-DD/<time_us>-<pid>-<seq>.parquet

one folder per UTC day of the requests (DuckDB reads ``date`` as a hive partition and
skips days outside a query's range). Each segment is written to a temporary name in
its folder, synced and renamed (:func:`modelphase.files.atomic_path`), so a crash in
the middle of a write leaves no partial segment where readers look. ``<time_us>`` is
the earliest request of the segment, and ``<pid>-<seq>`` keeps names unique between
the processes of a host.

A batch that cannot be written (disk full, permissions) is counted in ``errors``,
logged (the error and the folder, never a record's content) and kept for the next
try; what is kept is bounded by ``max_queue`` (the oldest is dropped and counted
beyond it), so memory stays bounded at twice ``max_queue`` records while the disk is
down. A record whose values cannot be converted is dropped alone, not its batch.

:meth:`DecisionLog.close` is what SIGTERM handling calls: it refuses new records, then
writes everything accepted before returning.

Limits, all keyword arguments of :class:`DecisionLog` (``None`` turns one off):

- ``sample`` (default 1.0): the share of requests logged, drawn by the log itself from
  ``rng`` (default: a generator seeded from the OS), never from anything the caller
  sends, so a caller cannot choose to be left out of the log (:meth:`~DecisionLog.sampled`).
- ``max_input_bytes`` (default 64 KiB): a request's inputs are kept whole up to this many
  bytes of JSON, beyond it as their size and sha256 only
  (:func:`~modelphase.decisions.records.cap_inputs`); capped in
  :meth:`~DecisionLog.offer`, so the queue's memory is bounded too. Counted in
  ``truncated``.
- ``max_age`` (default 30 days) and ``max_bytes`` (default 10 GiB): retention
  (:mod:`modelphase.decisions.retention`), run by the writer thread when it starts and
  then every ``prune_seconds`` (default 60), against ``clock`` (default ``time.time``).
  Counted in ``pruned_segments`` and ``pruned_bytes``; ``stored_segments`` and
  ``stored_bytes`` are what the last prune kept, ``prune_errors`` what it could not
  remove.

>>> import tempfile
>>> from modelphase.decisions.records import DecisionRecord
>>> folder = tempfile.mkdtemp()
>>> with DecisionLog(folder, flush_seconds=0.1) as log:
...     log.offer(DecisionRecord("r-1", 1_714_564_800_000_000, "score", "m", 1, "production",
...         "model", None, "{}", "0.5", None, None, 1.5, None))
True
>>> log.written, log.segments, log.dropped
(1, 1, 0)
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

import pyarrow as pa
import pyarrow.parquet as pq

from modelphase.decisions._layout import day_name
from modelphase.decisions._sampling import Sampler
from modelphase.decisions.records import (
    MAX_LOGGED_INPUT_BYTES,
    DecisionRecord,
    cap_inputs,
    to_table,
)
from modelphase.decisions.retention import MAX_AGE, MAX_BYTES, PruneResult, check_limits, prune
from modelphase.exceptions import ConfigError
from modelphase.files import atomic_path, fsync_dir

__all__ = ["DecisionLog"]

log = logging.getLogger(__name__)

#: segment sequence numbers, shared by every log of this process so names never repeat
_SEQ = itertools.count()
#: how long a closing log waits between tries while the disk refuses its writes
_RETRY_PAUSE = 0.05


class DecisionLog:
    """A bounded queue of :class:`DecisionRecord` and the thread that writes it.

    ``sample`` is the share of requests logged (see :meth:`sampled`), drawn from
    ``rng``; ``max_queue`` bounds the records waiting in memory; a batch is written
    when ``batch_size`` records wait or ``flush_seconds`` have passed. Inputs above
    ``max_input_bytes`` are kept as their size and sha256; segments older than
    ``max_age`` or beyond ``max_bytes`` are pruned every ``prune_seconds`` by the
    clock ``clock`` (epoch seconds). Counters (``written``, ``dropped``, ``segments``,
    ``errors``, ``truncated``, ``pruned_segments``, ``pruned_bytes``, ``prune_errors``)
    only grow and may be read from any thread; ``stored_segments`` and
    ``stored_bytes`` are what the last prune kept (0 before the first).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        sample: float = 1.0,
        max_queue: int = 10_000,
        batch_size: int = 2_000,
        flush_seconds: float = 1.0,
        max_input_bytes: int = MAX_LOGGED_INPUT_BYTES,
        max_age: timedelta | None = MAX_AGE,
        max_bytes: int | None = MAX_BYTES,
        prune_seconds: float = 60.0,
        rng: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            raise ConfigError(f"decision log sample: expected a share in [0, 1], got {sample}")
        for name, value in (("max_queue", max_queue), ("batch_size", batch_size)):
            if value < 1:
                raise ConfigError(f"decision log {name}: expected at least 1, got {value}")
        for name, seconds in (("flush_seconds", flush_seconds), ("prune_seconds", prune_seconds)):
            if not seconds > 0:
                raise ConfigError(f"decision log {name}: expected a positive number, got {seconds}")
        if (
            isinstance(max_input_bytes, bool)
            or not isinstance(max_input_bytes, int)
            or (max_input_bytes < 0)
        ):
            raise ConfigError(
                f"decision log max_input_bytes: expected a number of bytes >= 0, "
                f"got {max_input_bytes!r}"
            )
        check_limits(max_age, max_bytes)
        self.root = Path(root)
        self.sample = sample
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.max_input_bytes = max_input_bytes
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.prune_seconds = prune_seconds
        self.clock = clock
        self.written = 0
        self.dropped = 0
        self.segments = 0
        self.errors = 0
        self.truncated = 0
        self.pruned_segments = 0
        self.pruned_bytes = 0
        self.prune_errors = 0
        self.stored_segments = 0
        self.stored_bytes = 0
        self._sampler = Sampler(sample, rng)
        self._queue: deque[DecisionRecord] = deque()
        self._retry: deque[DecisionRecord] = deque()  # failed writes, oldest first
        self._lock = threading.Lock()  # the queues, the counters and the flags below
        self._wake = threading.Condition(self._lock)
        self._write_lock = threading.Lock()  # one writer at a time: thread, flush, close
        self._closed = False
        self._deadline = 0.0
        self._abandoned = 0  # accepted records a close gave up on
        self._thread: threading.Thread | None = None
        self._next_prune = 0.0  # time.monotonic() of the writer thread's next prune

    def sampled(self, pair: object | None = None) -> bool:
        """Whether to log a request: the log's own draw against ``sample``, so that
        nothing the caller sends (such as its ``x-request-id``) decides it.

        The records of one request pass the same server-owned object as ``pair`` (its
        answer): the first call draws, later ones get the same answer, so a shadow is
        logged exactly when its primary was (see :mod:`modelphase.decisions._sampling`).
        """
        return self._sampler.sampled(pair)

    def offer(self, record: DecisionRecord) -> bool:
        """Queue ``record`` for writing; False (and counted in ``dropped``) when the
        queue is full or the log is closed. Never blocks on IO, never raises.

        Inputs above ``max_input_bytes`` are replaced here by their size and sha256
        (counted in ``truncated``), so what waits in memory is bounded too."""
        with contextlib.suppress(Exception):  # inputs not text: the writer drops it
            record = cap_inputs(record, self.max_input_bytes)
        with self._lock:
            if self._closed or len(self._queue) >= self.max_queue:
                self.dropped += 1
                return False
            self.truncated += record.inputs_truncated is True
            self._queue.append(record)
            if len(self._queue) >= self.batch_size:
                self._wake.notify()
        return True

    def queue_depth(self) -> int:
        """Records accepted and not yet written (queued or kept after a failed write)."""
        with self._lock:
            return len(self._queue) + len(self._retry)

    def start(self) -> Self:
        """Start the writer thread (once; later calls do nothing)."""
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="modelphase-decision-log", daemon=True
                )
                self._thread.start()
        return self

    def flush(self) -> None:
        """Write what is queued now, in the calling thread; a failed write is counted
        and kept for the next try, not raised."""
        self._write_all()

    def prune(self) -> PruneResult:
        """Apply retention now, in the calling thread (the writer thread does it every
        ``prune_seconds``): see :func:`~modelphase.decisions.prune`. Never raises; a
        failure is logged and counted in ``prune_errors``."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        with self._write_lock:  # not while this log writes a segment
            try:
                result = prune(self.root, max_age=self.max_age, max_bytes=self.max_bytes, now=now)
            except Exception:
                log.exception("decision log: retention failed under %s", self.root)
                with self._lock:
                    self.prune_errors += 1
                return PruneResult(0, 0, self.stored_segments, self.stored_bytes, 1)
        with self._lock:
            self.pruned_segments += result.segments
            self.pruned_bytes += result.bytes
            self.prune_errors += result.failed
            self.stored_segments = result.kept_segments
            self.stored_bytes = result.kept_bytes
        if result.segments:
            log.info(
                "decision log: pruned %d segments (%d bytes) under %s",
                result.segments,
                result.bytes,
                self.root,
            )
        return result

    def close(self, timeout: float = 10.0) -> bool:
        """Refuse new records, write every accepted one, stop the thread.

        Tries for up to ``timeout`` seconds while the disk refuses writes; what is
        still unwritten then is counted in ``dropped`` and logged. True when everything
        accepted was written.
        """
        with self._wake:
            if not self._closed:
                self._closed = True
                self._deadline = time.monotonic() + timeout
            self._wake.notify_all()
            thread = self._thread
        if thread is None:
            self._drain()
        else:
            thread.join(max(0.0, self._deadline - time.monotonic()) + 1.0)
        return self.queue_depth() == 0 and not self._abandoned

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            if self._limited() and time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + self.prune_seconds
                self.prune()
            with self._wake:
                if not self._closed and len(self._queue) < self.batch_size:
                    self._wake.wait(self.flush_seconds)
                closing = self._closed
            if closing:
                self._drain()
                return
            self._write_all()

    def _limited(self) -> bool:
        return self.max_age is not None or self.max_bytes is not None

    def _drain(self) -> None:
        """Write until nothing is left or the close deadline passes."""
        while True:
            self._write_all()
            if self.queue_depth() == 0:
                return
            if time.monotonic() >= self._deadline:
                with self._lock:
                    lost = len(self._queue) + len(self._retry)
                    self._queue.clear()
                    self._retry.clear()
                    self.dropped += lost
                    self._abandoned += lost
                log.error("decision log closed with %d records unwritten (dropped)", lost)
                return
            time.sleep(_RETRY_PAUSE)

    def _write_all(self) -> None:
        """Write batches until the queue is empty or a write fails."""
        with self._write_lock:
            while batch := self._take():
                try:
                    if not self._write(batch):
                        return
                except Exception:  # before any write (in conversion): keep, never raise
                    log.exception("decision log: unexpected error; batch kept for retry")
                    self._keep(batch)
                    return

    def _take(self) -> list[DecisionRecord]:
        with self._lock:
            batch: list[DecisionRecord] = []
            for source in (self._retry, self._queue):
                while source and len(batch) < self.batch_size:
                    batch.append(source.popleft())
            return batch

    def _keep(self, records: list[DecisionRecord]) -> None:
        """Put records back at the head, for the next try, within the bound."""
        with self._lock:
            self.errors += 1
            self._retry.extendleft(reversed(records))
            excess = len(self._retry) - self.max_queue
            for _ in range(max(excess, 0)):
                self._retry.popleft()
            if excess > 0:
                self.dropped += excess
        if excess > 0:
            log.error("decision log: dropped the %d oldest unwritten records", excess)

    def _write(self, batch: list[DecisionRecord]) -> bool:
        """Write one batch, a segment per day; False when a write failed (the rest of
        the batch is then kept for the next try)."""
        parts = self._convert(batch)
        for i, (day, records, table) in enumerate(parts):
            try:
                self._write_segment(day, min(int(r.time_us) for r in records), table)
            except Exception as exc:  # disk full, permissions, or a bug: never raised
                unwritten = [r for part in parts[i:] for r in part[1]]
                log.warning(
                    "decision log: cannot write %d records under %s (%s: %s); kept for retry",
                    len(unwritten),
                    self.root / day,
                    type(exc).__name__,
                    getattr(exc, "strerror", None) or exc,
                    exc_info=not isinstance(exc, OSError),
                )
                self._keep(unwritten)
                return False
            with self._lock:
                self.written += len(records)
                self.segments += 1
        return True

    def _convert(
        self, batch: list[DecisionRecord]
    ) -> list[tuple[str, list[DecisionRecord], pa.Table]]:
        """Group a batch by UTC day and convert each group; records that cannot be
        converted are dropped one by one and counted, the rest are kept."""
        days: dict[str, list[DecisionRecord]] = {}
        bad = 0
        for record in batch:
            try:
                days.setdefault(day_name(record.time_us), []).append(record)
            except (TypeError, ValueError, OverflowError, OSError):
                bad += 1
        parts = []
        for day, records in sorted(days.items()):
            try:
                table = to_table(records)
            except (TypeError, ValueError, OverflowError):
                good = [r for r in records if _convertible(r)]
                bad += len(records) - len(good)
                if not good:
                    continue
                records, table = good, to_table(good)
            parts.append((day, records, table))
        if bad:
            with self._lock:
                self.errors += 1
                self.dropped += bad
            log.error("decision log: dropped %d records with values of the wrong type", bad)
        return parts

    def _write_segment(self, day: str, first_us: int, table: pa.Table) -> None:
        folder = self.root / day
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            fsync_dir(folder.parent)  # the new day's folder survives a crash too
        name = f"{first_us}-{os.getpid()}-{next(_SEQ)}.parquet"
        with atomic_path(folder / name) as tmp:
            pq.write_table(table, tmp, compression="zstd")


def _convertible(record: DecisionRecord) -> bool:
    try:
        to_table([record])
    except (TypeError, ValueError, OverflowError):
        return False
    return True
