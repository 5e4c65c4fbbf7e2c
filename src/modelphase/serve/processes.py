"""A bounded pool of worker processes, for the work that would starve the event loop.

Threads share one interpreter lock: a 100,000-point score (about a second of Python)
on a thread slows every other thread and the event loop with it, and so does the rest
of it after its budget ran out, since a thread cannot be stopped. A
:class:`ProcessPool` runs such work in ``workers`` processes of their own, at a lower
scheduling priority (``nice``), so that the server's own process stays responsive
whatever they do: the machine's cores are shared by the kernel, and the server's
process comes first.

It admits work as :class:`~modelphase.serve.pools.Pool` does (at most ``workers``
running and ``queue`` waiting, a wait bound, :class:`OverloadedError` otherwise) and
hands a job to the executor only when a worker is free, so a job starts when it is
handed over (:attr:`Job.started_at`). Calls and their arguments are pickled: they are
module-level functions with ``functools.partial`` arguments, never closures. Workers
are started with ``spawn`` (safe in a process with threads) and warmed up before the
server is ready (:meth:`ProcessPool.warm`); a pool whose worker died (killed for its
memory, say) is rebuilt for the next job.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from modelphase.serve.pools import BoundedPool, Job

__all__ = ["ProcessPool"]

T = TypeVar("T")

#: the workers' niceness: the kernel runs the server's own process first
NICE = 10


class ProcessPool(BoundedPool):
    """``threads`` worker processes (see the module); the pool's counters are the event
    loop's alone."""

    def __init__(self, name: str, threads: int, queue: int, **options: Any) -> None:
        super().__init__(name, threads, queue, **options)
        self._executor = self._new_executor()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, call: Callable[[], T], *, wait: float) -> Job[T]:
        loop = self._loop = asyncio.get_running_loop()
        job: Job[T] = Job(loop, self._clock())
        if self._running < self.threads and not self._waiters:
            self._running += 1
        else:
            await self._wait_turn(loop, wait)
        job.started_at = self._clock()
        try:
            future = self._submit(call)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._finished)
        job.future = future
        self._observe_wait(job)
        return job

    async def warm(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._executor, _ready) for _ in range(self.threads))
        )

    def shutdown(self) -> None:
        for waiter in self._waiters:
            waiter.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ inside

    async def _wait_turn(self, loop: asyncio.AbstractEventLoop, wait: float) -> None:
        if len(self._waiters) >= self.queue:
            self._full()
        turn: asyncio.Future[None] = loop.create_future()
        self._waiters.append(turn)
        self._queued += 1
        try:
            await asyncio.wait_for(asyncio.shield(turn), wait)
        except TimeoutError:
            if not turn.done():  # still waiting: give up the place
                self._waiters.remove(turn)
                self._queued -= 1
                turn.cancel()
                self._late(wait)
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # it was ours: pass it on
            elif turn in self._waiters:
                self._waiters.remove(turn)
                self._queued -= 1
            raise

    def _submit(self, call: Callable[[], T]) -> Future[tuple[T, float]]:
        try:
            return self._executor.submit(_timed, call)
        except BrokenProcessPool:  # a worker died: a new pool for this and what follows
            self._executor = self._new_executor()
            return self._executor.submit(_timed, call)
        except RuntimeError:  # shut down
            self._refuse("shutdown", f"expected the {self.name} pool to run, got it stopped")

    def _finished(self, future: Future[Any]) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing to release
                self._loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        """A worker came free: to the first one waiting, else back to the pool."""
        while self._waiters:
            turn = self._waiters.popleft()
            self._queued -= 1
            if not turn.done():
                turn.set_result(None)  # the worker passes to it: running stays the same
                return
        self._running -= 1

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.threads,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_lower_priority,
        )


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    cpu = time.process_time()
    value = call()
    return value, time.process_time() - cpu


def _lower_priority() -> None:
    if hasattr(os, "nice"):
        os.nice(NICE)


def _ready() -> None:
    """Import what the calls need, so that the first one does not pay for it."""
    import modelphase.serve.calls  # noqa: F401
