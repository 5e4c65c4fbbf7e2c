"""M4 Hourly benchmark: forecast accuracy with the M4 competition's own metrics.

414 hourly series (``../shared/data/m4``, long files), horizon h = 48, seasonality
m = 24. Scored as M4 scores them (``../shared/tools/m4score.py`` is the reference; the
functions here are checked against it in ``tests/benchmarks/test_m4_scoring.py``):

- sMAPE = mean over series and horizon of ``200 |y - f| / (|y| + |f|)``;
- MASE = mean over series of ``mean |y - f| / scale``, with ``scale`` the in-sample mean
  absolute error of the seasonal naive at m = 24 (``mean |x_t - x_{t-24}|``);
- OWA = ``(sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2) / 2``, on the averages, against
  Naive2 on the same series: the last value of the seasonally adjusted series,
  re-seasonalised; adjusted (classical multiplicative decomposition) only where M4's
  90% autocorrelation test at lag 24 finds seasonality.

Systems, side by side in one run: modelphase's default forecaster (``AutoForecast``) and
its global LightGBM model alone (one model learned over all the series); Naive2 itself;
statsforecast's SeasonalNaive(24), AutoETS(24), AutoTheta(24) and MSTL(24, 168), each in
its own ``StatsForecast(models=[model], freq=1, n_jobs=...)`` on integer time steps;
Prophet with
its defaults, fitted per series on the long files' hourly clock (slow and noisy:
``--skip-prophet`` or ``--prophet-series N`` for the first N series, said in the output).
Intervals at 80% and 95% where the system gives them (statsforecast ``level``, Prophet's
sampled predictive quantiles, the same draws ``interval_width`` summarises).

    python benchmarks/m4.py [--n-jobs -1] [--skip-prophet] [--prophet-series N]
        [--extra MODULE:FACTORY ...]

Another system is one more entry in ``build_systems`` (a function ``train, h, level ->
{"mean": ..., "lo-80": ...}``), or, for a forecaster with statsforecast's shape (``alias``,
``fit(y)``, ``predict(h, level=...)``, as modelphase's forecasters have), no code at all:
``--extra modelphase.forecast:SomeForecaster`` calls ``SomeForecaster()`` per series (or
once over all of them, for a global model: one with ``is_global``, ``fit_panel`` and
``predict_panel``).

Prints a table sorted by OWA with the ratios to the best row. Timings here are
measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

M4 = Path(__file__).resolve().parents[2] / "shared" / "data" / "m4"
H, M = 48, 24
LEVELS = (80, 95)
PUBLISHED_NAIVE2 = (18.383, 2.395)  # sMAPE, MASE; M4 Hourly, from the README

Series = dict[str, np.ndarray]
# "mean", "lo-80", "hi-80", ... -> unique_id -> h values (statsforecast's predict keys)
Forecast = dict[str, Series]
System = Callable[[Series, int, list[int]], Forecast]


# --- scoring: pure functions (to move into modelphase.backtest) -------------------------


def mase_scale(x: np.ndarray, m: int = M) -> float:
    """In-sample mean absolute error of the seasonal naive at lag ``m``."""
    return float(np.mean(np.abs(x[m:] - x[:-m])))


def smape(y: np.ndarray, f: np.ndarray) -> float:
    """M4's sMAPE of one series, in percent (0..200)."""
    return float(np.mean(200.0 * np.abs(y - f) / (np.abs(y) + np.abs(f))))


def mase(y: np.ndarray, f: np.ndarray, scale: float) -> float:
    """Mean absolute error of one series over its ``scale`` (see :func:`mase_scale`)."""
    return float(np.mean(np.abs(y - f)) / scale)


def is_seasonal(x: np.ndarray, m: int = M) -> bool:
    """M4's test: |acf at lag m| beyond the 90% limit (Bartlett's formula)."""
    n = len(x)
    if n < 3 * m:
        return False
    d = x - x.mean()
    c0 = float(np.dot(d, d))
    r = np.array([np.dot(d[:-k], d[k:]) / c0 for k in range(1, m + 1)])
    limit = 1.645 / np.sqrt(n) * np.sqrt(1.0 + 2.0 * np.sum(r[: m - 1] ** 2))
    return bool(abs(r[m - 1]) > limit)


