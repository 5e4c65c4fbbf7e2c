"""The monitor's small pieces of data handling: the stored spec of a version, its logged
answers, the reference rows drift compares with, and plain JSON for the evidence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import yaml

from modelphase.exceptions import ModelphaseError
from modelphase.registry import ModelVersion
from modelphase.spec import ModelSpec, parse_spec

__all__ = [
    "DAY",
    "REFERENCE_DAYS",
    "answered_by",
    "created_ns",
    "failures",
    "plain",
    "plain_json",
    "same_hours",
    "stored_spec",
    "without_pending",
]

#: drift compares a recent window with this many days of the training data before it
REFERENCE_DAYS = 7
DAY = 86_400 * 10**9


def stored_spec(version: ModelVersion) -> ModelSpec | None:
    if not version.spec:
        return None
    try:
        return parse_spec(yaml.safe_dump(version.spec), source=f"{version.name} v{version.version}")
    except ModelphaseError:
        return None


def answered_by(
    decisions: pd.DataFrame, version: int | None, alias: str, since_us: int = 0
) -> pd.DataFrame:
    """The logged answers of one version under one alias (since ``since_us``, epoch us,
    when given)."""
    if not len(decisions) or "version" not in decisions.columns:
        return decisions.iloc[0:0]
    keep = (decisions["version"] == version) & (decisions["alias"] == alias)
    part = decisions[keep.fillna(False).astype(bool)]
    if since_us and len(part):
        part = part[part["time_us"] >= pd.Timestamp(since_us * 1000, tz="UTC")]
    return part


def failures(decisions: pd.DataFrame, version: int, alias: str, since_us: int) -> tuple[int, int]:
    """``(answered by the fallback, answered)`` of one version and alias since then."""
    part = answered_by(decisions, version, alias, since_us)
    if not len(part):
        return 0, 0
    return int((part["answered_by"] == "fallback").sum()), len(part)


def same_hours(ref_ds: np.ndarray, cur_ds: np.ndarray, until: int) -> np.ndarray:
    """The reference rows to compare a recent window with: the training data's last
    week, at the same hours of the day as the window (a night is compared with nights,
    not with the whole day's range), or all of that week for a window of a day or more."""
    lo, hi = int(cur_ds.min()), int(cur_ds.max())
    keep = ref_ds > until - REFERENCE_DAYS * DAY
    if hi - lo >= DAY:
        return np.asarray(keep)
    return np.asarray(keep & (np.mod(ref_ds - lo, DAY) <= hi - lo))


def created_ns(version: ModelVersion) -> int:
    return int(pd.Timestamp(version.created_at).value)


def without_pending(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "pending"}


def plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def plain_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return plain(value)
