"""When does an SLO's error budget run out? A forecast of its SLI's events, and the
first time each forecast path spends the budget.

The SLI's bad and total events are summed into hours and forecast by the forecasting
stack (:class:`~modelphase.forecast.AutoForecast`: backtested candidates, per-series
choice, conformal intervals), half as far ahead as the history reaches back (its
backtest trains on a horizon's worth of past, and the one before it), at most
``horizon``. Three paths of bad events (the
forecast and its interval's two ends at ``level``) under the forecast traffic give
three times the rolling period's error ratio first reaches the budget: the expected
one, the earliest (upper end) and the latest (lower end). The pointwise ends of an
interval make a path more extreme than any one path at that level, so the interval of
the time is wide rather than narrow; how often it holds the truth is measured
(BENCHMARKS.md, "Error budget forecasts").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from modelphase.decide.slo.budget import SliEvents, first_exhaustion
from modelphase.frame import NS_PER_SECOND, Panel

__all__ = ["FORECAST_STEP", "Exhaustion", "forecast_exhaustion", "human", "say_when"]

#: the SLI is forecast in steps of an hour (or its own step, when coarser)
FORECAST_STEP = 3600 * NS_PER_SECOND
#: the history the forecaster reads at most, in forecast steps (eight weeks)
MAX_HISTORY_STEPS = 8 * 7 * 24
_MIN_STEPS = 24  # a day of history at least, to forecast anything


@dataclass(frozen=True)
class Exhaustion:
    """When the budget runs out, in seconds from ``as_of``: ``expected`` on the
    forecast, ``earliest`` and ``latest`` the interval at ``level`` percent; None means
    not within ``horizon`` seconds (for ``latest``: the interval is open). ``spent``:
    the budget is already gone. ``reason`` says it in a line, or says why there is no
    forecast (then every time is None and ``horizon`` is 0)."""

    level: float
    horizon: int
    expected: float | None
    earliest: float | None
    latest: float | None
    spent: bool
    reason: str
    models: dict[str, str]

    @property
    def forecast(self) -> bool:
        return self.horizon > 0 or self.spent

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def say_when(
    expected: float | None, earliest: float | None, latest: float | None, level: float, horizon: int
) -> str:
    """``exhausted in 9d-14d at 80% (expected 11d)``, or that it lasts the horizon."""

    if earliest is None:
        return f"not exhausted within {human(horizon)} at {level:g}% (the forecast's horizon)"
    if latest is None:
        mid = (
            f"expected in {human(expected)}"
            if expected is not None
            else f"expected to last beyond {human(horizon)}"
        )
        return f"exhausted in {human(earliest)} at the earliest at {level:g}%, {mid}"
    low, high = human(earliest), human(latest)
    if low.split()[-1] == high.split()[-1]:
        low = low.split()[0]  # 9-14 days, not 9 days-14 days
    mid = f" (expected {human(expected)})" if expected is not None else ""
    return f"exhausted in {low}-{high} at {level:g}%{mid}"


def human(seconds: float) -> str:
    """``13.5 days``, ``20 hours``, ``45 minutes``: a time to exhaustion for a person."""
    for unit, size in (("days", 86_400), ("hours", 3600)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{seconds / 60:.0f} minutes"


def forecast_exhaustion(
    events: SliEvents,
    budget: float,
    period: int,
    *,
    horizon: int,
    level: float = 80.0,
    models: Any = None,
) -> Exhaustion:
    """The forecast of when the budget (an error ratio) over a rolling ``period``
    (seconds) is spent, looking at most ``horizon`` seconds ahead of ``events``.

    ``models``: the forecaster's candidates (default: the stack's defaults).
    """
    from modelphase.forecast import AutoForecast  # the forecasting stack is heavy to import

    step = max(FORECAST_STEP, events.step)
    if step % events.step:
        step = events.step * (-(-FORECAST_STEP // events.step))
    whole = events.end // step * step  # the forecast starts at a whole step
    offset = (events.end - whole) / NS_PER_SECOND
    if first_exhaustion(events, budget, period, errors=[], total=[]) == 0:
        return Exhaustion(level, 0, 0.0, 0.0, 0.0, True, "exhausted already", {})
    cut = events.upto(whole)
    hourly = past = SliEvents(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), step)
    if np.isfinite(cut.total).any():
        hourly = cut.resample(step).pad_to(whole)
        past = SliEvents(
            hourly.ds[-MAX_HISTORY_STEPS:],
            hourly.errors[-MAX_HISTORY_STEPS:],
            hourly.total[-MAX_HISTORY_STEPS:],
            step,
        )
    span = len(past.ds)
    h = min(horizon * NS_PER_SECOND // step, span // 2)  # its backtest trains on as much
    if span < _MIN_STEPS or h < 1:
        have = human(span * step / NS_PER_SECOND)
        return Exhaustion(
            level, 0, None, None, None, False,
            f"no forecast: {have} of SLI history, a forecast needs at least "
            f"{human(_MIN_STEPS * step / NS_PER_SECOND)}",
            {},
        )  # fmt: skip
    panel = Panel.from_series(
        [("errors", past.ds, past.errors), ("total", past.ds, past.total)], step=step
    )
    found = AutoForecast(models, n_jobs=1).fit_predict(panel, int(h), level=[level])
    errors = found[found["unique_id"] == "errors"]
    total = np.clip(found.loc[found["unique_id"] == "total", "yhat"].to_numpy(), 0.0, None)
    tag = f"{level:g}"
    paths = {
        "expected": errors["yhat"].to_numpy(),
        "earliest": errors[f"yhat-hi-{tag}"].to_numpy(),
        "latest": errors[f"yhat-lo-{tag}"].to_numpy(),
    }
    times: dict[str, float | None] = {}
    for key, path in paths.items():
        at = first_exhaustion(hourly, budget, period, errors=path, total=total)
        # counted from the events' end, which is up to a step after the forecast's start
        times[key] = None if at is None else max(0.0, at * step / NS_PER_SECOND - offset)
    looked = int(h * step // NS_PER_SECOND)
    chosen = {str(k): str(v) for k, v in found.groupby("unique_id")["model"].first().items()}
    return Exhaustion(
        level,
        looked,
        times["expected"],
        times["earliest"],
        times["latest"],
        False,
        say_when(times["expected"], times["earliest"], times["latest"], level, looked),
        chosen,
    )
