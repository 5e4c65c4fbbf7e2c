"""A capacity plan: the replicas each step of a demand forecast needs at a stated risk,
what they cost and the risk they take (``modelphase capacity plan``).

From a forecast with intervals (``unique_id, ds, yhat, yhat-lo-<l>, yhat-hi-<l>``, as
:class:`~modelphase.forecast.AutoForecast` and registered forecasters write it) and the
demand one replica holds (a :class:`~modelphase.decide.capacity.CapacityModel`, learned
or declared), each step gets ``ceil(q / capacity)`` replicas, ``q`` the forecast's upper
quantile ``1 - risk``: the upper end of its central interval at level
``100 (1 - 2 risk)``, which the forecast must have (a forecaster without it is refused,
not guessed at). Then, as an operator would run it:

- scale-down stabilisation: a step keeps the largest need of the ``stabilise`` before
  it (5 minutes, the HPA's default), so the plan does not drop replicas it needs again
  a minute later;
- the start-up delay: replicas for a step must be asked for ``startup`` earlier, so each
  row says when to ask (``ask_at``), and the steps closer than that to the forecast's
  origin cannot be changed any more: with ``current`` replicas given they stay at the
  current count (and their risk is what that count takes);
- ``max_replicas`` (a quota, a node pool's size): the plan never asks for more, and the
  report says from when the limit is not enough.

The risk taken is read off the forecast's quantiles: every level the forecast has gives
two points of the demand's distribution at each step (``yhat`` the median), and
``p(demand > replicas x capacity)`` is interpolated linearly between them; above the
highest quantile known it is bounded by that quantile's tail (``1 - q``), which the plan
reports as is, an upper bound. Per series: replica-hours (the cost), the expected
number of steps in breach (the sum of the per-step probabilities), the largest per-step
risk, the peak, and the first step whose need crosses ``max_replicas`` (expected and at
the stated risk). The capacity model's planning value is its interval's lower end, so a
learned capacity errs towards more replicas; its uncertainty is not folded into the
risk, which is the demand's alone (said in the plan's notes).

>>> import pandas as pd
>>> ds = pd.date_range("2026-01-01", periods=3, freq="1min", tz="UTC")
>>> fc = pd.DataFrame({"unique_id": "api", "ds": ds, "yhat": [90.0, 100.0, 80.0],
...                    "yhat-lo-98": [70.0, 80.0, 60.0], "yhat-hi-98": [110.0, 130.0, 95.0]})
>>> p = plan_capacity(fc, capacity=10.0, risk=0.01, step=60 * 10**9, stabilise=0)
>>> p.table["replicas"].tolist(), p.series[0].peak_replicas
([11, 13, 10], 13)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.decide.capacity.model import CapacityModel, declared
from modelphase.exceptions import ValidationError
from modelphase.frame import Panel

__all__ = [
    "CapacityPlan",
    "SeriesPlan",
    "breach_probability",
    "forecast_demand",
    "plan_capacity",
    "plan_levels",
]

_HI = re.compile(r"^yhat[-_]hi[-_](\d+(?:\.\d+)?)$")
#: the interval levels a plan asks a forecaster for, beside the one its risk needs: they
#: give the demand's distribution its shape for the risk-taken figures
SHAPE_LEVELS = (50.0, 80.0, 90.0, 95.0)


def plan_levels(risk: float) -> list[float]:
    """The interval levels to forecast for a plan at ``risk``."""
    _check_risk(risk)
    return sorted({*SHAPE_LEVELS, _level(risk)})


def forecast_demand(
    panel: Panel | None,
    h: int | None,
    risk: float,
    *,
    forecaster: Any | None = None,
    models: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """The demand forecast a plan at ``risk`` reads: from a registered ``forecaster``
    (:class:`~modelphase.forecast.trained.TrainedForecaster`; refitted on ``panel``, or
    the forecast it made when trained when ``panel`` is None; ``h`` at most its
    horizon), or from the forecasting stack on ``panel`` with ``models`` (the default
    candidates when None). A forecaster without the interval the risk needs is refused."""
    from modelphase.forecast import AutoForecast  # heavy to import

    wanted = plan_levels(risk)
    if forecaster is not None:
        have = [float(lv) for lv in forecaster.levels]
        if not any(math.isclose(lv, _level(risk)) for lv in have):
            shown = ", ".join(f"{lv:g}" for lv in have) or "none"
            raise ValidationError(
                f"a plan at risk {risk:g} needs the forecaster's {_level(risk):g}% interval; "
                f"it has levels: {shown}",
                hint=f"add {_level(risk):g} to the spec's levels and retrain, or pass a --risk "
                "whose level it has (--risk 0.025 for 95)",
            )
        levels = [lv for lv in have if any(math.isclose(lv, w) for w in wanted)]
        if panel is None:
            return forecaster.predict(h, level=levels)  # type: ignore[no-any-return]
        found, _ = forecaster.forecast(panel, h, level=levels)
        return found  # type: ignore[no-any-return]
    if panel is None or h is None:
        raise ValidationError("expected demand history and a horizon to forecast")
    return AutoForecast(models, ensemble=models is None).fit_predict(panel, h, level=wanted)


def _level(risk: float) -> float:
    return round(100 * (1 - 2 * risk), 6)


def _check_risk(risk: float) -> None:
    if not (math.isfinite(risk) and 0 < risk < 0.5):
        raise ValidationError(
            f"expected a risk between 0 and 0.5 (the chance a step's demand exceeds the "
            f"planned capacity), got {risk:g}",
            hint="pass e.g. --risk 0.01 for p(SLO breach) <= 1% per step",
        )


@dataclass(frozen=True)
class SeriesPlan:
    """One series' plan in figures: cost, risk, peak, limit."""

    unique_id: str
    steps: int
    replica_hours: float
    expected_breach_steps: float
    max_step_risk: float
    peak_ds: str
    peak_demand: float
    peak_demand_hi: float
    peak_replicas: int
    first_replicas: int
    limit_replicas: int | None = None
    headroom: float | None = None
    limit_crossed_expected: str | None = None
    limit_crossed_at_risk: str | None = None
    capped_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CapacityPlan:
    """The plan: ``table`` has one row per series and step (``unique_id, ds, ask_at,
    yhat, demand_hi, needed, replicas, breach_probability``); ``series`` the figures of
    each series; and the settings it was made with."""

    table: pd.DataFrame
    series: list[SeriesPlan]
    capacity: CapacityModel
    risk: float
    level: float
    step: int
    startup: int
    stabilise: int
    max_replicas: int | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self, *, steps: bool = True) -> dict[str, Any]:
        """A JSON-able view; ``steps=False`` leaves out the per-step rows."""
        out: dict[str, Any] = {
            "risk": self.risk,
            "level": self.level,
            "step_seconds": self.step // 10**9,
            "startup_seconds": self.startup // 10**9,
            "stabilise_seconds": self.stabilise // 10**9,
            "max_replicas": self.max_replicas,
            "capacity": self.capacity.to_dict(),
            "replica_hours": round(sum(s.replica_hours for s in self.series), 6),
            "expected_breach_steps": round(sum(s.expected_breach_steps for s in self.series), 6),
            "series": [s.to_dict() for s in self.series],
            "notes": list(self.notes),
        }
        if steps:
            rows = self.table.assign(
                ds=_iso(self.table["ds"]), ask_at=_iso(self.table["ask_at"])
            ).to_dict(orient="records")
            out["steps"] = [{k: _plain(v) for k, v in r.items()} for r in rows]
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return round(float(value), 6)
    return value


