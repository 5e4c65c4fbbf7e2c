"""Change-point benchmark: modelphase's ``changepoints`` on the TCPD development half.

16 annotated series of TCPD (``../shared/data/changepoint``, van den Burg and Williams,
"An Evaluation of Change Point Detection Algorithms", 2020), scored as TCPDBench does:
F1 with a margin of 5 points and segmentation Cover, each against all five annotators,
the first point (0) a change point of every annotation and prediction; the mean over the
series. Side by side in one run:

- ``modelphase``: :func:`modelphase.drift.changepoints`. Its two parameters (``penalty``
  and ``variance_floor``) are chosen by leave-one-series-out over a small grid (chosen on
  15 series by the mean of F1 and Cover, scored on the one left out): that is the honest
  number. The shipped defaults scored on all 16 are printed too, labelled development.
- ``binseg`` and ``pelt``: ruptures with TCPDBench's "default" settings, those of its
  R wrappers (``cpt.mean``, test statistic Normal, penalty MBIC, on the series scaled
  to mean 0 and sd 1; binseg with ``Q = 5`` change points at most): an L2 cost
  (``cpt.mean``'s) plus ``log`` of each segment's length and ``3 log n`` per change
  point (changepoint's MBIC), ``jump=1`` and ``min_size=1`` (every row a candidate,
  ``minseglen = 1``); binseg's number of change points is the one of 0..5 that
  minimises that criterion. As in TCPDBench, the locations are R's (the last row of each
  segment, 0-based), the series' last row included: ``binseg``/``pelt``. The rows ``- end``
  drop that last row, which only costs them precision, to show it is not what
  separates the methods. R's changepoint skips multivariate series; ruptures runs them
  (run_log) with the same cost summed over the columns.
- ``zero``: no change point.

    python benchmarks/changepoint.py [--data ../shared/data/changepoint] [--per-series]

Printed: F1 and Cover (means), seconds (detection alone, all series), and the ratios to
binseg. Timings are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import ruptures as rpt
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from modelphase.drift import changepoints
from modelphase.drift.changepoints import PENALTY, VARIANCE_FLOOR

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "changepoint"
MARGIN = 5
#: the grid that leave-one-series-out chooses from
PENALTIES = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0)
FLOORS = (0.001, 0.003, 0.01, 0.03)

Annotations = Mapping[str, list[int]]
Method = Callable[[NDArray[np.float64]], list[int]]


# -- TCPDBench's metrics (analysis/scripts/metrics.py), restated -------------------------


def true_positives(truth: Iterable[int], found: Iterable[int], margin: int = MARGIN) -> set[int]:
    """The true change points matched by a found one within ``margin``, each found one
    used once (the closest free one)."""
    free = set(found)
    hits = set()
    for tau in truth:
        close = sorted((abs(tau - x), x) for x in free if abs(tau - x) <= margin)
        if close:
            hits.add(tau)
            free.remove(close[0][1])
    return hits


def f_measure(annotations: Annotations, found: Iterable[int], margin: int = MARGIN) -> float:
    """F1: precision against the union of the annotators' points, recall the mean over
    annotators; 0 is in every set."""
    per_user = [set(points) | {0} for points in annotations.values()]
    predicted = set(found) | {0}
    union = set().union(*per_user)
    precision = len(true_positives(union, predicted, margin)) / len(predicted)
    recall = float(np.mean([len(true_positives(t, predicted, margin)) / len(t) for t in per_user]))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _segments(points: Iterable[int], n: int) -> list[tuple[int, int]]:
    """``[start, end)`` of the partition of ``0..n-1`` that the points start."""
    bounds = sorted({0, n, *(p for p in points if 0 < p < n)})
    return list(itertools.pairwise(bounds))


def covering(annotations: Annotations, found: Iterable[int], n: int) -> float:
    """Cover (Arbeláez et al. 2011, eq. 8): each annotator's segments weighted by their
    length and their best Jaccard overlap with a found segment; the mean over annotators."""
    predicted = _segments(found, n)
    scores = []
    for points in annotations.values():
        total = 0.0
        for a, b in _segments(points, n):
            best = 0.0
            for c, d in predicted:
                inter = min(b, d) - max(a, c)
                if inter > 0:
                    best = max(best, inter / (max(b, d) - min(a, c)))
            total += (b - a) * best
        scores.append(total / n)
    return float(np.mean(scores))


def _check_metrics() -> None:
    """TCPDBench's own doctests of its metrics."""
    assert true_positives({1, 10, 20, 23}, {3, 8, 20}) == {1, 10, 20}
    assert true_positives({1, 10, 20, 23}, {1, 3, 5, 8, 20}) == {1, 10, 20}
    assert f_measure({"1": [10, 20], "2": [11, 20], "3": [10], "4": [0, 5]}, [10, 20]) == 1.0
    assert abs(f_measure({"1": [], "2": [10], "3": [50]}, [10]) - 0.9090909090909091) < 1e-12
    assert abs(f_measure({"1": [], "2": [10], "3": [50]}, []) - 0.8) < 1e-12
    cover = covering({"1": [10, 20], "2": [10], "3": [0, 5]}, [10, 20], 45)
    assert abs(cover - 0.7962962962962963) < 1e-12
    assert abs(covering({"1": [], "2": [10], "3": [40]}, [10], 45) - 0.7954144620811286) < 1e-12
    assert abs(covering({"1": [], "2": [10], "3": [40]}, [], 45) - 0.8189300411522634) < 1e-12


