"""SLI event series with ground truth for the burn-alert benchmark (``slo_burn.py``).

A :class:`Corpus` is a set of SLI series, each a pair of per-minute counts (requests,
errors) that become the cumulative counters ``http_requests_total`` and
``http_requests_errors_total``, plus the incidents that should alert and the spans
that should not. :func:`simulated` builds one from the project's simulator; the
ChangeRCA releases are in ``_sli_changerca.py``.

The simulator's corpus, one parameter set for every seed (chosen before any rule was
run on it, and not tuned since):

- **Grid.** ``3`` days of warm-up (nothing injected, not scored) then ``weeks`` (5)
  whole weeks from a Monday 00:00 UTC, one sample a minute; ``services`` (4) services
  per seed, labelled ``seed`` and ``service``. Objective 99.9% (budget 0.001).
- **Traffic.** ``modelphase.simulate(events=False)``: its request rate (daily and
  weekly seasonality, trend, slow noise, Poisson-like noise) times 60 s, rounded, is
  the minute's request count.
- **Baseline errors.** The simulator's error ratio (which rises with load), smoothed by
  a centred 31-minute mean to drop its own sampling noise, rescaled so that its mean
  is a share of the budget drawn per service, uniform in [0.1, 0.5]. A healthy
  service burns 10-50% of its budget.
- **Incidents**, drawn per seed, service and week. One week per seed (the same for
  all its services, uniform among the ``weeks``) is **clean**: nothing injected. Every
  other week of every service gets **two fast burns** (the error ratio goes up by
  ``b x budget``, ``b`` log-uniform in [10, 100], for 20-90 minutes, uniform: these
  should page) and **one slow burn** (``b`` uniform in [1.5, 4] for 1-4 days, uniform:
  it should ticket, not page), in random order, at least 12 h from each other and from
  the week's ends (so no alert of one can be blamed on another, and a clean week
  starts 12 h after the last incident), the slack spread uniformly.
- **Errors.** Each minute's error count is a binomial draw from its request count at
  the baseline ratio plus the burn (at most 1).

>>> corpus = simulated(seed=0, services=1, weeks=1)
>>> corpus.n_minutes == (3 + 7) * 1440, [s.key for s in corpus.series]
(True, [('0', 'checkout')])
>>> sorted(i.kind for i in corpus.incidents), len(corpus.clean)
([], 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.frame import NS_PER_SECOND
from modelphase.simulate import SERVICE_NAMES, simulate

__all__ = ["Corpus", "Incident", "SliSeries", "merge", "simulated", "slo_text"]

DAY = 1440  # minutes
WEEK = 7 * DAY
WARMUP_DAYS = 3
#: Monday 2026-01-05 00:00 UTC, the first scored minute (the simulator's default start)
FIRST_WEEK_S = 1_767_571_200
OBJECTIVE = 99.9
BASELINE_SHARE = (0.1, 0.5)
FAST_BURN = (10.0, 100.0)  # log-uniform
FAST_MINUTES = (20, 90)
SLOW_BURN = (1.5, 4.0)
SLOW_MINUTES = (1 * DAY, 4 * DAY)
GAP = 12 * 60  # minutes between incidents, and from a week's ends
SMOOTH = 31  # minutes
PERIOD = 30 * DAY


@dataclass(frozen=True)
class Incident:
    """An injected burn (or a faulty release) on the SLI ``key``, from minute ``start``
    (included) to ``end`` (excluded) of the corpus' grid. ``kind`` is ``fast`` (should
    page), ``slow`` (should ticket, not page) or ``fault`` (ChangeRCA: should alert);
    ``burn`` is the ratio added, in budgets (NaN for a fault)."""

    key: tuple[str, ...]
    kind: str
    start: int
    end: int
    burn: float = float("nan")

    @property
    def budget_share(self) -> float:
        """The share of a 30-day budget the burn spends (``burn x minutes / 30 d``)."""
        return self.burn * (self.end - self.start) / PERIOD


@dataclass(frozen=True)
class SliSeries:
    """One SLI: ``requests`` and ``errors`` counted per minute from minute ``first``."""

    key: tuple[str, ...]
    first: int
    requests: NDArray[np.float64]
    errors: NDArray[np.float64]

    @property
    def last(self) -> int:
        """The minute after the last sample."""
        return self.first + len(self.requests)


@dataclass(frozen=True)
class Corpus:
    """SLI series on one minute grid from ``first_s`` (Unix seconds), with truth.

    ``key_labels`` name the labels of a series' ``key``; ``clean`` lists, per key, the
    spans where nothing should alert; ``parts`` name subsets of keys scored apart
    (the seeds), and ``budget`` is ``1 - objective / 100``.
    """

    name: str
    first_s: int
    n_minutes: int
    objective: float
    key_labels: tuple[str, ...]
    series: list[SliSeries]
    incidents: list[Incident]
    clean: dict[tuple[str, ...], list[tuple[int, int]]]
    parts: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def budget(self) -> float:
        return 1.0 - self.objective / 100.0


def slo_text(corpus: Corpus) -> str:
    """The Sloth ``prometheus/v1`` file of the corpus: one SLO, grouped by its keys."""
    by = ", ".join(corpus.key_labels)
    window = "{{.window}}"
    return f"""version: "prometheus/v1"
