"""Forecasting sets, peers and scores for ``benchmarks/generalization.py`` (issue 13).

A set is a list of :class:`Task`: one panel of training parts on its grid (what
``modelphase forecast`` would be given, gaps as NaN) and the held-out next ``h`` values
of each series. Every system forecasts each task in one call: modelphase through
``AutoForecast(n_jobs=...).fit_predict(panel, h, level=[80, 95])``, the statsforecast
peers on the same training values with inner gaps filled linearly (statsforecast takes
no NaN; modelphase fills them the same way itself).

Scores (pure functions, checked in ``tests/benchmarks/test_generalization.py``):

- MASE of a series: mean ``|y - f|`` over its observed held-out points, over ``scale``,
  the in-sample mean absolute error of the seasonal naive at the daily season on the
  training part (M4's own scale at m = 24 on M4 Hourly), of the one-step naive when the
  training part is shorter than two seasons or exactly periodic (scale 0). Series whose
  one-step scale is 0 too (constant) are left out and counted. The set's MASE is the
  mean over its series.
- Coverage at 80 and 95: share of all observed held-out points of the set inside the
  interval, pooled over series.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from m4 import load_long, to_frame, to_panel
from modelphase.frame import NS_PER_SECOND, Panel, format_duration

DAY = 86_400 * NS_PER_SECOND
WEEK = 7 * DAY
LEVELS = (80, 95)
MIN_NAB_DAYS = 3

Series = dict[str, np.ndarray]
Forecast = dict[str, Series]  # "mean", "lo-80", ... -> unique_id -> h values


# --- scoring ------------------------------------------------------------------------------


def daily_season(step: int) -> int:
    """Steps in a day, or 1 when the step is a day or more or does not divide a day."""
    return DAY // step if step < DAY and DAY % step == 0 else 1


def weekly_season(step: int) -> int:
    """Steps in a week for sub-daily steps that divide a week, else 0 (no weekly season)."""
    return WEEK // step if step < DAY and WEEK % step == 0 else 0


def mase_scale(x: np.ndarray, season: int) -> float:
    """Mean ``|x_t - x_{t-season}|`` over observed pairs (one-step when shorter than two
    seasons or when that is 0); 0.0 for a constant series."""
    x = np.asarray(x, dtype=float)
    lags = [season, 1] if season > 1 and len(x) >= 2 * season else [1]
    for lag in lags:
        d = np.abs(x[lag:] - x[:-lag])
        d = d[np.isfinite(d)]
        if len(d) and d.mean() > 0:
            return float(d.mean())
    return 0.0


def mase(y: np.ndarray, f: np.ndarray, scale: float) -> float:
    """Mean absolute error over the observed ``y``, over ``scale``; NaN if ``scale`` is 0
    or nothing was observed."""
    ok = np.isfinite(y)
    if scale <= 0 or not ok.any():
        return float("nan")
    return float(np.mean(np.abs(y[ok] - f[ok])) / scale)


def pooled_coverage(test: Series, lo: Series, hi: Series) -> float:
    """Share of the observed actuals inside ``[lo, hi]``, over all series and steps."""
    inside, n = 0, 0
    for uid, y in test.items():
        ok = np.isfinite(y)
        inside += int(((y >= lo[uid]) & (y <= hi[uid]) & ok).sum())
        n += int(ok.sum())
    return inside / n if n else float("nan")


# --- sets ---------------------------------------------------------------------------------


@dataclass
class Task:
    """One panel forecast in one call: ``panel`` holds the training parts on their grid
    (NaN where a sample is missing), ``test`` the next ``h`` values (NaN: not observed)."""

    label: str
    panel: Panel
    h: int
    test: Series

    @property
    def step(self) -> int:
        assert self.panel.step is not None
        return self.panel.step

    @property
    def season(self) -> int:
        return daily_season(self.step)

    def train(self) -> Series:
        """The training values with gaps filled linearly (ends: the nearest value)."""
        return {uid: fill_gaps(self.panel.series(uid)[1]) for uid in self.panel.ids}

    def scales(self) -> dict[str, float]:
        return {u: mase_scale(self.panel.series(u)[1], self.season) for u in self.panel.ids}


@dataclass
class ForecastSet:
    name: str
    tasks: list[Task]
    notes: list[str] = field(default_factory=list)

    @property
    def n_series(self) -> int:
        return sum(t.panel.n_series for t in self.tasks)


def fill_gaps(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float).copy()
    gaps = ~np.isfinite(y)
    if gaps.any() and not gaps.all():
        idx = np.arange(len(y))
        y[gaps] = np.interp(idx[gaps], idx[~gaps], y[~gaps])
    return y


def split_last(panel: Panel, h: int, label: str) -> Task:
    """The last ``h`` points of every series held out; the rest is the training panel."""
    items, test = [], {}
    for uid in panel.ids:
        ds, y = panel.series(uid)
        items.append((uid, ds[:-h], y[:-h]))
        test[uid] = y[-h:].copy()
    return Task(label, Panel.from_series(items, step=panel.step), h, test)


def m4_set(m4_dir: Path, n: int | None = None) -> ForecastSet:
    """M4 Hourly (h = 48), on the long files' hourly clock from 2000-01-01, as m4.py."""
    train = load_long(m4_dir / "Hourly-train-long.csv")
    test = load_long(m4_dir / "Hourly-test-long.csv")
    ids = list(train)[:n] if n else list(train)
    panel = to_panel({i: train[i] for i in ids})
    task = Task("hourly", panel, 48, {i: test[i] for i in ids})
    return ForecastSet("M4 Hourly", [task], [f"{len(ids)} series, h=48, season 24"])


