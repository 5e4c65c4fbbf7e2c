"""Bounded thread pools for the server's work, so that the event loop only routes.

A :class:`Pool` runs at most ``threads`` jobs at once and lets at most ``queue`` more
wait for a thread. Work that finds the queue full, or waits longer than ``wait``
seconds for a thread, is not started at all: :meth:`Pool.start` raises
:class:`~modelphase.exceptions.OverloadedError` (the server answers 503 with
Retry-After), which is never a model's failure. A job that started says when
(:attr:`Job.started_at`, read from ``clock``): a latency budget runs from there, so
that time spent waiting for a thread never counts against the model.

The server has five pools (see ``app.py``): ``light`` for model calls on short inputs,
``heavy`` for long histories (few threads, so that they cannot take the machine from
everything else), ``parse`` for large request bodies, ``fallback`` for the fallbacks'
own computations and ``shadow`` for shadow versions. One request's successive jobs go
to different pools, so that its second never queues behind new requests' first. A
job that overran its budget keeps its thread until it returns (Python cannot stop a
thread); its pool's queue bound is what keeps such work from piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, NoReturn, TypeVar

from prometheus_client import Counter, Histogram

from modelphase.exceptions import OverloadedError

__all__ = ["BoundedPool", "Job", "Pool"]

T = TypeVar("T")


class Job(Generic[T]):
    """Work a pool has started."""

    def __init__(self, loop: asyncio.AbstractEventLoop, submitted_at: float) -> None:
        self.submitted_at = submitted_at
        self.started_at = submitted_at
        # True once a thread runs it; False when it was cancelled before that
        self.started: asyncio.Future[bool] = loop.create_future()
        self.loop = loop
        self.future: Future[tuple[T, float]] | None = None

    async def result(self, timeout: float | None = None) -> tuple[T, float]:
        """The job's value and the CPU seconds it took (its thread's time); a
        :class:`TimeoutError` when it is not done ``timeout`` seconds from now (it
        runs on, and its thread stays busy until it returns)."""
        assert self.future is not None
        done = asyncio.wrap_future(self.future, loop=self.loop)
        if timeout is None:
            return await done
        return await asyncio.wait_for(done, timeout)


class BoundedPool(ABC):
    """What every pool has: ``threads`` workers (threads or processes), ``queue``
    places to wait, and refusals counted on ``shed``."""

    def __init__(
        self,
        name: str,
        threads: int,
        queue: int,
        *,
        retry_after: int = 1,
        clock: Callable[[], float] = time.monotonic,
        shed: Counter | None = None,
        waited: Histogram | None = None,
    ) -> None:
        self.name = name
        self.threads = threads
        self.queue = queue
        self.retry_after = retry_after
        self._clock = clock
        self._shed = shed
        self._waited = waited
        self._queued = 0
        self._running = 0

    @property
    def queued(self) -> int:
        """Jobs waiting for a worker."""
        return self._queued

    @property
    def running(self) -> int:
        """Jobs on a worker (including any that overran their budget and run on)."""
        return self._running

    def has_room(self) -> bool:
        """Whether a job submitted now would be let in (to run or to wait)."""
        return self._queued + self._running < self.threads + self.queue

    def check_room(self) -> None:
        """Refuse now (``queue_full``) what :meth:`start` would refuse, before any work
        is done for it (such as reading a large body)."""
        if not self.has_room():
            self._full()

    @abstractmethod
    async def start(self, call: Callable[[], T], *, wait: float) -> Job[T]:
        """Run ``call`` once a worker is free (waiting at most ``wait`` seconds)."""

    async def warm(self) -> None:  # noqa: B027 (optional: most pools start lazily)
        """Start the workers before the first job needs them."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop the workers."""

    def _refuse(self, reason: str, what: str) -> NoReturn:
        if self._shed is not None:
            self._shed.labels(self.name, reason).inc()
        raise OverloadedError(
            f"{what}. Fix: retry after {self.retry_after} s (Retry-After); the server is "
            "busy, not broken",
            pool=self.name,
            reason=reason,
            retry_after=self.retry_after,
        )

    def _observe_wait(self, job: Job[Any]) -> None:
        if self._waited is not None:
            self._waited.labels(self.name).observe(max(0.0, job.started_at - job.submitted_at))

    def _full(self) -> NoReturn:
        self._refuse(
            "queue_full",
            f"expected room in the server's {self.name} pool, got {self.threads} "
            f"busy and {self.queue} requests waiting",
        )

    def _late(self, wait: float) -> NoReturn:
        self._refuse(
            "queue_wait",
            f"expected one of the {self.name} pool's {self.threads} workers to start "
            f"this request's work within {wait:g} s, got none free",
        )


class Pool(BoundedPool):
    """Threads: at most ``threads`` jobs running and ``queue`` waiting (see the module)."""

    def __init__(self, name: str, threads: int, queue: int, **options: Any) -> None:
        super().__init__(name, threads, queue, **options)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=f"modelphase-{name}")
        self._lock = threading.Lock()

    async def start(self, call: Callable[[], T], *, wait: float) -> Job[T]:
        """Submit ``call`` and return once a thread has started it; an
        :class:`OverloadedError` when the queue is full or it waited ``wait`` seconds."""
        loop = asyncio.get_running_loop()
        with self._lock:  # room: a free thread, or one of the ``queue`` places
            full = self._queued + self._running >= self.threads + self.queue
            if not full:
                self._queued += 1
        if full:
            self._full()
        job: Job[T] = Job(loop, self._clock())
        future = self._executor.submit(self._run, job, call)
        job.future = future
        future.add_done_callback(lambda f: self._settled(job, f))
        try:
            started = await asyncio.wait_for(asyncio.shield(job.started), wait)
        except TimeoutError:
            if future.cancel():
                self._late(wait)
            started = await job.started  # it started just as the wait ran out
        except asyncio.CancelledError:  # the request was cancelled: do not run its work
            future.cancel()
            raise
        if not started:
            self._refuse("shutdown", f"expected the {self.name} pool to run, got it stopped")
        self._observe_wait(job)
        return job

    def shutdown(self) -> None:
        """Cancel what waits; what runs finishes on its own."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job[T], call: Callable[[], T]) -> tuple[T, float]:
        with self._lock:
            self._queued -= 1
            self._running += 1
        try:
            job.started_at = self._clock()
            job.loop.call_soon_threadsafe(_settle, job.started, True)
            cpu = time.thread_time()
            value = call()
            return value, time.thread_time() - cpu
        finally:
            with self._lock:
                self._running -= 1

    def _settled(self, job: Job[T], future: Future[tuple[T, float]]) -> None:
        if future.cancelled():  # by start() or by shutdown(): it never ran
            with self._lock:
                self._queued -= 1
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                job.loop.call_soon_threadsafe(_settle, job.started, False)


def _settle(started: asyncio.Future[bool], value: bool) -> None:
    if not started.done():
        started.set_result(value)
