"""Checks of a request's values before it is served (data validation, M15): against the
spec's ``target.expect`` (``min``, ``max``, ``max_missing``) and against each series'
training range kept with the model (far outside it: the model is extrapolating).

A request that fails a check is still answered, with ``warnings`` in the answer and the
failure counted (``modelphase_serve_data_validation_total{result}``): refusing values
that look wrong would refuse forecasts during the incident that made them look wrong.
The schema itself (numbers or null, sizes, times) is the request model's and is refused
with a 422 as before.

>>> check = InputCheck({"min": 0.0, "max_missing": 0.25}, {"a": [1.0, 3.0]})
>>> check.problems([1.0, 2.0, None, None], "a")
[('max_missing', '2 of 4 values missing, more than 25%')]
>>> check.problems([1.0, 2.0, 9.5], "a")
[('out_of_range', '1 value(s) outside 3x the training range of a (1 to 3)')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["InputCheck"]

#: values further than this many training-range widths outside the range are flagged
RANGE_WIDTHS = 1.0


class InputCheck:
    """The checks of one served version: ``expect`` is the spec's ``target.expect``,
    ``ranges`` each series' ``[lowest, highest]`` training value."""

    def __init__(
        self, expect: Mapping[str, Any] | None, ranges: Mapping[str, Sequence[float]] | None
    ) -> None:
        expect = expect or {}
        self.min = _number(expect.get("min"))
        self.max = _number(expect.get("max"))
        self.max_missing = _number(expect.get("max_missing"))
        self.ranges = dict(ranges or {})

    @property
    def active(self) -> bool:
        return bool(self.ranges) or any(
            v is not None for v in (self.min, self.max, self.max_missing)
        )

    def problems(
        self, values: Sequence[float | None], unique_id: str | None
    ) -> list[tuple[str, str]]:
        """``(reason, message)`` for every check ``values`` fail (none: ``[]``)."""
        out: list[tuple[str, str]] = []
        y = np.array(values, dtype=np.float64)  # null is NaN: one pass, on the request path
        given = y[np.isfinite(y)]
        missing = len(y) - len(given)
        if self.max_missing is not None and len(y) and missing / len(y) > self.max_missing:
            out.append(("max_missing", f"{missing} of {len(y)} values missing, more "
                        f"than {self.max_missing:.0%}"))  # fmt: skip
        if self.min is not None and (below := int(np.count_nonzero(given < self.min))):
            out.append(("min", f"{below} value(s) below the expected min {self.min:g}"))
        if self.max is not None and (above := int(np.count_nonzero(given > self.max))):
            out.append(("max", f"{above} value(s) above the expected max {self.max:g}"))
        span = self.ranges.get(unique_id) if unique_id is not None else None
        if span is not None and len(span) == 2:
            lo, hi = float(span[0]), float(span[1])
            width = max(hi - lo, abs(hi) * 0.1, 1e-12) * RANGE_WIDTHS
            far = int(np.count_nonzero((given < lo - width) | (given > hi + width)))
            if far:
                out.append(("out_of_range", f"{far} value(s) outside {1 + 2 * RANGE_WIDTHS:g}x "
                            f"the training range of {unique_id} ({lo:g} to {hi:g})"))  # fmt: skip
        return out


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
