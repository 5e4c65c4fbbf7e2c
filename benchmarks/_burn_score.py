"""Scores of burn alerts against injected incidents, on a 1-minute grid.

An alert is a boolean timeline per SLI (active at minute ``t``). Its **episodes** are
its runs of active minutes, ``[first, end)``. With ``grace`` (minutes), an incident's
**reach** is ``[start, end + grace)``: an episode that overlaps it is explained by it.

- **Precision** (per severity): the episodes explained by an incident of a kind that
  severity is right for, over all episodes. A page is right for ``fast`` and
  ``fault``, a ticket for any kind, "any" (page or ticket, merged) for any kind: so a
  page during a slow burn is a false page.
- **Recall** (per incident kind): the incidents whose reach an episode overlaps, of
  any severity (``any``) and of the right one (``right``: ``page`` for fast burns,
  ``ticket`` for slow ones, either for a faulty release). ``paged`` counts the slow
  burns that got a page anyway.
- **Detection time**: from the incident's start to the first active minute of the
  right severity in its reach (0 when already active); median and p90, in minutes.
- **Reset time**: from the incident's end to the end of the last right-severity
  episode that overlaps its reach (negative when the alert stopped first); median.
  Not for faulty releases, whose data ends while the fault goes on.
- **By design**: the recall of the right severity among the incidents that spent at
  least 2% of a 30-day budget (what the fastest page tier is built to catch: 14.4x
  for an hour), and among the others.
- **Clean spans** (weeks with nothing injected, good releases): the alert minutes and
  the episodes that overlap them, and how many spans got any alert.

>>> on = np.zeros(100, dtype=bool); on[10:20] = on[50:52] = True
>>> episodes(on)
[(10, 20), (50, 52)]
>>> incidents = [Incident(("a",), "fast", 8, 15)]
>>> s = score(incidents, {}, {"page": {("a",): on}, "ticket": {}}, grace=30)
>>> s["page"]["precision"], s["fast"]["recall_right"], s["fast"]["ttd_median"]
(0.5, 1.0, 2.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from _sli import Incident

__all__ = ["RIGHT", "apply_for", "episodes", "score"]

Key = tuple[str, ...]
Active = NDArray[np.bool_]
#: the severity each incident kind should get
RIGHT = {"fast": "page", "slow": "ticket", "fault": "any"}
#: the budget share a page is designed for: 2% of a 30-day budget in 1 h (14.4x)
DESIGN_SHARE = 0.02
_EXPLAINS = {"page": {"fast", "fault"}, "ticket": {"fast", "slow", "fault"}}
_EXPLAINS["any"] = _EXPLAINS["ticket"]


def episodes(active: Active) -> list[tuple[int, int]]:
    """The runs of ``True``, as ``(first, end)`` with ``end`` excluded."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def apply_for(active: Active, for_steps: int) -> Active:
    """A ``for`` of ``for_steps`` evaluations: firing once the expression has held at
    ``for_steps + 1`` evaluations in a row (pending before)."""
    if for_steps <= 0:
        return active
    out = np.zeros_like(active)
    for first, end in episodes(active):
        out[first + for_steps : end] = True
    return out


def _quantile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def score(
    incidents: Sequence[Incident],
    clean: Mapping[Key, Sequence[tuple[int, int]]],
    alerts: Mapping[str, Mapping[Key, Active]],
    *,
    grace: int,
) -> dict[str, Any]:
    """Every score of the module's docstring, per severity and per incident kind.

    ``alerts`` maps ``page`` and ``ticket`` to each SLI key's timeline (a key left out
    never alerted); all timelines have the same length.
    """
    timelines: dict[str, dict[Key, Active]] = {sev: dict(alerts[sev]) for sev in ("page", "ticket")}
    keys = set(timelines["page"]) | set(timelines["ticket"])
    timelines["any"] = {
        key: np.logical_or.reduce(
            [timelines[s][key] for s in ("page", "ticket") if key in timelines[s]]
        )
        for key in keys
    }
    by_key: dict[Key, list[Incident]] = {}
    for inc in incidents:
        by_key.setdefault(inc.key, []).append(inc)
    out: dict[str, Any] = {}
    for sev, lines in timelines.items():
        n_true = n_all = 0
        minutes = n_clean_episodes = 0
        for key, active in lines.items():
            for first, end in episodes(active):
                n_all += 1
                n_true += any(
                    first < inc.end + grace and end > inc.start and inc.kind in _EXPLAINS[sev]
                    for inc in by_key.get(key, [])
                )
                n_clean_episodes += any(first < b and end > a for a, b in clean.get(key, []))
            minutes += sum(int(active[a:b].sum()) for a, b in clean.get(key, []))
        alerted = sorted(
            "/".join(key)
            for key in clean
            if key in lines
            for a, b in clean[key]
            if lines[key][a:b].any()
        )
        out[sev] = {
            "episodes": n_all,
            "true_episodes": n_true,
            "precision": _ratio(n_true, n_all),
            "clean_minutes": minutes,
            "clean_episodes": n_clean_episodes,
            "clean_spans_alerted": len(alerted),
            "clean_keys_alerted": alerted,
        }
    out["n_clean_spans"] = sum(len(spans) for spans in clean.values())
    out["clean_minutes_total"] = sum(b - a for spans in clean.values() for a, b in spans)
    for kind in sorted({inc.kind for inc in incidents}):
        out[kind] = _kind_scores([i for i in incidents if i.kind == kind], timelines, grace)
    return out


def _reach(inc: Incident, active: Active | None, grace: int) -> list[tuple[int, int]]:
    """The episodes of ``active`` that overlap the incident's reach."""
    if active is None:
        return []
    return [(a, b) for a, b in episodes(active) if a < inc.end + grace and b > inc.start]


def _kind_scores(
    incidents: list[Incident], timelines: Mapping[str, Mapping[Key, Active]], grace: int
) -> dict[str, Any]:
    right = RIGHT[incidents[0].kind]
    hit_any = hit_right = paged = 0
    ttd: list[float] = []
    ttd_any: list[float] = []
    reset: list[float] = []
    for inc in incidents:
        found = _reach(inc, timelines[right].get(inc.key), grace)
        anyhow = _reach(inc, timelines["any"].get(inc.key), grace)
        paged += bool(_reach(inc, timelines["page"].get(inc.key), grace))
        hit_any += bool(anyhow)
        if anyhow:
            ttd_any.append(float(max(anyhow[0][0], inc.start) - inc.start))
        if found:
            hit_right += 1
            ttd.append(float(max(found[0][0], inc.start) - inc.start))
            if inc.kind != "fault":
                reset.append(float(found[-1][1] - inc.end))
    n = len(incidents)
    design = np.array([inc.budget_share >= DESIGN_SHARE for inc in incidents])
    n_design = int(design.sum())
    hits = np.array([bool(_reach(inc, timelines[right].get(inc.key), grace)) for inc in incidents])
    return {
        "n": n,
        "right_severity": right,
        "recall_any": hit_any / n,
        "recall_right": hit_right / n,
        "paged": paged,
        "n_spent_2pct": n_design,
        "recall_right_spent_2pct": _ratio(int(hits[design].sum()), n_design),
        "recall_right_below_2pct": _ratio(int(hits[~design].sum()), n - n_design),
        "ttd_median": _quantile(ttd, 50),
        "ttd_p90": _quantile(ttd, 90),
        "ttd_any_median": _quantile(ttd_any, 50),
        "reset_median": _quantile(reset, 50),
        "reset_p90": _quantile(reset, 90),
    }
