"""``modelphase canary judge --model NAME --baseline-version V --canary-version W``:
two versions of a served model judged on what the server logged for them.

The samples are the versions' serving metrics from the decision log
(:mod:`modelphase.decide.serving`, the monitor's canary hook): each request's
``latency_ms`` and each minute's ``fallback_ratio``, both "increase is bad". Shadow
answers are left out (no caller waited for them). The window is the whole log of the
two versions, or ``--since DURATION`` up to ``--end`` (or now), or ``--start``/``--end``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.cli._render import fail, progress
from modelphase.config import get_settings
from modelphase.decide.serving import serving_samples
from modelphase.decisions import read_decisions
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, parse_duration, parse_time

__all__ = ["from_decisions"]

Samples = dict[str, NDArray[np.float64]]


def _times(
    since: str | None, start: str | None, end: str | None
) -> tuple[datetime | None, datetime | None]:
    if since is not None and start is not None:
        fail("expected --since or --start, got both. Fix: drop one")
    now = int(datetime.now(UTC).timestamp()) * NS_PER_SECOND
    try:
        end_ns = parse_time(end, now=now) if end is not None else None
        start_ns = parse_time(start, now=now) if start is not None else None
        if since is not None:
            start_ns = (end_ns or now) - parse_duration(since)
    except ValidationError as exc:
        fail(f"--since/--start/--end: {exc}")
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        fail("expected the window's start before its end. Fix: check --since/--start/--end")

    def utc(ns: int | None) -> datetime | None:
        return None if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC").to_pydatetime()

    return utc(start_ns), utc(end_ns)


def from_decisions(
    model: str,
    baseline_version: int,
    canary_version: int,
    *,
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
    home: Path | None = None,
) -> tuple[Samples, Samples, float | None]:
    """The two versions' serving samples and how long the canary was silent while the
    baseline answered (None when the canary answered at all)."""
    if baseline_version == canary_version:
        fail(
            f"expected two versions, got --baseline-version and --canary-version both "
            f"{baseline_version}. Fix: name the version in production and the new one"
        )
    root = (home or get_settings().home) / "decisions"
    begin, until = _times(since, start, end)
    sides: list[pd.DataFrame] = []
    with progress(f"reading the decision log of {model}"):
        for version in (baseline_version, canary_version):
            rows = read_decisions(root, model=model, version=version, since=begin, until=until)
            if len(rows) and "alias" in rows.columns:
                rows = rows[rows["alias"] != "shadow"]
            sides.append(rows.sort_values("time_us", kind="stable") if len(rows) else rows)
    base_rows, canary_rows = sides
    if not len(base_rows):
        fail(
            f"--baseline-version {baseline_version}: expected answers of {model} "
            f"v{baseline_version} in the decision log under {root}, got none"
            + (" in the window" if begin or until else "")
            + ". Fix: check the model, the version and the window (modelphase decisions "
            "query --model NAME)"
        )
    silent: float | None = None
    if not len(canary_rows):
        times = pd.to_datetime(base_rows["time_us"], utc=True)
        silent = (times.max() - times.min()).total_seconds()
    return _samples(base_rows), _samples(canary_rows), silent


def _samples(rows: pd.DataFrame) -> Samples:
    found: dict[str, Any] = serving_samples(rows)
    return {k: np.asarray(v, dtype=np.float64) for k, v in found.items()}
