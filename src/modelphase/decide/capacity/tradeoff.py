"""Cost/performance trade-offs: the cheapest configuration (replicas, cores and memory per
replica, instance type) whose latency stays within the SLO at a planned load, at a
stated risk, and the Pareto front of cost against latency (``modelphase capacity
tradeoff``).

**The risk.** ``p(a window's latency percentile > slo_latency) <= risk`` at the planned
load: the search asks, per configuration, for the conditional ``1 - risk`` quantile of
the recorded percentile (the p99 of a window, say) and keeps those at or under the SLO.

**The regression** (:class:`LatencyQuantileModel`) is a location-scale model of the log
latency, both parts gradient-boosted trees (LightGBM, a dependency already) with the
physics built in as monotone constraints: more load per replica (and per core) is never
faster, more cores or memory never slower; the instance type is categorical. The
location is the mean log latency; the scale is the mean absolute residual, both
non-decreasing in the load; the quantile is ``location + k * scale``, ``k`` the
``1 - risk`` quantile of the standardised out-of-fold residuals (five contiguous time
blocks, so ``k`` also carries the model's own error). LightGBM refuses monotone
constraints with its quantile loss, and a direct 99% quantile from trees rests on a
handful of points per leaf; the location-scale form borrows strength from all rows and
keeps the tail's shape empirical, at the price of assuming that shape is the same
everywhere (the hold-out checks it). Replicas enter only through the load per replica:
load is assumed spread evenly, so that replicas at the same load behave alike.

**Quality** is measured before the search on a time-ordered hold-out: fit on the first
80% of the rows (in the order given: time order), predict the last 20%; the pinball loss
of the quantile (seconds, beside a constant quantile's) and the share of hold-out windows
above it, which should be near ``risk``; a share significantly above says the tail is
underestimated (a note says so). The search uses the model refitted on all rows.

**Never silently extrapolate.** A candidate is *trusted* when its cores, memory and
instance type ran together in the telemetry and its load per replica is no higher than
the ``min_support``-th highest (10) seen with them. A lower load per replica, seen or
not, is trusted: the constrained model is flat below the data, which by monotonicity
bounds the latency from above. Untrusted candidates are listed (with the reason) but
never chosen and not on the front. Replicas or a total load beyond those seen are noted.

**The search** enumerates replicas ``1..max_replicas`` times the cores and memory seen
(or given) times the instance types seen, prices each (:class:`Prices`: per
replica-hour, per instance type, per core-hour and per GiB-hour, summed), and answers the
cheapest trusted one meeting the SLO (ties: lower latency, then fewer replicas) and the
front of the trusted ones (no other is as cheap and as fast, one strictly). When none
meets it, a :class:`~modelphase.exceptions.ValidationError` names the best and what to
change. :func:`tradeoff_json` is the same over plain data (the HTTP shape).

>>> from modelphase.simulate.resources import ResourceModel, resource_telemetry
>>> truth = ResourceModel(core_rate={"a": 40.0, "b": 60.0})  # b: faster cores
>>> rows = resource_telemetry(truth, [(2, 8, "a"), (2, 8, "b")], days=4, seed=0)
>>> found = tradeoff(rows, latency="p99", load="rps", replicas="replicas", cpu="cpu",
...     memory="memory", instance="instance_type", slo_latency=0.3, planned_load=1200,
...     risk=0.05, prices=Prices(instance={"a": 0.0, "b": 0.05}, core_hour=0.04))
>>> describe(found.chosen), found.chosen["cost_per_hour"]
('14 replicas x 2 cpu, 8 GiB on b', 1.82)
>>> bool(truth.exceedance(0.3, 1200, 14, 2, 8, "b") <= 0.05)  # the truth agrees
True
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import binom

from modelphase.exceptions import MissingColumnsError, ValidationError

__all__ = [
    "MAX_CONFIGURATIONS",
    "MAX_REPLICAS",
    "MAX_TELEMETRY_ROWS",
    "LatencyQuantileModel",
    "Prices",
    "Tradeoff",
    "tradeoff",
    "tradeoff_json",
]

F64 = NDArray[np.float64]
#: rows of telemetry one trade-off may learn from
MAX_TELEMETRY_ROWS = 500_000
#: the largest ``max_replicas``
MAX_REPLICAS = 10_000
#: candidate configurations one search may price
MAX_CONFIGURATIONS = 200_000
#: resource values one list (cores or memory) may give
MAX_VALUES = 64
#: rows a fit needs at the least
MIN_ROWS = 50
#: the resources of a configuration, in the order of the output
RESOURCES = ("replicas", "cpu", "memory", "instance_type")
_HOLDOUT = 0.2


@dataclass(frozen=True)
class Prices:
    """USD per hour of one replica: ``replica_hour`` + ``instance[type]`` + cores x
    ``core_hour`` + GiB x ``gib_hour``. With an instance type column every type seen
    needs a price (0 is one)."""

    instance: Mapping[str, float] = field(default_factory=dict)
    replica_hour: float = 0.0
    core_hour: float = 0.0
    gib_hour: float = 0.0


class LatencyQuantileModel:
    """The ``quantile`` of the latency, location-scale on its log (module docstring).
    ``fit(x, y, monotone, categorical)``: features, latencies (s, > 0), the constraint
    per column (+1, -1, 0), the categorical columns; ``predict(x)`` gives seconds and
    ``exceedance(x, threshold)`` the point estimate of ``p(latency > threshold)``."""

    def __init__(
        self, *, quantile: float = 0.99, confidence: float = 0.9, n_estimators: int = 300,
        learning_rate: float = 0.05, num_leaves: int = 15, min_child_samples: int = 20,
        folds: int = 5, n_boot: int = 200, seed: int = 0,
    ) -> None:  # fmt: skip
        self.quantile = quantile
        self.confidence = confidence
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.folds = folds
        self.n_boot = n_boot
        self.seed = seed

    def _booster(self, x: F64, y: F64, monotone: Sequence[int], categorical: Sequence[int]) -> Any:
        import lightgbm as lgb

        params = {
            "objective": "l2", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "monotone_constraints": list(monotone),
            "monotone_constraints_method": "advanced", "seed": self.seed, "deterministic": True,
            "force_row_wise": True, "num_threads": 1, "verbosity": -1,
        }  # fmt: skip
        data = lgb.Dataset(x, y, categorical_feature=list(categorical), params={"verbosity": -1})
        return lgb.train(params, data, num_boost_round=self.n_estimators)

    def fit(
        self, x: F64, y: F64, monotone: Sequence[int], categorical: Sequence[int] = ()
    ) -> LatencyQuantileModel:
        if not (0.5 < self.quantile < 1 and 0.5 <= self.confidence < 1):
            raise ValidationError(
                f"expected a quantile in (0.5, 1) and a confidence in [0.5, 1), got "
                f"{self.quantile:g} and {self.confidence:g}"
            )
        log_y, n = np.log(y), len(y)
        folds = max(2, min(self.folds, n // self.min_child_samples))
        block = np.arange(n) * folds // n
        oof = np.empty(n)
        for k in range(folds):
            out = block == k
            oof[out] = self._booster(x[~out], log_y[~out], monotone, categorical).predict(x[out])
        self.location_ = self._booster(x, log_y, monotone, categorical)
        self.scale_ = self._booster(x, np.abs(log_y - oof), monotone, categorical)
        u = (log_y - oof) / np.maximum(self.scale_.predict(x), 1e-6)
        # the quantile of u at the upper end of its moving-block bootstrap (40 blocks of
        # consecutive rows: residuals are autocorrelated)
        rng = np.random.default_rng(self.seed)
        size = max(1, n // 40)
        draws = np.empty(self.n_boot)
        for b in range(self.n_boot):
            starts = rng.integers(0, n - size + 1, -(-n // size))
            draws[b] = np.quantile(u[(starts[:, None] + np.arange(size)).ravel()], self.quantile)
        point = float(np.quantile(u, self.quantile))
        self.k_ = max(0.0, point, float(np.quantile(draws, self.confidence)))
        self.residuals_ = np.sort(u)
        return self

    def _parts(self, x: F64) -> tuple[F64, F64]:
        if not hasattr(self, "k_"):
            raise ValidationError("this model is not fitted: call fit(x, y, monotone) first")
        return self.location_.predict(x), np.maximum(self.scale_.predict(x), 1e-6)

    def predict(self, x: F64) -> F64:
        location, scale = self._parts(x)
        return np.asarray(np.exp(location + self.k_ * scale), dtype=np.float64)

    def exceedance(self, x: F64, threshold: float) -> F64:
        location, scale = self._parts(x)
        z = (math.log(threshold) - location) / scale
        below = np.searchsorted(self.residuals_, z, side="right")
        return np.asarray(1.0 - below / len(self.residuals_), dtype=np.float64)


@dataclass(frozen=True)
class Tradeoff:
    """The answer: ``chosen`` (one configuration's record), the ``front`` and all the
    ``candidates`` (frames: the resources, ``load_per_replica``, ``predicted_latency``
    (the ``1 - risk`` quantile, s), ``estimated_risk`` (the point estimate of
    ``p(latency > SLO)``), ``cost_per_hour``, ``meets_slo``; the candidates add
    ``trusted`` and ``untrusted_because``), the hold-out ``fit`` quality, the
    ``settings`` and ``notes``."""

    chosen: dict[str, Any]
    front: pd.DataFrame
    candidates: pd.DataFrame
    fit: dict[str, Any]
    settings: dict[str, Any]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the chosen one, the front, counts, fit quality, settings, notes."""
        c = self.candidates
        counts = {"total": len(c), "trusted": int(c["trusted"].sum())}
        counts["meeting_slo"] = int((c["trusted"] & c["meets_slo"]).sum())
        return {
            "chosen": self.chosen, "front": _records(self.front), "candidates": counts,
            "fit": self.fit, "settings": self.settings, "notes": list(self.notes),
        }  # fmt: skip


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame.to_dict("records")
    return [
        {str(k): v.item() if isinstance(v, np.generic) else v for k, v in r.items()} for r in rows
    ]


def _fail(message: str, hint: str = "") -> ValidationError:
    return ValidationError(message, hint=hint)


def _table(data: pd.DataFrame | Mapping[str, Sequence[Any]], names: dict[str, str]) -> pd.DataFrame:
    """The used columns under their canonical names, numbers checked, incomplete rows
    dropped; rows keep their order (time order)."""
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
    if not len(frame):
        raise _fail("expected telemetry rows, got none", "give the history of windows")
    if len(frame) > MAX_TELEMETRY_ROWS:
        raise _fail(
            f"expected at most {MAX_TELEMETRY_ROWS:,} telemetry rows, got {len(frame):,}",
            "aggregate to longer windows or give a shorter history",
        )
    found = [str(c) for c in frame.columns]
    missing = [c for c in names.values() if c not in found]
    if missing:
        message = f"expected columns {missing} in the telemetry, got {found}"
        raise MissingColumnsError(message, missing=missing, found=found)
    out = pd.DataFrame(index=frame.index)
    for key, col in names.items():
        text = frame[col].astype("string").str.strip()
        if key == "instance_type":
            out[key] = text.where(text != "")
            continue
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = np.flatnonzero(values.isna() & ~(text.isna() | text.isin(["", "nan", "NaN"])))
        if bad.size:
            raise ValidationError(
                f"column {col!r}: expected numbers, got text", rows=(bad[:10] + 1).tolist(),
                hint="fix or remove those rows",
            )  # fmt: skip
        out[key] = values.astype(np.float64)
    keep = np.isfinite(out["latency"]) & (out["latency"] > 0)
    if not keep.any():
        raise _fail(
            f"column {names['latency']!r}: expected latencies > 0 (seconds), got no finite one",
            "check that the latency column names the latency percentile",
        )
    keep &= out.notna().all(axis=1)
    for key in ("load", "replicas", "cpu", "memory"):
        if key in out:
            keep &= np.isfinite(out[key]) & (out[key] > 0)
    out = pd.DataFrame(out.loc[keep]).reset_index(drop=True)
    if len(out) < MIN_ROWS:
        raise _fail(
            f"expected at least {MIN_ROWS} complete rows (latency > 0, load, replicas, cores and "
            f"memory > 0), got {len(out)}", "give a longer history",
        )  # fmt: skip
    return out


def _features(table: pd.DataFrame, types: Sequence[str]) -> tuple[F64, list[int], list[int]]:
    """The feature matrix (load per replica, per core, cores, memory, instance code),
    the monotone constraint of each column and the categorical column."""
    lpr = table["load"].to_numpy() / (table["replicas"].to_numpy() if "replicas" in table else 1.0)
    cols, mono, cat = [lpr], [1], []
    if "cpu" in table:
        cols += [lpr / table["cpu"].to_numpy(), table["cpu"].to_numpy()]
        mono += [1, -1]
    if "memory" in table:
        cols.append(table["memory"].to_numpy())
        mono.append(-1)
    if "instance_type" in table:
        codes = table["instance_type"].map({t: i for i, t in enumerate(types)})
        cols.append(codes.to_numpy(dtype=np.float64))
        mono.append(0)
        cat.append(len(cols) - 1)
    return np.column_stack(cols).astype(np.float64), mono, cat


def _combos(table: pd.DataFrame) -> list[str]:
    """Each row's cores, memory and type in words (the key of what ran together)."""
    parts = [table[k].map(f"{k} {{:g}}".format) for k in ("cpu", "memory") if k in table]
    parts += [table["instance_type"].astype(str)] if "instance_type" in table else []
    return [", ".join(r) for r in zip(*parts, strict=True)] if parts else [""] * len(table)


def _support(table: pd.DataFrame, min_support: int) -> dict[str, float]:
    """Per combination: the ``min_support``-th highest load per replica seen with it."""
    lpr = pd.Series((table["load"] / table.get("replicas", 1.0)).to_numpy())
    edges = {}
    for key, values in lpr.groupby(_combos(table)):
        top = np.sort(values.to_numpy())[::-1]
        edges[str(key)] = float(top[min(min_support, len(top)) - 1])
    return edges


def _trust(cand: pd.DataFrame, edges: dict[str, float], min_support: int) -> list[str]:
    """Why each candidate is not trusted ('' when it is)."""
    out = []
    for combo, lpr in zip(_combos(cand), cand["load_per_replica"], strict=True):
        if combo not in edges:
            out.append(f"{combo or 'it'} never ran in the telemetry")
        elif lpr > edges[combo] * (1 + 1e-9):
            out.append(f"load per replica {lpr:.4g} above {edges[combo]:.4g}, the "
                       f"{min_support}th highest seen")  # fmt: skip
        else:
            out.append("")
    return out


def _pinball(y: F64, q: F64, tau: float) -> float:
    return float(np.mean(np.maximum(tau * (y - q), (tau - 1) * (y - q))))


def _quality(table: pd.DataFrame, model: LatencyQuantileModel, min_support: int) -> dict[str, Any]:
    """Fit on the first 80% of rows, judge the quantile on the last 20% (in range)."""
    cut = int(len(table) * (1 - _HOLDOUT))
    fit, held = table.iloc[:cut], table.iloc[cut:].reset_index(drop=True)
    types = sorted(set(fit["instance_type"])) if "instance_type" in fit else []
    if types:
        held = held[held["instance_type"].isin(types)].reset_index(drop=True)
    tau = model.quantile
    x_fit, mono, cat = _features(fit, types)
    params = {k: getattr(model, k) for k in inspect.signature(type(model)).parameters}
    part = LatencyQuantileModel(**params).fit(x_fit, fit["latency"].to_numpy(), mono, cat)
    probe = held.assign(load_per_replica=held["load"] / held.get("replicas", 1.0))
    inside = np.array([not r for r in _trust(probe, _support(fit, min_support), 1)], dtype=bool)
    report: dict[str, Any] = {
        "rows": len(table), "fit_rows": cut, "holdout_rows": len(table) - cut,
        "holdout_in_range": int(inside.sum()), "quantile": tau, "pinball_log": None,
        "pinball_log_constant": None, "exceedance": None, "exceedance_p_value": None,
    }  # fmt: skip
    if not inside.any():
        return report
    y = np.log(held["latency"].to_numpy()[inside])
    q = np.log(part.predict(_features(held, types)[0][inside]))
    over = int((y > q).sum())
    constant = np.full_like(y, np.log(np.quantile(fit["latency"], tau)))
    return report | {
        "pinball_log": _pinball(y, q, tau), "pinball_log_constant": _pinball(y, constant, tau),
        "exceedance": over / len(y),
        "exceedance_p_value": float(binom.sf(over - 1, len(y), 1 - tau)),
    }  # fmt: skip


def _values(given: Sequence[float] | None, seen: pd.Series, what: str) -> list[float]:
    values = sorted({float(v) for v in (seen if given is None else given)})
    if (
        not values
        or len(values) > MAX_VALUES
        or not all(math.isfinite(v) and v > 0 for v in values)
    ):
        shown = list(seen if given is None else given)[: MAX_VALUES + 1]
        raise _fail(f"expected 1 to {MAX_VALUES} {what} values > 0, got {shown}")
    return values


def _check(slo_latency: float, planned_load: float, risk: float, max_replicas: int) -> None:
    if not (math.isfinite(planned_load) and planned_load > 0):
        raise _fail(
            f"expected a planned load > 0 (e.g. the forecast's peak), got {planned_load:g}",
            "pass the load to plan for, e.g. 1200 (requests/s)",
        )
    if not (math.isfinite(slo_latency) and slo_latency > 0):
        raise _fail(f"expected an SLO latency > 0 (seconds), got {slo_latency:g}")
    if not 0 < risk < 0.5:
        raise _fail(f"expected a risk in (0, 0.5), got {risk:g}", "e.g. 0.01 for 1% of windows")
    if not 1 <= max_replicas <= MAX_REPLICAS:
        raise _fail(f"expected max replicas in 1..{MAX_REPLICAS:,}, got {max_replicas}")


def _costs(cand: pd.DataFrame, prices: Prices, types: Sequence[str]) -> F64:
    values = [prices.replica_hour, prices.core_hour, prices.gib_hour, *prices.instance.values()]
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise _fail("expected prices >= 0 (USD per hour), got a negative or non-finite one")
    missing = [t for t in types if t not in prices.instance]
    if missing:
        raise _fail(
            f"expected a price for every instance type seen, got none for {missing}",
            f"price each, e.g. {missing[0]}=0.20 (USD per replica-hour; 0 is a price)",
        )
    if prices.instance and not types:
        raise _fail(
            f"got prices by instance type {sorted(prices.instance)} but no instance type column",
            "name the instance type column, or price per replica-hour",
        )
    per = np.full(len(cand), prices.replica_hour)
    if types:
        per = per + cand["instance_type"].map(dict(prices.instance)).to_numpy(dtype=np.float64)
    for key, price in (("cpu", prices.core_hour), ("memory", prices.gib_hour)):
        if price and key not in cand:
            raise _fail(f"got a price per {key} unit but no {key} column in the telemetry")
        if key in cand:
            per = per + cand[key].to_numpy() * price
    if not (per > 0).any():
        raise _fail(
            "expected prices that make some configuration cost more than 0, got all zero",
            "price the instance types, replica-hours, core-hours or GiB-hours",
        )
    return np.asarray(per * cand["replicas"].to_numpy(), dtype=np.float64)


def _front(trusted: pd.DataFrame) -> pd.DataFrame:
    """The non-dominated rows of ``trusted``, sorted by cost then latency: each row kept
    is faster than every cheaper one."""
    lat = trusted["predicted_latency"].to_numpy()
    keep = lat < np.concatenate([[np.inf], np.minimum.accumulate(lat)[:-1]])
    return trusted[keep].reset_index(drop=True)


def _candidates(
    table: pd.DataFrame, max_replicas: int, cpu: Sequence[float] | None,
    memory: Sequence[float] | None, types: Sequence[str],
) -> pd.DataFrame:  # fmt: skip
    axes: dict[str, list[Any]] = {"replicas": list(range(1, max_replicas + 1))}
    if "replicas" not in table:
        axes["replicas"] = [1]
    if "cpu" in table:
        axes["cpu"] = _values(cpu, table["cpu"], "cpu")
    if "memory" in table:
        axes["memory"] = _values(memory, table["memory"], "memory")
    if types:
        axes["instance_type"] = list(types)
    n = math.prod(len(v) for v in axes.values())
    if n > MAX_CONFIGURATIONS:
        raise _fail(
            f"expected at most {MAX_CONFIGURATIONS:,} candidate configurations, got {n:,}",
            "lower the max replicas or give fewer cpu/memory values",
        )
    return pd.MultiIndex.from_product(list(axes.values()), names=list(axes)).to_frame(index=False)


def tradeoff(
    telemetry: pd.DataFrame | Mapping[str, Sequence[Any]], *, latency: str, load: str,
    replicas: str | None = None, cpu: str | None = None, memory: str | None = None,
    instance: str | None = None, slo_latency: float, planned_load: float, risk: float = 0.01,
    prices: Prices, max_replicas: int = 100, cpu_values: Sequence[float] | None = None,
    memory_values: Sequence[float] | None = None, min_support: int = 10, seed: int = 0,
) -> Tradeoff:  # fmt: skip
    """The cheapest configuration meeting ``p(latency > slo_latency) <= risk`` at
    ``planned_load``, learned from ``telemetry`` (rows in time order; the column names
    say which resources are part of a configuration, ``None`` for those that are not),
    and the Pareto front. See the module docstring for the method."""
    _check(slo_latency, planned_load, risk, max_replicas)
    if not 1 <= min_support <= 1000:
        raise _fail(f"expected min_support in 1..1000, got {min_support}")
    names = {"latency": latency, "load": load}
    names |= {k: v for k, v in zip(RESOURCES, (replicas, cpu, memory, instance), strict=True) if v}
    table = _table(telemetry, names)
    types = sorted(set(table["instance_type"])) if "instance_type" in table else []
    cand = _candidates(table, max_replicas, cpu_values, memory_values, types)
    cand["load_per_replica"] = planned_load / cand["replicas"]
    cand["cost_per_hour"] = np.round(_costs(cand, prices, types), 9)
    model = LatencyQuantileModel(quantile=1 - risk, seed=seed)
    quality = _quality(table, model, min_support)
    x, mono, cat = _features(table, types)
    model.fit(x, table["latency"].to_numpy(), mono, cat)
    x_cand = _features(cand.assign(load=planned_load), types)[0]
    cand["predicted_latency"] = model.predict(x_cand)
    cand["estimated_risk"] = model.exceedance(x_cand, slo_latency)
    cand["meets_slo"] = cand["predicted_latency"] <= slo_latency
    edges = _support(table, min_support)
    cand["untrusted_because"] = _trust(cand, edges, min_support)
    cand["trusted"] = cand["untrusted_because"] == ""
    order = ["cost_per_hour", "predicted_latency", *[k for k in RESOURCES if k in cand]]
    cand = cand.sort_values(order, kind="stable", ignore_index=True)
    trusted = cand[cand["trusted"]]
    front = _front(trusted).drop(columns=["trusted", "untrusted_because"])
    ok = trusted[trusted["meets_slo"]]
    settings = {
        "slo_latency": slo_latency, "load": planned_load, "risk": risk, "quantile": 1 - risk,
        "max_replicas": max_replicas if "replicas" in table else 1, "min_support": min_support,
        "columns": names, "instance_types": types, "confidence": model.confidence,
    }  # fmt: skip
    if not len(ok):
        raise _no_answer(cand, trusted, settings, max(edges.values()))
    chosen = _records(ok.head(1).drop(columns=["trusted", "untrusted_because"]))[0]
    hit = np.ones(len(front), dtype=bool)
    for key in RESOURCES:
        if key in chosen:
            hit &= (front[key] == chosen[key]).to_numpy()
    front["chosen"] = hit
    return Tradeoff(chosen, front, cand, quality, settings, tuple(_notes(table, chosen, quality)))


def describe(record: Mapping[str, Any]) -> str:
    """A configuration in words: ``12 replicas x 2 cpu, 8 GiB on b``."""
    text = f"{record.get('replicas', 1)} replicas"
    text += f" x {record['cpu']:g} cpu" if "cpu" in record else ""
    text += f", {record['memory']:g} GiB" if "memory" in record else ""
    return text + (f" on {record['instance_type']}" if "instance_type" in record else "")


def _no_answer(
    cand: pd.DataFrame, trusted: pd.DataFrame, settings: dict[str, Any], edge: float
) -> ValidationError:
    """Nothing meets the SLO: the best trusted configuration, and what to change."""
    what = (
        f"no configuration meets p(latency > {settings['slo_latency']:g} s) <= "
        f"{settings['risk']:g} at load {settings['load']:g}"
    )
    top = int(cand["replicas"].max())
    if not len(trusted):
        need = math.ceil(settings["load"] / edge)
        return _fail(
            f"{what}: every one runs at a load per replica above what the telemetry shows",
            f"allow at least {need} replicas (max replicas), the fewest that keep the load per "
            "replica within the telemetry, or plan for less load",
        )
    best = trusted.sort_values(["predicted_latency", "cost_per_hour"], kind="stable").iloc[0]
    named = describe({str(k): v for k, v in best.items()})
    what += (
        f": the best trusted one, {named}, has a predicted "
        f"{100 * settings['quantile']:g}% quantile of {best['predicted_latency']:.4g} s"
    )
    if int(best["replicas"]) == top and top > 1:
        return _fail(what, f"allow more than {top} replicas (max replicas), or relax the SLO")
    return _fail(
        what, "more replicas would not help in what the telemetry shows: relax the SLO latency "
        "or the risk, or add telemetry from bigger configurations (more cpu/memory, other types)",
    )  # fmt: skip


def _notes(table: pd.DataFrame, chosen: dict[str, Any], quality: dict[str, Any]) -> list[str]:
    notes, risk = [], 1 - quality["quantile"]
    even = "the answer assumes only the load per replica matters (load spread evenly)"
    if chosen["load_per_replica"] * chosen["replicas"] > float(table["load"].max()):
        notes.append(f"the planned load is above any seen ({table['load'].max():.4g}): {even}")
    if "replicas" in table and chosen["replicas"] > table["replicas"].max():
        notes.append(f"{chosen['replicas']} replicas is more than any seen: {even}")
    rate, p = quality["exceedance"], quality["exceedance_p_value"]
    if rate is None:
        notes.append("no hold-out window was in the range the fit saw: the fit is unchecked")
    elif p < 0.01 and rate > risk:
        notes.append(
            f"on the hold-out {rate:.2%} of windows were above the predicted quantile, against "
            f"a risk of {risk:g}: the tail is underestimated, the real risk is higher"
        )
    if quality["fit_rows"] * risk < 10:
        notes.append(
            f"{quality['fit_rows']} rows give fewer than 10 windows beyond the {1 - risk:g} "
            "quantile: its estimate is rough; give a longer history or a larger risk"
        )
    return notes


_JSON_KEYS = {
    "telemetry", "latency_column", "load_column", "replicas_column", "cpu_column",
    "memory_column", "instance_column", "slo_latency", "load", "risk", "max_replicas",
    "prices", "cpu_values", "memory_values", "min_support", "seed",
}  # fmt: skip


def tradeoff_json(payload: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`tradeoff` over plain data, for the HTTP API: ``telemetry`` as columns
    (``{"rps": [...], ...}``) or a list of row objects; the ``*_column`` names;
    ``slo_latency``, ``load``, ``risk``, ``max_replicas``, ``cpu_values``,
    ``memory_values``; ``prices`` as ``{"instance": {"a": 0.1}, "replica_hour": 0,
    "core_hour": 0, "gib_hour": 0}``. Returns :meth:`Tradeoff.to_dict`."""
    if not isinstance(payload, Mapping):
        raise _fail(f"expected a JSON object, got {type(payload).__name__}")
    unknown = sorted(set(payload) - _JSON_KEYS)
    if unknown:
        raise _fail(f"expected keys among {sorted(_JSON_KEYS)}, got unknown {unknown}")
    rows, raw = payload.get("telemetry"), payload.get("prices") or {}
    if isinstance(rows, list) and all(isinstance(r, Mapping) for r in rows):
        frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    elif isinstance(rows, Mapping) and all(isinstance(v, list) for v in rows.values()):
        if len({len(v) for v in rows.values()}) > 1:
            raise _fail("expected telemetry columns of one length, got several")
        frame = pd.DataFrame(dict(rows))
    else:
        raise _fail("expected telemetry as {column: [values]} or [{column: value}]")
    if not isinstance(raw, Mapping) or not set(raw) <= set(Prices.__dataclass_fields__):
        raise _fail("expected prices as {instance: {type: USD}, replica_hour, core_hour, gib_hour}")
    try:
        prices = Prices(
            instance={str(k): float(v) for k, v in dict(raw.get("instance") or {}).items()},
            **{k: float(raw[k]) for k in ("replica_hour", "core_hour", "gib_hour") if k in raw},
        )
        found = tradeoff(
            frame, latency=str(payload["latency_column"]), load=str(payload["load_column"]),
            **{k: payload.get(f"{k}_column") for k in ("replicas", "cpu", "memory", "instance")},
            slo_latency=float(payload["slo_latency"]), planned_load=float(payload["load"]),
            risk=float(payload.get("risk", 0.01)), prices=prices,
            max_replicas=int(payload.get("max_replicas", 100)),
            cpu_values=payload.get("cpu_values"), memory_values=payload.get("memory_values"),
            min_support=int(payload.get("min_support", 10)), seed=int(payload.get("seed", 0)),
        )  # fmt: skip
    except ValidationError:
        raise
    except KeyError as exc:
        raise _fail(f"expected key {exc.args[0]!r} in the request, got none") from None
    except (TypeError, ValueError) as exc:
        raise _fail(f"expected numbers and names in the request, got {exc}") from None
    return found.to_dict()
