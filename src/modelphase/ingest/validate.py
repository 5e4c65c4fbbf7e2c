"""Range and completeness checks of telemetry against what a spec expects of it
(``target.expect``: ``min``, ``max``, ``max_missing``), so that a scrape that returns a
percentage as a ratio, negative request rates or a mostly empty series is refused
before a model learns from it.

:func:`violations` lists what breaks the expectations, per series; :func:`check` raises
one :class:`~modelphase.exceptions.ValidationError` naming the series, the rule and how
many points, or returns.

>>> import numpy as np
>>> from modelphase.frame import Panel
>>> p = Panel.from_series([("a", np.arange(4) * 60 * 10**9, np.array([0.1, 0.2, 1.5, np.nan]))],
...                       step=60 * 10**9)
>>> [(v.unique_id, v.rule, v.points) for v in violations(p, max=1.0, max_missing=0.1)]
[('a', 'max', 1), ('a', 'max_missing', 1)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelphase.exceptions import ValidationError
from modelphase.frame import Panel

__all__ = ["Violation", "check", "violations"]


@dataclass(frozen=True)
class Violation:
    unique_id: str
    rule: str  # "min", "max" or "max_missing"
    points: int
    detail: str


def violations(
    panel: Panel,
    *,
    min: float | None = None,
    max: float | None = None,
    max_missing: float | None = None,
) -> list[Violation]:
    """Every series of ``panel`` and the expectations it breaks."""
    out = []
    for i, uid in enumerate(panel.ids):
        y = panel.y[panel.indptr[i] : panel.indptr[i + 1]]
        finite = y[np.isfinite(y)]
        if min is not None and (below := int(np.sum(finite < min))):
            out.append(Violation(uid, "min", below, f"{below} point(s) below {min:g}, the "
                                 f"lowest {float(finite.min()):g}"))  # fmt: skip
        if max is not None and (above := int(np.sum(finite > max))):
            out.append(Violation(uid, "max", above, f"{above} point(s) above {max:g}, the "
                                 f"highest {float(finite.max()):g}"))  # fmt: skip
        if max_missing is not None and len(y):
            missing = len(y) - len(finite)
            if missing / len(y) > max_missing:
                out.append(Violation(uid, "max_missing", missing, f"{missing} of {len(y)} "
                                     f"points missing, more than {max_missing:.0%}"))  # fmt: skip
    return out


def check(
    panel: Panel,
    *,
    min: float | None = None,
    max: float | None = None,
    max_missing: float | None = None,
    what: str = "the data",
) -> None:
    """Raise a :class:`ValidationError` when a series of ``panel`` breaks one of the
    expectations (the message names the first three series)."""
    found = violations(panel, min=min, max=max, max_missing=max_missing)
    if not found:
        return
    series = sorted({v.unique_id for v in found})
    first = found[0]
    raise ValidationError(
        f"{what}: {len(series)} series break target.expect, e.g. {first.unique_id}: "
        f"{first.detail}" + (f" (and {', '.join(series[1:3])})" if len(series) > 1 else ""),
        unique_ids=series,
        hint="fix the query or the source, or widen target.expect in the spec",
    )