def read_nab(path: Path) -> tuple[int, np.ndarray, np.ndarray, int]:
    """``(step, ds, y, n_dropped)``: samples sorted by time, snapped to the nearest
    multiple of the file's modal step since the epoch, the first of any repeated kept."""
    df = pd.read_csv(path)
    ds = pd.to_datetime(df["timestamp"]).to_numpy(dtype="datetime64[ns]").view(np.int64)
    y = df["value"].to_numpy(dtype=float)
    order = np.argsort(ds, kind="stable")
    ds, y = ds[order], y[order]
    gaps = np.diff(ds)
    gaps = gaps[gaps > 0]
    values, counts = np.unique(gaps, return_counts=True)
    step = int(values[np.argmax(counts)])
    snapped = (ds + step // 2) // step * step
    keep = np.r_[True, np.diff(snapped) > 0] & np.isfinite(y)
    return step, snapped[keep], y[keep], int((~keep).sum())


def nab_set(nab_dir: Path, files: Sequence[Path] | None = None) -> ForecastSet:
    """Each NAB file's last day at its own step from everything before it; one task per
    step. The grid is built by ``modelphase.ingest.prepare``, as ``modelphase ingest``."""
    from modelphase.ingest import prepare

    files = sorted((nab_dir / "data").glob("*/*.csv")) if files is None else list(files)
    groups: dict[int, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    notes: list[str] = []
    for path in files:
        rel = f"{path.parent.name}/{path.stem}"
        step, ds, y, dropped = read_nab(path)
        span_days = (ds[-1] - ds[0] + step) / DAY
        if DAY % step:
            notes.append(f"skipped {rel}: step {format_duration(step)} does not divide a day")
        elif span_days < MIN_NAB_DAYS:
            notes.append(f"skipped {rel}: {span_days:.1f} days < {MIN_NAB_DAYS}")
        else:
            groups.setdefault(step, []).append((rel, ds, y))
            if dropped:
                notes.append(f"{rel}: {dropped} repeated timestamp(s) dropped (first kept)")
    tasks = []
    for step, items in sorted(groups.items()):
        panel = prepare(Panel.from_series(items), step=step)
        task = split_last(panel, DAY // step, format_duration(step))
        tasks.append(task)
        missing = int(np.isnan(task.panel.y).sum())
        notes.append(
            f"step {task.label}: {panel.n_series} files, h={task.h}, {missing} missing "
            "training points (NaN for modelphase, filled linearly for the peers)"
        )
    return ForecastSet("NAB as forecasting", tasks, notes)


def fleet_set(
    seeds: Sequence[int],
    services: int,
    steps: Sequence[int],
    min_days: int = 5,
    max_days: int = 30,
) -> ForecastSet:
    """The simulator's fleet: per seed and step one panel of ``6 * services`` series with
    histories of ``min_days..max_days`` days (drawn per series, by seed), the last day
    held out. Its values are those of the same simulation without events
    (``events=False``), so no injected incident or surge is in the held-out day."""
    from modelphase.simulate import simulate

    tasks = []
    for seed in seeds:
        for step in steps:
            kw = {"services": services, "days": max_days + 1, "step": step, "seed": seed}
            sim, clean = simulate(**kw, events=True).panel, simulate(**kw, events=False).panel
            day = DAY // step
            rng = np.random.default_rng(seed)
            days = rng.integers(min_days, max_days + 1, size=sim.n_series)
            items, test = [], {}
            for uid, d in zip(sim.ids, days, strict=True):
                ds, y = sim.series(uid)
                n = int(d) * day
                items.append((uid, ds[-n - day : -day], y[-n - day : -day]))
                test[uid] = clean.series(uid)[1][-day:].copy()
            panel = Panel.from_series(items, step=step)
            tasks.append(Task(f"seed {seed}, {format_duration(step)}", panel, day, test))
    n = 6 * services
    note = (
        f"{len(seeds)} seed(s) x {format_duration(steps[0])}"
        + "".join(f"/{format_duration(s)}" for s in steps[1:])
        + f" x {n} series ({services} service(s)) = {n * len(seeds) * len(steps)} series; "
        f"histories {min_days}..{max_days} days; h = one day"
    )
    return ForecastSet("simulated fleet", tasks, [note])


# --- systems ------------------------------------------------------------------------------


@dataclass
class Output:
    """What a system gave on one task."""

    forecast: Forecast
    seconds: float
    fallbacks: int = 0
    chosen: Counter[str] = field(default_factory=Counter)


def run_modelphase(task: Task, n_jobs: int) -> Output:
    """``modelphase forecast``'s default path: AutoForecast, intervals at 80 and 95."""
    from modelphase.forecast import AutoForecast

    runner = AutoForecast(n_jobs=n_jobs)
    t0 = time.perf_counter()
    out = runner.fit_predict(task.panel, task.h, level=list(LEVELS))
    seconds = time.perf_counter() - t0
    keys = ["mean"] + [f"{side}-{lv}" for lv in LEVELS for side in ("lo", "hi")]
    fc: Forecast = {key: {} for key in keys}
    for uid, group in out.groupby("unique_id", sort=False):
        fc["mean"][str(uid)] = group["yhat"].to_numpy(dtype=float)
        for lv in LEVELS:
            for side in ("lo", "hi"):
                fc[f"{side}-{lv}"][str(uid)] = group[f"yhat-{side}-{lv}"].to_numpy(dtype=float)
    n_fb = len(getattr(runner, "fallbacks_", []))
    return Output(fc, seconds, n_fb, Counter(runner.chosen_.values()))


#: row name -> (statsforecast class, how its seasons follow from the daily season)
PEERS: dict[str, str] = {
    "SeasonalNaive": "SeasonalNaive(daily)",
    "MSTL": "MSTL(daily[, weekly])",
    "AutoTheta": "AutoTheta(daily)",
    "AutoETS": "AutoETS(min(daily, 24))",
}


def peer_groups(name: str, task: Task) -> list[tuple[Callable[[], Any], list[str]]]:
    """The statsforecast models of peer ``name`` for a task and the series each fits:
    MSTL adds the weekly season for series with two weeks and ``h`` of training data."""
    import statsforecast.models as sm

    d, ids = task.season, list(task.panel.ids)
    if name == "SeasonalNaive":
        return [(lambda: sm.SeasonalNaive(season_length=d), ids)]
    if name == "AutoTheta":
        return [(lambda: sm.AutoTheta(season_length=d), ids)]
    if name == "AutoETS":
        return [(lambda: sm.AutoETS(season_length=min(d, 24)), ids)]
    if name != "MSTL":
        raise ValueError(f"unknown peer {name!r}; expected one of {list(PEERS)}")
    w = weekly_season(task.step)
    sizes = dict(zip(task.panel.ids, task.panel.sizes().tolist(), strict=True))
    long = [u for u in ids if w and sizes[u] >= 2 * w + task.h]
    short = [u for u in ids if u not in long]
    groups: list[tuple[Callable[[], Any], list[str]]] = []
    if short:
        groups.append((lambda: sm.MSTL(season_length=d, alias="MSTL"), short))
    if long:
        groups.append((lambda: sm.MSTL(season_length=[d, w], alias="MSTL"), long))
    return groups


def statsforecast(model: Any, train: Series, h: int, n_jobs: int) -> Forecast:
    """One statsforecast model over the series of ``train`` on integer time steps."""
    from statsforecast import StatsForecast

    out = StatsForecast(models=[model], freq=1, n_jobs=n_jobs).forecast(
        df=to_frame(train), h=h, level=list(LEVELS)
    )
    alias = str(model.alias)
    fc: Forecast = {}
    for uid, g in out.groupby("unique_id", sort=False):
        fc.setdefault("mean", {})[str(uid)] = g[alias].to_numpy(dtype=float)
        for lv in LEVELS:
            for side in ("lo", "hi"):
                col = f"{alias}-{side}-{lv}"
                if col in g:
                    fc.setdefault(f"{side}-{lv}", {})[str(uid)] = g[col].to_numpy(dtype=float)
    return fc


def complete(fc: Forecast, uid: str, h: int) -> bool:
    """Every key of the forecast has ``h`` finite values for the series."""
    keys = ["mean"] + [f"{s}-{lv}" for lv in LEVELS for s in ("lo", "hi")]
    return all(
        uid in fc.get(k, {}) and fc[k][uid].shape == (h,) and np.isfinite(fc[k][uid]).all()
        for k in keys
    )


def run_peer(name: str, task: Task, n_jobs: int) -> Output:
    """A peer on every series of the task; where it fails or gives non-finite values,
    the series is forecast by itself, then by SeasonalNaive (counted as a fallback)."""
    import statsforecast.models as sm

    train = task.train()
    fc: Forecast = {}
    fallbacks = 0
    t0 = time.perf_counter()
    for make, ids in peer_groups(name, task):
        try:
            part = statsforecast(make(), {u: train[u] for u in ids}, task.h, n_jobs)
        except Exception:  # a peer that fails on the group is retried series by series
            part = {}
        for uid in ids:
            if not complete(part, uid, task.h):
                with contextlib.suppress(Exception):  # then SeasonalNaive, below
                    part = merge(part, statsforecast(make(), {uid: train[uid]}, task.h, 1))
            if not complete(part, uid, task.h):
                naive = sm.SeasonalNaive(season_length=task.season)
                part = merge(part, statsforecast(naive, {uid: train[uid]}, task.h, 1))
                fallbacks += 1
        fc = merge(fc, part)
    return Output(fc, time.perf_counter() - t0, fallbacks)


def merge(a: Forecast, b: Forecast) -> Forecast:
    """``b``'s series over ``a``'s, key by key."""
    return {k: a.get(k, {}) | b.get(k, {}) for k in a.keys() | b.keys()}


# --- one set, every system ----------------------------------------------------------------


@dataclass
class Score:
    system: str
    mase: float
    n_series: int
    n_unscaled: int
    cover: dict[int, float]
    seconds: float
    fallbacks: int
    chosen: dict[str, int]
    by_task: dict[str, float]


def score(system: str, tasks: Sequence[Task], outputs: Sequence[Output]) -> Score:
    """MASE (mean over the series of all tasks), pooled coverage, summed seconds."""
    values, by_task = [], {}
    test: Series = {}
    lo: dict[int, Series] = {lv: {} for lv in LEVELS}
    hi: dict[int, Series] = {lv: {} for lv in LEVELS}
    for task, out in zip(tasks, outputs, strict=True):
        scales = task.scales()
        q = [mase(y, out.forecast["mean"][u], scales[u]) for u, y in task.test.items()]
        values += q
        by_task[task.label] = float(np.nanmean(q)) if np.isfinite(q).any() else float("nan")
        for uid, y in task.test.items():
            key = f"{task.label}|{uid}"
            test[key] = y
            for lv in LEVELS:
                lo[lv][key] = out.forecast[f"lo-{lv}"][uid]
                hi[lv][key] = out.forecast[f"hi-{lv}"][uid]
    arr = np.asarray(values)
    ok = np.isfinite(arr)
    return Score(
        system,
        float(arr[ok].mean()) if ok.any() else float("nan"),
        int(ok.sum()),
        int((~ok).sum()),
        {lv: pooled_coverage(test, lo[lv], hi[lv]) for lv in LEVELS},
        sum(o.seconds for o in outputs),
        sum(o.fallbacks for o in outputs),
        dict(sum((o.chosen for o in outputs), Counter()).most_common()),
        by_task,
    )