def seasonal_indices(x: np.ndarray, m: int = M) -> np.ndarray:
    """Classical multiplicative decomposition: ``m`` indices (mean 1), phase 0 = x[0]."""
    n = len(x)
    w = np.r_[0.5, np.ones(m - 1), 0.5] / m
    half = m // 2
    trend = np.full(n, np.nan)
    trend[half : n - half] = np.convolve(x, w, mode="valid")
    ratio = x / trend
    idx = np.array([np.nanmean(ratio[j::m]) for j in range(m)])
    return idx / idx.mean()


def naive2(x: np.ndarray, h: int = H, m: int = M) -> np.ndarray:
    """M4's Naive2: naive on the seasonally adjusted series, re-seasonalised."""
    if not is_seasonal(x, m):
        return np.repeat(x[-1], h)
    idx = seasonal_indices(x, m)
    n = len(x)
    return x[-1] / idx[(n - 1) % m] * idx[np.arange(n, n + h) % m]


def errors(train: Series, test: Series, mean: Series, m: int = M) -> tuple[float, float]:
    """(sMAPE, MASE) averaged over the series of ``test``."""
    ids = list(test)
    s = [smape(test[i], mean[i]) for i in ids]
    q = [mase(test[i], mean[i], mase_scale(train[i], m)) for i in ids]
    return float(np.mean(s)), float(np.mean(q))


def owa(smape_: float, mase_: float, smape_naive2: float, mase_naive2: float) -> float:
    """M4's overall weighted average relative to Naive2 (1.0 = Naive2)."""
    return 0.5 * (smape_ / smape_naive2 + mase_ / mase_naive2)


def coverage(test: Series, lo: Series, hi: Series) -> float:
    """Share of the actuals inside [lo, hi], over all series and steps."""
    inside = [(test[i] >= lo[i]) & (test[i] <= hi[i]) for i in test]
    return float(np.mean(np.concatenate(inside)))


# --- data ---------------------------------------------------------------------------------


def load_long(path: Path) -> Series:
    """``unique_id,ds,y`` -> unique_id -> values in time order."""
    df = pd.read_csv(path)
    return {
        str(k): g.sort_values("ds", kind="stable")["y"].to_numpy(dtype=float)
        for k, g in df.groupby("unique_id", sort=False)  # in the file's order: H1, H2, ...
    }


def to_frame(train: Series) -> pd.DataFrame:
    """statsforecast's long frame with integer time steps 1..n (``freq=1``)."""
    parts = [
        pd.DataFrame({"unique_id": uid, "ds": np.arange(1, len(y) + 1), "y": y})
        for uid, y in train.items()
    ]
    return pd.concat(parts, ignore_index=True)


# --- systems ------------------------------------------------------------------------------


def naive2_system(train: Series, h: int, level: list[int]) -> Forecast:
    return {"mean": {uid: naive2(y, h) for uid, y in train.items()}}


def statsforecast_system(make_model: Callable[[], Any], n_jobs: int) -> System:
    """One statsforecast model in ``StatsForecast(freq=1)`` over all the series."""

    def run(train: Series, h: int, level: list[int]) -> Forecast:
        from statsforecast import StatsForecast

        model = make_model()
        sf = StatsForecast(models=[model], freq=1, n_jobs=n_jobs)
        out = sf.forecast(df=to_frame(train), h=h, level=level)
        groups = {str(k): g for k, g in out.groupby("unique_id", sort=False)}
        alias = str(model.alias) if hasattr(model, "alias") else repr(model)
        fc: Forecast = {"mean": {}}
        for key in ["mean"] + [f"{side}-{lv}" for lv in level for side in ("lo", "hi")]:
            col = alias if key == "mean" else f"{alias}-{key}"
            if col in out.columns:
                fc[key] = {uid: groups[uid][col].to_numpy(dtype=float) for uid in train}
        return fc

    return run