# -- data and methods ---------------------------------------------------------------------


def load(folder: Path) -> tuple[dict[str, NDArray[np.float64]], dict[str, Annotations]]:
    """Each series as an ``(n, d)`` array (missing values NaN), and its annotations."""
    annotations = json.loads((folder / "annotations.json").read_text())
    series = {}
    for path in sorted((folder / "series").glob("*.json")):
        doc = json.loads(path.read_text())
        columns = [[np.nan if v is None else v for v in s["raw"]] for s in doc["series"]]
        series[doc["name"]] = np.asarray(columns, dtype=np.float64).T
    return series, {name: annotations[name] for name in series}


def _scaled(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """TCPDBench's R ``scale()``: mean 0, sd 1 per column (missing values carried
    forward first; TCPD's development series have none)."""
    x = x.copy()
    for j in range(x.shape[1]):
        col = x[:, j]
        idx = np.where(np.isfinite(col), np.arange(len(col)), 0)
        x[:, j] = col[np.maximum.accumulate(idx)]
    sd = x.std(axis=0, ddof=1)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


class CostMBIC(rpt.base.BaseCost):  # type: ignore[misc]
    """changepoint's ``cpt.mean`` Normal cost with MBIC: the segment's sum of squares
    about its mean plus ``log`` of its length."""

    model = "l2_mbic"
    min_size = 1

    def fit(self, signal: NDArray[np.float64]) -> CostMBIC:
        self.signal = signal
        self.cum = np.vstack([np.zeros(signal.shape[1]), np.cumsum(signal, axis=0)])
        self.cum2 = np.concatenate([[0.0], np.cumsum((signal**2).sum(axis=1))])
        return self

    def error(self, start: int, end: int) -> float:
        size = end - start
        s = self.cum[end] - self.cum[start]
        return float(self.cum2[end] - self.cum2[start] - (s @ s) / size + np.log(size))


def binseg(x: NDArray[np.float64], end: bool = True) -> list[int]:
    z = _scaled(x)
    n = len(z)
    algo = rpt.Binseg(custom_cost=CostMBIC(), min_size=1, jump=1).fit(z)
    best: tuple[float, list[int]] | None = None
    for k in range(6):  # Q = 5
        bkps = algo.predict(n_bkps=k) if k else [n]
        starts = [0, *bkps]
        crit = sum(algo.cost.error(a, b) for a, b in itertools.pairwise(starts))
        crit += 3 * np.log(n) * k
        if best is None or crit < best[0]:
            best = (crit, bkps)
    assert best is not None
    return _as_tcpdbench(best[1], end)


def pelt(x: NDArray[np.float64], end: bool = True) -> list[int]:
    z = _scaled(x)
    bkps = (
        rpt.Pelt(custom_cost=CostMBIC(), min_size=1, jump=1).fit(z).predict(pen=3 * np.log(len(z)))
    )
    return _as_tcpdbench(bkps, end)


def _as_tcpdbench(bkps: list[int], end: bool) -> list[int]:
    """ruptures' starts of segments (and n) as R's last rows of segments, 0-based."""
    return [b - 1 for b in bkps] if end else [b - 1 for b in bkps[:-1]]


# -- the run ------------------------------------------------------------------------------


def _score(
    method: Method, series: Mapping[str, NDArray[np.float64]], truth: Mapping[str, Annotations]
) -> tuple[dict[str, tuple[float, float]], float]:
    found, seconds = {}, 0.0
    for name, x in series.items():
        start = time.perf_counter()
        points = method(x)
        seconds += time.perf_counter() - start
        found[name] = (f_measure(truth[name], points), covering(truth[name], points, len(x)))
    return found, seconds


def leave_one_out(
    series: Mapping[str, NDArray[np.float64]], truth: Mapping[str, Annotations]
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]], float]:
    """Scores of each series with the grid point chosen on the other 15, and the choice."""
    grid = list(itertools.product(PENALTIES, FLOORS))
    table, seconds = {}, 0.0
    for penalty, floor in grid:

        def method(x: NDArray[np.float64], p: float = penalty, f: float = floor) -> list[int]:
            return changepoints(x, penalty=p, variance_floor=f)

        table[(penalty, floor)], took = _score(method, series, truth)
        seconds += took
    held, chosen = {}, {}
    shipped = grid.index((PENALTY, VARIANCE_FLOOR))
    for name in series:

        def fitness(i: int, left: str = name) -> tuple[float, int]:
            rows = [v for k, v in table[grid[i]].items() if k != left]
            return float(np.mean([(f + c) / 2 for f, c in rows])), -abs(i - shipped)

        best = max(range(len(grid)), key=fitness)
        chosen[name] = grid[best]
        held[name] = table[grid[best]][name]
    return held, chosen, seconds / len(grid)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--per-series", action="store_true", help="F1/Cover of every series")
    args = parser.parse_args(argv)
    _check_metrics()
    series, truth = load(args.data)

    held, chosen, loo_seconds = leave_one_out(series, truth)
    runs: dict[str, tuple[dict[str, tuple[float, float]], float]] = {
        "modelphase (leave-one-out)": (held, loo_seconds),
        "modelphase (all-in, development)": _score(changepoints, series, truth),
        "binseg": _score(binseg, series, truth),
        "pelt": _score(pelt, series, truth),
        "binseg - end": _score(lambda x: binseg(x, end=False), series, truth),
        "pelt - end": _score(lambda x: pelt(x, end=False), series, truth),
        "zero": _score(lambda x: [], series, truth),
    }
    means = {k: (np.mean([f for f, _ in v.values()]), np.mean([c for _, c in v.values()]))
             for k, (v, _) in runs.items()}  # fmt: skip
    f_ref, c_ref = means["binseg"]
    console = Console(width=150)
    table = Table(
        title=f"TCPD development half: {len(series)} series, F1 (margin {MARGIN}) and Cover "
        "against 5 annotators",
        title_justify="left",
    )
    for column in ("method", "F1", "Cover", "seconds", "F1 / binseg", "Cover / binseg"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for name, (_, seconds) in runs.items():
        f, c = means[name]
        table.add_row(name, f"{f:.3f}", f"{c:.3f}", f"{seconds:.3f}", f"{f / f_ref:.3f}",
                      f"{c / c_ref:.3f}")  # fmt: skip
    console.print(table)
    picks: dict[tuple[float, float], int] = {}
    for pick in chosen.values():
        picks[pick] = picks.get(pick, 0) + 1
    console.print(
        "leave-one-out choices (penalty, variance_floor): "
        + ", ".join(f"{p} x{k}" for p, k in sorted(picks.items()))
        + f"; shipped ({PENALTY}, {VARIANCE_FLOOR})"
    )
    if args.per_series:
        detail = Table(title="per series: F1 / Cover", title_justify="left")
        detail.add_column("series")
        for name in runs:
            detail.add_column(name, justify="right")
        for s in series:
            detail.add_row(s, *(f"{v[s][0]:.2f} / {v[s][1]:.2f}" for v, _ in runs.values()))
        console.print(detail)


if __name__ == "__main__":
    main()