service: burnbench
slos:
  - name: {corpus.name}
    objective: {corpus.objective}
    sli:
      events:
        error_query: sum by ({by}) (rate(http_requests_errors_total[{window}]))
        total_query: sum by ({by}) (rate(http_requests_total[{window}]))
    alerting:
      name: BurnBench
      page_alert: {{labels: {{severity: critical}}}}
      ticket_alert: {{labels: {{severity: warning}}}}
"""


def _week_plan(rng: np.random.Generator, week_start: int) -> list[tuple[str, int, int, float]]:
    """Two fast burns and a slow one in random order inside one week."""
    kinds = ["fast", "fast", "slow"]
    rng.shuffle(kinds)
    plans = []
    for kind in kinds:
        if kind == "fast":
            burn = float(np.exp(rng.uniform(*np.log(FAST_BURN))))
            minutes = int(rng.integers(FAST_MINUTES[0], FAST_MINUTES[1] + 1))
        else:
            burn = float(rng.uniform(*SLOW_BURN))
            minutes = int(rng.integers(SLOW_MINUTES[0], SLOW_MINUTES[1] + 1))
        plans.append((kind, minutes, burn))
    slack = WEEK - 2 * GAP - sum(m for _, m, _ in plans) - (len(plans) - 1) * GAP
    cuts = np.floor(rng.dirichlet(np.ones(len(plans) + 1)) * slack).astype(int)
    out, at = [], week_start + GAP
    for (kind, minutes, burn), pad in zip(plans, cuts[:-1], strict=True):
        at += int(pad)
        out.append((kind, at, at + minutes, burn))
        at += minutes + GAP
    return out


def _baseline(error_ratio: NDArray[np.float64], share: float, budget: float) -> NDArray[np.float64]:
    smooth = pd.Series(error_ratio).rolling(SMOOTH, center=True, min_periods=1).mean().to_numpy()
    out: NDArray[np.float64] = smooth * (share * budget / float(np.mean(smooth)))
    return out


def simulated(seed: int, *, services: int = 4, weeks: int = 5) -> Corpus:
    """The simulator's SLIs for one seed (see the module's docstring)."""
    n = (WARMUP_DAYS * DAY) + weeks * WEEK
    first_s = FIRST_WEEK_S - WARMUP_DAYS * 86_400
    sim = simulate(
        services=services,
        days=n / DAY,
        seed=seed,
        events=False,
        start=first_s * NS_PER_SECOND,
    )
    panel = sim.panel
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(15,)))
    clean_week = int(rng.integers(weeks))
    budget = 1.0 - OBJECTIVE / 100.0
    series: list[SliSeries] = []
    incidents: list[Incident] = []
    clean: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    for name in SERVICE_NAMES[:services]:

        def values(metric: str, name: str = name) -> NDArray[np.float64]:
            i = panel.ids.index(f'{metric}{{service="{name}"}}')
            return panel.y[panel.indptr[i] : panel.indptr[i + 1]]

        key: tuple[str, ...] = (str(seed), name)
        requests = np.round(values("http_requests_per_second") * 60.0)
        ratio = _baseline(values("http_errors_ratio"), float(rng.uniform(*BASELINE_SHARE)), budget)
        for week in range(weeks):
            if week == clean_week:
                continue
            week_start = WARMUP_DAYS * DAY + week * WEEK
            for kind, start, end, burn in _week_plan(rng, week_start):
                ratio[start:end] += burn * budget
                incidents.append(Incident(key, kind, start, end, burn))
        errors = rng.binomial(requests.astype(np.int64), np.minimum(ratio, 1.0))
        series.append(SliSeries(key, 0, requests, errors.astype(np.float64)))
        at = WARMUP_DAYS * DAY + clean_week * WEEK
        clean[key] = [(at, at + WEEK)]
    return Corpus(
        name="sim",
        first_s=first_s,
        n_minutes=n,
        objective=OBJECTIVE,
        key_labels=("seed", "service"),
        series=series,
        incidents=incidents,
        clean=clean,
        parts={f"seed {seed}": {s.key for s in series}},
    )


def merge(corpora: list[Corpus]) -> Corpus:
    """One corpus of several seeds on the same grid (their keys differ by seed)."""
    first = corpora[0]
    if any(c.first_s != first.first_s or c.n_minutes != first.n_minutes for c in corpora):
        raise ValueError("the corpora to merge must share their grid")
    return Corpus(
        name=first.name,
        first_s=first.first_s,
        n_minutes=first.n_minutes,
        objective=first.objective,
        key_labels=first.key_labels,
        series=[s for c in corpora for s in c.series],
        incidents=[i for c in corpora for i in c.incidents],
        clean={k: v for c in corpora for k, v in c.clean.items()},
        parts={k: v for c in corpora for k, v in c.parts.items()},
    )
