"""ChangeRCA's releases as SLIs with truth, for the burn-alert benchmark.

Each release (``_changerca.py``) becomes one service-level SLI, labelled ``case`` and
``service``: every minute, the success rates (%) of the service's pods (v1 and v2
alike: an SLO measures the service, not a version) on the call edges they serve
(``<caller>_<service>``). The data has no request counts, so traffic is a **constant
proxy**: each pod and served edge that reports in a minute counts 60 requests (1 per
second), and ``60 x (1 - SuccessRate / 100)`` errors; a pod that reports nothing (or
NaN) that minute counts nothing. This assumes the load balancer splits traffic evenly
between ready pods and edges.

**Objective 99%.** On this test bed (Online Boutique under its load generator, about
10-20 requests a minute a pod by the success rates' fractions) a healthy service fails
nothing, a single failure is 5-10% of a pod's minute, and the success-rate check of the
canary benchmark (Flagger's default) is 99%; 99.9% would make one failed request in a
5-minute window of a small service a page-level burn.

**Truth.** A faulty release should alert from its ``release_time`` on (kind ``fault``,
to the end of its data; its ``burn`` is its error ratio over those minutes, in
budgets); a good release should not alert at all (its span is clean). A good release
that calls the faulty one (it has a ``<service>_<faulty>`` edge) sees the faulty one's
errors: those form the part "good releases calling the faulty one", scored apart.

An experiment lasts about 40 minutes (17 before the release, 22 after), far shorter
than the alert windows, so each release's SLI is given, by default, ``history_days``
(3) days of **clean history** before its first minute: the first minute's traffic,
no errors, as on a service that had been running. With ``history_days=0`` the SLI is
the recorded minutes alone, and every window of an hour or more then sees only them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

import _changerca as crca
from _sli import DAY, Corpus, Incident, SliSeries

__all__ = ["OBJECTIVE", "changerca_corpus", "release_counts"]

OBJECTIVE = 99.0
PER_POD_MINUTE = 60.0  # requests: the constant traffic proxy


def release_counts(release: crca.Release) -> tuple[int, np.ndarray, np.ndarray]:
    """``(first_minute_s, requests, errors)`` per minute of one release's service."""
    s = release.samples
    served = s[s["metric"].str.endswith(f"_{release.service}:success")]
    served = served.assign(minute=served["ts"] // 60 * 60).dropna(subset=["value"])
    per_pod = served.groupby(["minute", "pod", "metric"], sort=True)["value"].mean()
    n_pods = per_pod.groupby(level="minute").size()
    bad = (1.0 - per_pod / 100.0).groupby(level="minute").sum()
    minutes = n_pods.index.to_numpy(np.int64)
    grid = np.arange(minutes[0], minutes[-1] + 60, 60, dtype=np.int64)
    requests = n_pods.astype(np.float64) * PER_POD_MINUTE
    errors = bad.astype(np.float64) * PER_POD_MINUTE
    return (
        int(minutes[0]),
        requests.reindex(grid, fill_value=0.0).to_numpy(np.float64),
        errors.reindex(grid, fill_value=0.0).to_numpy(np.float64),
    )


def changerca_corpus(releases: Iterable[crca.Release], *, history_days: int = 3) -> Corpus:
    """The releases' SLIs on one grid (see the module's docstring)."""
    rows = [(r, *release_counts(r)) for r in releases]
    pad = history_days * DAY
    first_s = min(first for _, first, _, _ in rows) - pad * 60
    last_s = max(first + 60 * len(req) for _, first, req, _ in rows)
    faulty = {r.case: r.service for r, *_ in rows if r.faulty}
    callers: set[tuple[str, ...]] = set()
    series: list[SliSeries] = []
    incidents: list[Incident] = []
    clean: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    for release, first, requests, errors in rows:
        key: tuple[str, ...] = (release.case, release.service)
        at = (first - first_s) // 60 - pad
        if pad:
            requests = np.concatenate([np.full(pad, requests[0]), requests])
            errors = np.concatenate([np.zeros(pad), errors])
        series.append(SliSeries(key, at, requests, errors))
        real = at + pad
        end = at + len(requests)
        if release.faulty:
            start = max(real, -(-(release.release_time - first_s) // 60))
            i, j = start - at, end - at
            ratio = float(errors[i:j].sum() / max(requests[i:j].sum(), 1.0))
            incidents.append(Incident(key, "fault", start, end, ratio / (1 - OBJECTIVE / 100)))
        else:
            clean[key] = [(real, end)]
            edge = f"{release.service}_{faulty.get(release.case)}:success"
            if (release.samples["metric"] == edge).any():
                callers.add(key)
    name = "changerca" if pad else "changerca-nohistory"
    return Corpus(
        name=name,
        first_s=first_s,
        n_minutes=(last_s - first_s) // 60,
        objective=OBJECTIVE,
        key_labels=("case", "service"),
        series=series,
        incidents=incidents,
        clean=clean,
        parts={
            "good releases calling the faulty one": callers,
            "the other releases": {s.key for s in series} - callers,
        },
    )
