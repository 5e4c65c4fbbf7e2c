"""What a streaming detector is, and how a stream is scored.

A detector (river's shape) sees one point at a time: :meth:`score_one` says how
anomalous a value is given everything learned so far (higher = more anomalous; 0 for
nothing unusual), and :meth:`learn_one` then takes the point into its state. The value
is a float (NaN for a missing scrape); ``t`` is the point's time in nanoseconds since
the epoch (UTC), for detectors that read the calendar, or None. Detection is online by
construction: a score is computed before its point is learned, from earlier points only.

Hyper-parameters are keyword arguments stored unchanged; learned state ends in ``_``
and is created by :meth:`reset` (called by ``__init__``), so ``get_params()`` is plain
JSON and ``type(d)(**d.get_params())`` is a fresh twin. State is bounded: it never grows
with the length of the stream.

:func:`score_stream` scores a whole series the way a stream would be: score, then learn,
row after row. A detector may override :meth:`Detector.score_many` with a faster loop
that must give the same scores (the conformance suite checks it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError

__all__ = ["Detector", "score_stream"]


class Detector(ABC):
    """Base of the streaming detectors: ``learn_one``, ``score_one``, ``score_many``."""

    #: the name a spec or ``modelphase detect --detector`` uses
    name: ClassVar[str] = ""
    #: ``(x, value)``: what scoring the last point computed, for the learn_one after it
    pending_: tuple[float, Any] | None = None

    def __init__(self) -> None:
        self.reset()

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as given (plain JSON)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def reset(self) -> Detector:
        """Forget everything learned; return the detector."""
        return self

    @abstractmethod
    def learn_one(self, x: float, t: int | None = None) -> None:
        """Take the point into the detector's state."""

    @abstractmethod
    def score_one(self, x: float, t: int | None = None) -> float:
        """How anomalous the point is, from what was learned before it (0 = nothing)."""

    def _remember(self, x: float, value: Any) -> None:
        """Keep what scoring ``x`` computed, for the :meth:`learn_one` that follows."""
        self.pending_ = (x, value)

    def _recall(self, x: float) -> Any:
        """What scoring ``x`` computed, if ``x`` was the last point scored (NaN matches
        NaN); forgotten either way, so that it is used once."""
        pending = self.pending_
        self.pending_ = None
        if pending is not None and (pending[0] == x or (x != x and pending[0] != pending[0])):
            return pending[1]
        return None

    def score_many(
        self,
        values: Sequence[float] | NDArray[np.float64],
        times: Sequence[int] | NDArray[np.int64] | None = None,
    ) -> NDArray[np.float64]:
        """Score each value before learning it, in order; the detector keeps learning
        from where it was (call :meth:`reset` first for a new series)."""
        out = np.empty(len(values), dtype=np.float64)
        for i, x in enumerate(np.asarray(values, dtype=np.float64).tolist()):
            t = None if times is None else int(times[i])
            out[i] = self.score_one(x, t)
            self.learn_one(x, t)
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def score_stream(
    detector: Detector,
    values: Sequence[float] | NDArray[np.float64],
    times: Sequence[int] | NDArray[np.int64] | None = None,
) -> NDArray[np.float64]:
    """Scores of a whole series by a fresh copy of ``detector`` (which is not changed):
    row after row, each scored from the rows before it, then learned."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValidationError(f"expected a 1-D series of values, got shape {values.shape}")
    if times is not None and len(times) != len(values):
        raise ValidationError(
            f"expected one time per value, got {len(times)} times for {len(values)} values"
        )
    fresh = type(detector)(**detector.get_params())
    return fresh.score_many(values, None if times is None else np.asarray(times, np.int64))
