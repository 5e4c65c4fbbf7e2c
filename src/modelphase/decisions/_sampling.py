"""Which requests the decision log keeps: the server's own draw, never the caller's.

A share ``sample`` of requests is logged, drawn from ``rng`` (any ``() -> float`` in
``[0, 1)``; by default a generator seeded from the OS). Nothing a caller sends takes
part: a request id chosen by the caller (``x-request-id``) used to be hashed, which let
a caller pick ids that are never logged.

A request may write several records (its answer, then its shadow's): they pass the same
server-owned object (the request's answer) as ``pair`` and get the one draw made for
it, so a shadow is logged exactly when its primary was. The draw is remembered through
a weak reference only, for as long as that object lives.

>>> import random
>>> sampler = Sampler(0.5, random.Random(7).random)
>>> [sampler.sampled() for _ in range(6)]
[True, True, False, True, False, True]
>>> class Answer: ...
>>> answer = Answer()
>>> sampler.sampled(answer) == sampler.sampled(answer) == sampler.sampled(answer)
True
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable

__all__ = ["Sampler"]


class Sampler:
    """Decides, per request, whether it is logged; see the module's docstring."""

    def __init__(self, sample: float, rng: Callable[[], float] | None = None) -> None:
        self.sample = sample
        self._rng = rng if rng is not None else random.Random().random
        self._pairs: dict[int, tuple[weakref.ref[object], bool]] = {}

    def sampled(self, pair: object | None = None) -> bool:
        """A fresh draw, or the draw already made for ``pair``.

        ``pair`` must accept weak references (a plain class instance does; a ``str``,
        such as a request id, does not, and is refused with ``TypeError``).
        """
        if pair is None:
            return self._draw()
        key = id(pair)
        known = self._pairs.get(key)
        if known is not None and known[0]() is pair:
            return known[1]
        try:
            ref = weakref.ref(pair, self._forget(key))
        except TypeError:
            raise TypeError(
                f"decision log sampled: expected a server-owned object of the request "
                f"that accepts weak references (its Answer), got {type(pair).__name__}"
            ) from None
        chosen = self._draw()
        self._pairs[key] = (ref, chosen)
        return chosen

    def _forget(self, key: int) -> Callable[[weakref.ref[object]], None]:
        """The callback that drops ``key``'s draw when its object dies (and only that
        draw: not a later one made for another object at the same address)."""

        def forget(ref: weakref.ref[object]) -> None:
            known = self._pairs.get(key)
            if known is not None and known[0] is ref:
                del self._pairs[key]

        return forget

    def remembered(self) -> int:
        """How many pairs' draws are held (their objects are alive)."""
        return len(self._pairs)

    def _draw(self) -> bool:
        if self.sample >= 1.0:
            return True
        if self.sample <= 0.0:
            return False
        return self._rng() < self.sample