def prophet_system(train: Series, h: int, level: list[int]) -> Forecast:
    """Prophet, defaults, per series; hourly clock from 2000-01-01 as the long files have."""
    # quiet: cmdstanpy resets its logger's level on first use, so disable it outright
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(name).disabled = True
    from prophet import Prophet

    start = pd.Timestamp("2000-01-01")
    fc: Forecast = {"mean": {}} | {f"{s}-{lv}": {} for lv in level for s in ("lo", "hi")}
    for uid, y in train.items():
        np.random.seed(0)  # Prophet draws its intervals from numpy's global generator
        df = pd.DataFrame({"ds": pd.date_range(start, periods=len(y), freq="h"), "y": y})
        model = Prophet().fit(df)
        future = pd.DataFrame({"ds": pd.date_range(df["ds"].iloc[-1], periods=h + 1, freq="h")})
        future = future.iloc[1:].reset_index(drop=True)
        fc["mean"][uid] = model.predict(future)["yhat"].to_numpy(dtype=float)
        draws = model.predictive_samples(future)["yhat"]  # (h, uncertainty_samples)
        for lv in level:
            fc[f"lo-{lv}"][uid] = np.nanpercentile(draws, (100 - lv) / 2, axis=1)
            fc[f"hi-{lv}"][uid] = np.nanpercentile(draws, 100 - (100 - lv) / 2, axis=1)
    return fc


def to_panel(train: Series) -> Any:
    """modelphase's panel of the series, on the long files' hourly clock from 2000-01-01."""
    from modelphase.frame import Panel

    hour = 3600 * 10**9
    start = 946_684_800 * 10**9  # 2000-01-01T00:00Z, as in the long files
    items = [
        (uid, start + hour * np.arange(len(y), dtype=np.int64), np.asarray(y, dtype=float))
        for uid, y in train.items()
    ]
    return Panel.from_series(items, step=hour)


def forecaster_system(factory: Callable[[], Any]) -> System:
    """Any forecaster with statsforecast's shape, fitted per series (``--extra``); a
    global one (``is_global``, e.g. modelphase's GlobalLightGBM) once on all the series."""

    def run(train: Series, h: int, level: list[int]) -> Forecast:
        fc: Forecast = {}
        model = factory()
        if getattr(model, "is_global", False):
            by_series = model.fit_panel(to_panel(train)).predict_panel(h, level=level)
        else:
            by_series = {uid: factory().fit(y).predict(h, level=level) for uid, y in train.items()}
        for uid, out in by_series.items():
            for key, values in out.items():
                fc.setdefault(key, {})[uid] = np.asarray(values, dtype=float)
        return fc

    return run


def global_lightgbm() -> Any:
    """modelphase's global LightGBM model, defaults, daily season (the ``LightGBM`` row)."""
    from modelphase.forecast import GlobalLightGBM

    return GlobalLightGBM(season_length=M)


def modelphase_system(train: Series, h: int, level: list[int]) -> Forecast:
    """modelphase's default forecaster (``modelphase forecast`` without ``--model``)."""
    from modelphase.forecast import AutoForecast

    out = AutoForecast().fit_predict(to_panel(train), h, level=level)
    fc: Forecast = {}
    for uid, group in out.groupby("unique_id", sort=False):
        fc.setdefault("mean", {})[str(uid)] = group["yhat"].to_numpy()
        for lv in level:
            fc.setdefault(f"lo-{lv}", {})[str(uid)] = group[f"yhat-lo-{lv:g}"].to_numpy()
            fc.setdefault(f"hi-{lv}", {})[str(uid)] = group[f"yhat-hi-{lv:g}"].to_numpy()
    return fc


def build_systems(args: argparse.Namespace) -> dict[str, tuple[System, int | None]]:
    """THE REGISTRY: row name -> (system, number of series or None for all)."""

    def sf(name: str, **kw: Any) -> System:
        def make() -> Any:
            return getattr(importlib.import_module("statsforecast.models"), name)(**kw)

        return statsforecast_system(make, args.n_jobs)

    systems: dict[str, tuple[System, int | None]] = {
        "modelphase (auto)": (modelphase_system, None),
        "modelphase LightGBM (global)": (forecaster_system(global_lightgbm), None),
        "Naive2 (M4)": (naive2_system, None),
        "SeasonalNaive(24)": (sf("SeasonalNaive", season_length=24), None),
        "AutoETS(24)": (sf("AutoETS", season_length=24), None),
        "AutoTheta(24)": (sf("AutoTheta", season_length=24), None),
        "MSTL(24, 168)": (sf("MSTL", season_length=[24, 168]), None),
    }
    if not args.skip_prophet:
        systems["Prophet (defaults)"] = (prophet_system, args.prophet_series)
    for spec in args.extra:
        module, _, attr = spec.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        systems[spec] = (forecaster_system(factory), None)
    return systems


# --- run and report -----------------------------------------------------------------------


@dataclass
class Row:
    name: str
    n_series: int
    smape: float
    mase: float
    owa: float
    cover: dict[int, float]
    seconds: float


