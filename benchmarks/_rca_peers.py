"""The triage benchmark's peers: BARO, PyRCA's epsilon-Diagnosis and hypothesis testing,
and a random ranking.

Every peer is a :data:`Ranker`: it takes the window a case gives (a wide frame, ``time``
plus ``<service>_<metric>`` columns), the anomaly time ``at`` (rows before it are the
normal period, rows from it on the anomalous one) and the call graph if there is one
(``(caller, callee)`` service pairs), and returns metric columns, most likely cause
first. :func:`rank_services` turns that into services.

- **BARO** (Pham et al., FSE 2024), RCAEval 1.8.1's ``RCAEval/e2e/baro.py``: the
  function itself when the ``rcaeval`` package is installed (loaded from its file: the
  package's ``RCAEval.e2e`` imports ``causallearn`` on Python 3.11, which RCAEval only
  needs for other methods), else :func:`baro_restated`, the same steps in numpy (a test
  checks the two agree). RCAEval's ``preprocess`` with a dataset named: the time and
  every column constant within the part are dropped from each part, memory columns
  (``_mem``) are divided by 10^6, the columns left in both parts kept; each metric's
  anomalous rows are scaled by a ``RobustScaler`` fitted on its normal rows (median,
  inter-quartile range, a zero range read as 1) and the metric scores its largest
  (signed) value.
- **epsilon-Diagnosis** (Shan et al., WWW 2019) as PyRCA 1.0.1 implements it
  (``pyrca/analyzers/epsilon_diagnosis.py``; ``sfr-pyrca`` does not install here: it
  pins scikit-learn < 1.2 and needs ``javabridge``, which does not build), restated in
  :func:`epsilon_diagnosis`: per metric, the squared correlation between its normal and
  its anomalous rows (equal lengths: the last ``m`` normal and the first ``m``
  anomalous rows, ``m`` the shorter), significant above the ``1 - alpha`` quantile of a
  bootstrap of normal-period correlations. PyRCA's thresholds are kept as it computes
  them: ``zip(columns, pair_quantiles)`` gives column ``i`` the quantile of the ``i``-th
  column *pair* (in ``itertools.combinations`` order), not one of its own. PyRCA returns
  the significant metrics (top 3); to score AC@5 the ranking here is the significant
  metrics by correlation, then the rest by correlation.
- **HT**, PyRCA's regression hypothesis testing (Li et al., KDD 2022, ``pyrca/analyzers/
  ht.py``), restated in :func:`hypothesis_testing`: each metric is regressed (least
  squares with an intercept, scikit-learn's minimum-norm solution) on its parents'
  metrics over the normal rows; its anomalous residuals are standardised by the normal
  residuals' mean and standard deviation (a zero deviation read as 1) and it scores the
  largest absolute value (PyRCA's defaults: ``aggregator="max"``, no descendant
  adjustment). PyRCA needs a metric graph; a service call graph becomes one by giving
  each metric of a caller the same-named metrics of its callees as parents (a slow
  callee makes its caller slow). Without a graph (RCD) every metric is a root and HT is
  the anomalous rows' largest standardised deviation.
- **random**: the services in a seeded random order.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from _rca import service_of, services_of

Graph = Sequence[tuple[str, str]]
Ranker = Callable[[pd.DataFrame, float, Graph | None], list[str]]

#: epsilon-Diagnosis, PyRCA's defaults
ALPHA = 0.05
BOOTSTRAP = 200


def rank_services(columns: Iterable[str], services: Sequence[str], seed: int) -> list[str]:
    """Services in the order their first column appears in ``columns``; the services a
    ranker left out follow in a random order drawn from ``seed`` (the same for every
    ranker on a case)."""
    ranked = list(dict.fromkeys(service_of(c) for c in columns if c != "time"))
    ranked = [s for s in ranked if s in set(services)]
    rest = [s for s in services if s not in set(ranked)]
    order = np.random.default_rng(seed).permutation(len(rest))
    return ranked + [rest[i] for i in order]


def case_seed(name: str, seed: int = 0) -> int:
    """A case's seed: stable across runs and machines."""
    return zlib.crc32(name.encode()) + seed


