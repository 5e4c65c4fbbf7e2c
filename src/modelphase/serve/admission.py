"""Admission control per caller: how much of the server one token may use.

Every token has a token bucket of requests (``rate`` a second, ``burst`` at once), a
bound on its prediction requests in flight (``concurrency``) and on its heavy ones in
flight (``heavy``: long histories, which run on the small heavy pool). A request over
any of them is refused before any work is done for it, with a
:class:`~modelphase.exceptions.ThrottledError` (a 429 with Retry-After), and counted on
``modelphase_serve_throttled_total{reason}``. Tokens are keyed by their id, never shown
in a message or a label.

The bucket reads ``clock`` (monotonic seconds), which tests replace:

>>> now = [0.0]
>>> bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: now[0])
>>> bucket.take(), bucket.take(), bucket.take()
(0.0, 0.0, 1.0)
>>> now[0] = 0.5
>>> bucket.take()
0.5
>>> now[0] = 1.0
>>> bucket.take()
0.0
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from prometheus_client import Counter

from modelphase.exceptions import ThrottledError
from modelphase.registry import Principal

__all__ = ["Admission", "Limits", "Ticket", "TokenBucket"]

#: tokens whose buckets are kept; past it the idle ones are forgotten (full again)
MAX_TRACKED = 10_000


@dataclass(frozen=True)
class Limits:
    """What one token may use (the ``modelphase serve --token-*`` options)."""

    rate: float = 100.0  #: requests a second, sustained
    burst: int = 200  #: requests at once, after a quiet spell
    concurrency: int = 16  #: prediction requests in flight
    heavy: int = 2  #: heavy prediction requests in flight


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` a second; :meth:`take` spends one."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> float:
        """0.0 when a token was spent, else the seconds until one will be there."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + max(0.0, now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    @property
    def full(self) -> bool:
        now = self._clock()
        return self._tokens + max(0.0, now - self._at) * self.rate >= self.burst


class Admission:
    """The per-token limits of one server."""

    def __init__(self, limits: Limits, clock: Callable[[], float], throttled: Counter) -> None:
        self.limits = limits
        self._clock = clock
        self._throttled = throttled
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._in_flight: dict[str, int] = {}
        self._heavy: dict[str, int] = {}

    def check_rate(self, who: Principal) -> None:
        """Spend one of ``who``'s bucket, or refuse the request (reason ``rate``)."""
        key = _key(who)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= MAX_TRACKED:
                    self._forget_idle()
                bucket = TokenBucket(self.limits.rate, self.limits.burst, self._clock)
                self._buckets[key] = bucket
            wait = bucket.take()
        if wait > 0.0:
            self._refuse(
                "rate",
                f"expected at most {self.limits.rate:g} requests a second from one token "
                f"(bursts of {self.limits.burst}), got more",
                "spread the requests out, or ask the operator for a higher --token-rate",
                math.ceil(wait),
            )

    @contextmanager
    def slot(self, who: Principal) -> Iterator[Ticket]:
        """One of ``who``'s prediction requests in flight (reason ``concurrency`` when
        it has too many), held for the block."""
        key = _key(who)
        with self._lock:
            busy = self._in_flight.get(key, 0)
            if busy < self.limits.concurrency:
                self._in_flight[key] = busy + 1
        if busy >= self.limits.concurrency:
            self._refuse(
                "concurrency",
                f"expected at most {self.limits.concurrency} requests in flight from one "
                "token, got another",
                "wait for an answer before sending the next request",
                1,
            )
        ticket = Ticket(self, key)
        try:
            yield ticket
        finally:
            with self._lock:
                self._in_flight[key] -= 1
                if not self._in_flight[key]:
                    del self._in_flight[key]
                if ticket.heavy:
                    self._heavy[key] -= 1
                    if not self._heavy[key]:
                        del self._heavy[key]

    def in_flight(self) -> int:
        with self._lock:
            return sum(self._in_flight.values())

    def _claim_heavy(self, key: str) -> None:
        with self._lock:
            busy = self._heavy.get(key, 0)
            if busy < self.limits.heavy:
                self._heavy[key] = busy + 1
        if busy >= self.limits.heavy:
            self._refuse(
                "heavy",
                f"expected at most {self.limits.heavy} heavy requests (long histories or "
                "large bodies) in flight from one token, got another",
                "wait for an answer before sending the next one, or send shorter histories",
                1,
            )

    def _refuse(self, reason: str, what: str, fix: str, retry_after: int) -> NoReturn:
        self._throttled.labels(reason).inc()
        seconds = max(1, retry_after)
        raise ThrottledError(
            f"{what}. Fix: retry after {seconds} s (Retry-After); {fix}",
            reason=reason,
            retry_after=seconds,
        )

    def _forget_idle(self) -> None:
        for key in [k for k, b in self._buckets.items() if b.full and k not in self._in_flight]:
            del self._buckets[key]


class Ticket:
    """A request's place in its token's limits; :meth:`claim_heavy` when it turns out
    heavy (released with the slot)."""

    def __init__(self, admission: Admission, key: str) -> None:
        self._admission = admission
        self._key = key
        self.heavy = False

    def claim_heavy(self) -> None:
        if not self.heavy:
            self._admission._claim_heavy(self._key)
            self.heavy = True


def _key(who: Principal) -> str:
    return who.token_id or f"name:{who.name}"