def evaluate(name: str, system: System, n: int | None, train: Series, test: Series) -> Row:
    ids = list(train)[:n] if n else list(train)
    sub_train = {i: train[i] for i in ids}
    sub_test = {i: test[i] for i in ids}
    t0 = time.perf_counter()
    fc = system(sub_train, H, list(LEVELS))
    seconds = time.perf_counter() - t0
    bad = [i for i in ids if fc["mean"][i].shape != (H,) or not np.isfinite(fc["mean"][i]).all()]
    if bad:
        raise SystemExit(f"{name}: {len(bad)} series without {H} finite values, e.g. {bad[:3]}")
    s, q = errors(sub_train, sub_test, fc["mean"])
    n2 = naive2_system(sub_train, H, [])["mean"]
    s2, q2 = errors(sub_train, sub_test, n2)
    cover = {
        lv: coverage(sub_test, fc[f"lo-{lv}"], fc[f"hi-{lv}"])
        for lv in LEVELS
        if f"lo-{lv}" in fc and f"hi-{lv}" in fc
    }
    return Row(name, len(ids), s, q, owa(s, q, s2, q2), cover, seconds)


def report(rows: list[Row], n_total: int, n_jobs: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 140))  # not cut when piped to a file
    full = [r for r in rows if r.n_series == n_total]
    best = min(full or rows, key=lambda r: r.owa)
    fastest = min(r.seconds / r.n_series for r in full or rows)
    title = f"M4 Hourly: {n_total} series, h={H}, m={M}; sorted by OWA (Naive2 = 1)"
    table = Table(title=title, title_justify="left")
    covers = [f"cover {lv}%" for lv in LEVELS]
    cols = ["system", "series", "sMAPE", "MASE", "OWA", "OWA vs best", *covers]
    cols += ["fit+predict s", "s/series vs fastest"]
    for col in cols:
        table.add_column(col, justify="left" if col == "system" else "right")
    for r in sorted(rows, key=lambda r: r.owa):
        table.add_row(
            r.name + ("" if r.n_series == n_total else " *"),
            str(r.n_series),
            f"{r.smape:.3f}",
            f"{r.mase:.3f}",
            f"{r.owa:.3f}",
            f"{r.owa / best.owa:.2f}x",
            *(f"{r.cover[lv] * 100:.1f}%" if lv in r.cover else "-" for lv in LEVELS),
            f"{r.seconds:.1f}",
            f"{r.seconds / r.n_series / fastest:,.0f}x",
        )
    console.print(table)
    n2 = next((r for r in rows if r.name.startswith("Naive2") and r.n_series == n_total), None)
    if n2:
        console.print(
            f"check: Naive2 sMAPE {n2.smape:.3f} MASE {n2.mase:.3f} "
            f"(published {PUBLISHED_NAIVE2[0]} / {PUBLISHED_NAIVE2[1]}); "
            "published seasonal naive OWA 0.627, best Hourly entry 0.410, ES-RNN 0.440"
        )
    for r in rows:
        if r.n_series != n_total:
            console.print(
                f"* {r.name}: first {r.n_series} of {n_total} series only (--prophet-series); "
                "its sMAPE, MASE and coverage are on those series and its OWA is against "
                "Naive2 on the same series, so its ratios are indicative"
            )
    console.print(
        f"best: {best.name}; timings are wall seconds on {os.cpu_count()} cores, "
        f"statsforecast n_jobs={n_jobs}, Prophet and --extra single-process"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-jobs", type=int, default=-1, help="statsforecast processes")
    parser.add_argument("--skip-prophet", action="store_true")
    parser.add_argument("--prophet-series", type=int, default=None, help="first N series")
    parser.add_argument(
        "--extra", action="append", default=[], metavar="MODULE:FACTORY",
        help="a statsforecast-shaped forecaster factory to add as a row (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    if not (M4 / "Hourly-train-long.csv").exists():
        raise SystemExit(f"M4 data not found under {M4}; it ships in ../shared/data/m4")
    train = load_long(M4 / "Hourly-train-long.csv")
    test = load_long(M4 / "Hourly-test-long.csv")
    rows = []
    for name, (system, n) in build_systems(args).items():
        print(f"running {name} ...", flush=True)
        rows.append(evaluate(name, system, n, train, test))
    report(rows, len(train), args.n_jobs)


if __name__ == "__main__":
    main()