def _parts(frame: pd.DataFrame, at: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    normal = frame[frame["time"] < at].drop(columns="time")
    return normal, frame[frame["time"] >= at].drop(columns="time")


# -- BARO ----------------------------------------------------------------------------------


@functools.cache
def rcaeval_baro() -> Callable[..., dict[str, list[str]]] | None:
    """RCAEval's own ``baro``, or None when ``rcaeval`` is not installed."""
    spec = importlib.util.find_spec("RCAEval")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "e2e" / "baro.py"
    loader = importlib.util.spec_from_file_location("_rcaeval_baro", path)
    if loader is None or loader.loader is None:
        return None
    module: ModuleType = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module.baro  # type: ignore[no-any-return]


def _baro_prepare(part: pd.DataFrame) -> pd.DataFrame:
    """RCAEval's ``preprocess`` for a named dataset: constant columns dropped, memory
    in MB."""
    part = part.loc[:, (part != part.iloc[0]).any()]
    mem = [c for c in part.columns if c.endswith("_mem")]
    return part.assign(**{c: part[c] / 1e6 for c in mem})


def baro_restated(frame: pd.DataFrame, at: float, graph: Graph | None = None) -> list[str]:
    """BARO's ranking, restated from RCAEval's ``baro`` (see the module docstring)."""
    normal, anomalous = _parts(frame, at)
    if normal.empty or anomalous.empty:
        return []
    normal, anomalous = _baro_prepare(normal), _baro_prepare(anomalous)
    columns = [c for c in normal.columns if c in anomalous.columns]
    if not columns:
        return []
    a = normal[columns].to_numpy(dtype=float)
    b = anomalous[columns].to_numpy(dtype=float)
    center = np.nanmedian(a, axis=0)
    q25, q75 = np.nanpercentile(a, [25, 75], axis=0)
    scale = q75 - q25
    scale[scale < 10 * np.finfo(float).eps] = 1.0  # scikit-learn's _handle_zeros_in_scale
    scores = ((b - center) / scale).max(axis=0)
    order = sorted(range(len(columns)), key=lambda i: -scores[i])  # stable, as sorted()
    return [columns[i] for i in order]


def baro(frame: pd.DataFrame, at: float, graph: Graph | None = None) -> list[str]:
    """BARO: RCAEval's function when installed, else :func:`baro_restated`."""
    found = rcaeval_baro()
    if found is None:
        return baro_restated(frame, at)
    normal = frame[frame["time"] < at]
    if normal.empty or len(normal) == len(frame):
        return []
    return list(found(frame, inject_time=at, dataset="triage-benchmark")["ranks"])


# -- epsilon-Diagnosis ---------------------------------------------------------------------


def _bootstrap_thresholds(
    normal: NDArray[np.float64], rng: np.random.Generator, alpha: float, times: int
) -> NDArray[np.float64]:
    """PyRCA's ``train``: per column ``i``, the ``1 - alpha`` quantile over bootstrap
    resamples of the squared correlation of the ``i``-th column pair."""
    n, p = normal.shape
    pairs = list(itertools.islice(itertools.combinations(range(p), 2), p))
    thresholds = np.full(p, np.inf)  # PyRCA's zip leaves a column without one when p < 3
    if not pairs:
        return thresholds
    index = rng.integers(0, n, size=(n, p, times))
    samples = np.take_along_axis(normal[:, :, None], index, axis=0)  # (n, p, times)
    centred = samples - samples.mean(axis=0)
    i, j = (np.array(x) for x in zip(*pairs, strict=True))
    cov = (centred[:, i, :] * centred[:, j, :]).sum(axis=0) / (n - 1)
    var_i = (centred[:, i, :] ** 2).sum(axis=0) / (n - 1)
    var_j = (centred[:, j, :] ** 2).sum(axis=0) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where((var_i == 0) | (var_j == 0), 0.0, cov**2 / (var_i * var_j))
    thresholds[: len(pairs)] = np.quantile(corr, 1 - alpha, axis=1)
    return thresholds


def epsilon_diagnosis(
    frame: pd.DataFrame,
    at: float,
    graph: Graph | None = None,
    *,
    alpha: float = ALPHA,
    times: int = BOOTSTRAP,
    seed: int = 0,
) -> list[str]:
    """PyRCA's epsilon-Diagnosis ranking, restated (see the module docstring)."""
    normal, anomalous = _parts(frame, at)
    m = min(len(normal), len(anomalous))
    if m < 2:
        return []
    columns = list(normal.columns)
    a = normal.to_numpy(dtype=float)[-m:]
    b = anomalous.to_numpy(dtype=float)[:m]
    thresholds = _bootstrap_thresholds(a, np.random.default_rng(seed), alpha, times)
    var_a, var_b = a.var(axis=0), b.var(axis=0)
    cov = ((a - a.mean(axis=0)) * (b - b.mean(axis=0))).sum(axis=0) / (m - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where((var_a == 0) | (var_b == 0), 0.0, cov**2 / (var_a * var_b))
    significant = corr > thresholds
    order = sorted(range(len(columns)), key=lambda k: (not significant[k], -corr[k]))
    return [columns[k] for k in order]


# -- hypothesis testing --------------------------------------------------------------------


def metric_parents(columns: Sequence[str], graph: Graph | None) -> dict[str, list[str]]:
    """Each metric's parents: the same-named metrics of the services its service calls."""
    callees: dict[str, set[str]] = {}
    for caller, callee in graph or ():
        if caller != callee:
            callees.setdefault(caller, set()).add(callee)
    by_name = {(service_of(c), c.split("_", 1)[1]): c for c in columns if "_" in c}
    parents: dict[str, list[str]] = {}
    for c in columns:
        service, _, metric = c.partition("_")
        found = (by_name.get((s, metric)) for s in sorted(callees.get(service, ())))
        parents[c] = [p for p in found if p is not None]
    return parents


def _standardise(normal: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.float64]:
    scale = normal.std()
    return (values - normal.mean()) / (scale if scale > 10 * np.finfo(float).eps else 1.0)


def hypothesis_testing(frame: pd.DataFrame, at: float, graph: Graph | None = None) -> list[str]:
    """PyRCA's HT ranking, restated (see the module docstring)."""
    normal, anomalous = _parts(frame, at)
    if normal.empty or anomalous.empty:
        return []
    columns = list(normal.columns)
    parents = metric_parents(columns, graph)
    scores = np.zeros(len(columns))
    for k, column in enumerate(columns):
        y, y_new = normal[column].to_numpy(float), anomalous[column].to_numpy(float)
        if parents[column]:
            x = normal[parents[column]].to_numpy(float)
            x_new = anomalous[parents[column]].to_numpy(float)
            x_mean, y_mean = x.mean(axis=0), y.mean()
            coef = np.linalg.lstsq(x - x_mean, y - y_mean, rcond=None)[0]
            y = y - ((x - x_mean) @ coef + y_mean)
            y_new = y_new - ((x_new - x_mean) @ coef + y_mean)
        scores[k] = np.abs(_standardise(y, y_new)).max()
    order = sorted(range(len(columns)), key=lambda k: -scores[k])
    return [columns[k] for k in order]


# -- random --------------------------------------------------------------------------------


def random_ranking(frame: pd.DataFrame, at: float, graph: Graph | None = None) -> list[str]:
    """No columns: :func:`rank_services` puts every service in its seeded random order."""
    return []


PEERS: dict[str, Ranker] = {
    "baro": baro,
    "epsilon_diagnosis": epsilon_diagnosis,
    "ht": hypothesis_testing,
    "random": random_ranking,
}
__all__ = ["PEERS", "Graph", "Ranker", "case_seed", "rank_services", "services_of"]