def _iso(values: pd.Series[Any]) -> pd.Series[Any]:
    return pd.to_datetime(values, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantile_columns(forecast: pd.DataFrame) -> list[tuple[float, str]]:
    """``(q, column)`` for every quantile the forecast has, ``yhat`` the median."""
    cols: list[tuple[float, str]] = [(0.5, "yhat")]
    for c in forecast.columns:
        m = _HI.match(str(c))
        if m:
            level = float(m.group(1))
            lo = str(c).replace("hi", "lo")
            cols.append((0.5 + level / 200, str(c)))
            if lo in forecast.columns:
                cols.append((0.5 - level / 200, lo))
    return sorted(cols)


def breach_probability(
    quantiles: NDArray[np.float64], values: NDArray[np.float64], supply: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``p(demand > supply)`` per step from the demand's known quantiles: ``values[i, j]``
    is step ``i``'s quantile ``quantiles[j]`` (ascending). Linear between the known
    points; beyond the last one, its tail ``1 - q`` (an upper bound), before the first
    one ``1 - q_first`` (a lower bound, the conservative side too)."""
    q = np.asarray(quantiles, dtype=np.float64)
    v = np.maximum.accumulate(np.asarray(values, dtype=np.float64), axis=1)  # monotone
    out = np.empty(len(supply))
    for i, s in enumerate(np.asarray(supply, dtype=np.float64)):
        row = v[i]
        if s >= row[-1]:
            out[i] = 1 - q[-1]
        elif s < row[0]:
            out[i] = 1 - q[0]
        else:
            # the largest quantile at or below the supply, and the next
            j = int(np.searchsorted(row, s, side="right")) - 1
            lo_v, hi_v = row[j], row[min(j + 1, len(row) - 1)]
            share = (s - lo_v) / (hi_v - lo_v) if hi_v > lo_v else 1.0
            out[i] = 1 - (q[j] + share * (q[min(j + 1, len(q) - 1)] - q[j]))
    return np.clip(out, 0.0, 1.0)


def plan_capacity(
    forecast: pd.DataFrame,
    *,
    capacity: CapacityModel | float,
    risk: float = 0.01,
    step: int,
    startup: int = 0,
    stabilise: int = 300 * 10**9,
    current: Mapping[str, int] | None = None,
    max_replicas: int | None = None,
    min_replicas: int = 1,
) -> CapacityPlan:
    """The plan for every series of ``forecast`` (its steps ``step`` ns apart; the
    forecast's origin is one step before its first ``ds``). ``startup`` and
    ``stabilise`` are in ns; ``current`` the replicas each series runs now."""
    model = capacity if isinstance(capacity, CapacityModel) else declared(float(capacity))
    _check_risk(risk)
    if step <= 0 or startup < 0 or startup % step or stabilise < 0:
        raise ValidationError(
            f"expected a start-up delay of whole steps (>= 0) and a stabilisation >= 0, got "
            f"{startup / 1e9:g} s and {stabilise / 1e9:g} s at a step of {step / 1e9:g} s",
            hint="pass --startup as a multiple of the forecast's step, e.g. 2m at 1m",
        )
    if min_replicas < 0 or (max_replicas is not None and max_replicas < max(1, min_replicas)):
        raise ValidationError(
            f"expected 0 <= min replicas <= max replicas (>= 1), got {min_replicas} and "
            f"{max_replicas}"
        )
    missing = {"unique_id", "ds", "yhat"} - set(forecast.columns)
    if missing or not len(forecast):
        raise ValidationError(
            f"expected a forecast with unique_id, ds, yhat and intervals, got "
            f"{'no rows' if not missing else 'no ' + ', '.join(sorted(missing))}"
        )
    level = _level(risk)
    hi_col = next(
        (c for q, c in _quantile_columns(forecast) if math.isclose(q, 0.5 + level / 200)), None
    )
    if hi_col is None:
        have = sorted(
            {round(abs(200 * (q - 0.5)), 6) for q, _ in _quantile_columns(forecast)} - {0}
        )
        raise ValidationError(
            f"a plan at risk {risk:g} needs the forecast's {level:g}% interval, got "
            f"{'no intervals' if not have else 'levels ' + ', '.join(f'{x:g}' for x in have)}",
            hint=f"add {level:g} to the forecaster's levels (and retrain), or pass a --risk "
            "whose level it has, e.g. --risk 0.025 for a 95% interval",
        )
    qcols = _quantile_columns(forecast)
    ahead = startup // step
    window = max(1, stabilise // step)
    frames, figures = [], []
    for uid, part in forecast.groupby("unique_id", sort=True):
        part = part.sort_values("ds")
        ds = pd.to_datetime(part["ds"], utc=True)
        hi = np.maximum(part[hi_col].to_numpy(dtype=np.float64), 0.0)
        if not np.isfinite(hi).all():
            raise ValidationError(
                f"series {uid}: expected finite forecast quantiles, got NaN or infinity",
                hint="check the forecaster's output for this series",
            )
        need = np.maximum(np.ceil(hi / model.capacity - 1e-9).astype(np.int64), min_replicas)
        held = pd.Series(need).rolling(window, min_periods=1).max().to_numpy(dtype=np.int64)
        now = None if current is None else current.get(str(uid))
        if now is not None and ahead:
            held[:ahead] = now  # too late to change: already asked for (or not)
        capped = 0
        if max_replicas is not None:
            capped = int((held > max_replicas).sum())
            held = np.minimum(held, max_replicas)
        values = part[[c for _, c in qcols]].to_numpy(dtype=np.float64)
        p = breach_probability(np.array([q for q, _ in qcols]), values, held * model.capacity)
        yhat = part["yhat"].to_numpy(dtype=np.float64)
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": str(uid), "ds": ds.to_numpy(),
                    "ask_at": (ds - pd.Timedelta(startup, "ns")).to_numpy(),
                    "yhat": yhat, "demand_hi": hi, "needed": need, "replicas": held,
                    "breach_probability": p,
                }
            )
        )  # fmt: skip
        figures.append(_figures(str(uid), ds, yhat, hi, held, p, model, step, max_replicas, capped))
    table = pd.concat(frames, ignore_index=True)
    table["ds"] = pd.to_datetime(table["ds"], utc=True)
    table["ask_at"] = pd.to_datetime(table["ask_at"], utc=True)
    notes = list(model.notes)
    notes.append(
        "the risk is the demand forecast's; the capacity per replica is planned at "
        f"{model.capacity:.4g} ({model.source}), its uncertainty not folded in"
    )
    if any(f.capped_steps for f in figures):
        notes.append(f"--max-replicas {max_replicas} caps the plan: steps above it breach more")
    return CapacityPlan(
        table, figures, model, risk, level, step, startup, stabilise, max_replicas, tuple(notes)
    )


def _figures(
    uid: str,
    ds: pd.Series[Any],
    yhat: NDArray[np.float64],
    hi: NDArray[np.float64],
    replicas: NDArray[np.int64],
    p: NDArray[np.float64],
    model: CapacityModel,
    step: int,
    max_replicas: int | None,
    capped: int,
) -> SeriesPlan:
    at = int(np.argmax(hi))
    stamp = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in ds]
    limit_exp = limit_risk = None
    headroom = None
    if max_replicas is not None:
        limit = max_replicas * model.capacity
        headroom = round(1 - float(hi.max()) / limit, 6)
        over_exp = np.flatnonzero(yhat > limit)
        over_risk = np.flatnonzero(hi > limit)
        limit_exp = stamp[int(over_exp[0])] if over_exp.size else None
        limit_risk = stamp[int(over_risk[0])] if over_risk.size else None
    return SeriesPlan(
        unique_id=uid,
        steps=len(hi),
        replica_hours=round(float(replicas.sum()) * step / 3600e9, 6),
        expected_breach_steps=round(float(p.sum()), 6),
        max_step_risk=round(float(p.max()), 6),
        peak_ds=stamp[at],
        peak_demand=round(float(yhat[at]), 6),
        peak_demand_hi=round(float(hi[at]), 6),
        peak_replicas=int(replicas.max()),
        first_replicas=int(replicas[0]),
        limit_replicas=max_replicas,
        headroom=headroom,
        limit_crossed_expected=limit_exp,
        limit_crossed_at_risk=limit_risk,
        capped_steps=capped,
    )
