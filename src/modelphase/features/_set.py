"""FeatureSet: an ordered tuple of features, computed for training and for serving."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.features._core import feature_rows
from modelphase.features._recursive import Recursion
from modelphase.features._specs import (
    Feature,
    Lag,
    calendar_from_kind,
    calendar_kinds,
    feature_from_dict,
    rolling_from_kind,
    rolling_kinds,
)
from modelphase.frame import Panel

__all__ = ["FeatureSet"]

#: Rows computed at a time by :meth:`FeatureSet.transform` (keeps the arrays in cache).
CHUNK_ROWS = 1 << 16

_SIMPLE_KEYS = ("lags", *rolling_kinds(), "calendar")


@dataclass(frozen=True)
class FeatureSet:
    """The features of a model, in column order.

    Lags and windows count grid steps; calendar features read the row's own time in
    UTC. A row uses only earlier points of its own series, so the matrix a model is
    trained on never looks ahead, and :meth:`transform_last` (serving) computes the
    same numbers, through the same code, as :meth:`transform` (training).
    """

    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        names = self.names
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValidationError(
                f"expected each feature once, got {dup} more than once",
                hint="remove the repeated features",
            )

    @property
    def names(self) -> list[str]:
        """The column names, e.g. ``["lag_1", "rolling_mean_24", "hour_of_day"]``."""
        return [f.name for f in self.features]

    @property
    def max_lookback(self) -> int:
        """How many past points of its series a row needs (0 for calendar only)."""
        return max((f.lookback for f in self.features), default=0)

    # -- plain data -----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``{"features": [{"kind": "lag", "k": 1}, ...]}``."""
        return {"features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSet:
        """The set :meth:`to_dict` wrote."""
        if not isinstance(data, Mapping) or set(data) != {"features"}:
            raise ValidationError(
                f"expected a mapping with the single key 'features', got {data!r}",
                hint="pass what FeatureSet.to_dict() returned",
            )
        items = data["features"]
        if not isinstance(items, list):
            raise ValidationError(f"expected 'features' to be a list, got {items!r}")
        return cls(tuple(feature_from_dict(item) for item in items))

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> FeatureSet:
        """The set from the short syntax of a model spec.

        ``{"lags": [1, 2, 24], "rolling_mean": [24], "rolling_std": [24],
        "calendar": ["hour_of_day", "day_of_week"]}``; also ``rolling_min`` and
        ``rolling_max`` (windows, each over the values up to one step before the row)
        and the calendar field ``minute_of_hour``. Columns come in that order.
        """
        if not isinstance(spec, Mapping):
            raise ValidationError(
                f"expected the features as a mapping with keys {list(_SIMPLE_KEYS)}, got {spec!r}"
            )
        unknown = sorted(str(k) for k in spec if k not in _SIMPLE_KEYS)
        if unknown:
            raise ValidationError(
                f"unknown feature key(s) {unknown}; expected some of {list(_SIMPLE_KEYS)}",
                hint="rename or remove them",
            )
        out: list[Feature] = []
        for key in _SIMPLE_KEYS:
            if key not in spec:
                continue
            values = spec[key]
            if not isinstance(values, list | tuple):
                raise ValidationError(
                    f"expected '{key}' to be a list, got {values!r}",
                    hint=f"write e.g. {key}: [{'hour_of_day' if key == 'calendar' else 24}]",
                )
            for value in values:
                if key == "lags":
                    out.append(Lag(value))
                elif key == "calendar":
                    if value not in calendar_kinds():
                        raise ValidationError(
                            f"unknown calendar feature {value!r}; expected one of "
                            f"{list(calendar_kinds())}"
                        )
                    out.append(calendar_from_kind(value))
                else:
                    out.append(rolling_from_kind(key, value))
        return cls(tuple(out))

    # -- computation ----------------------------------------------------------

    def transform(self, panel: Panel) -> tuple[NDArray[np.float64], list[str]]:
        """The training matrix: one row per point of ``panel``, in its order.

        Row ``i`` holds the features of point ``i`` computed from the points before it
        in the same series; where the history is too short the value is NaN. The panel
        must be on its regular grid (``panel.step`` set, gaps as NaN).
        """
        _check_grid(panel)
        n = panel.n_points
        starts = np.repeat(panel.indptr[:-1], panel.sizes())
        age = np.arange(n, dtype=np.int64) - starts
        out = np.empty((n, len(self.features)), np.float64)
        for lo in range(0, n, CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, n)
            targets = np.arange(lo, hi, dtype=np.int64)
            out[lo:hi] = feature_rows(self.features, panel.y, targets, age[lo:hi], panel.ds[lo:hi])
        return out, self.names

    def transform_next(self, panel: Panel) -> tuple[NDArray[np.float64], list[str]]:
        """One row per series: the features of the grid point after its last point.

        This is the serving row of every series at once (recursive forecasting feeds
        its predictions back as new points). Series with no points get NaN history.
        """
        step = _check_grid(panel)
        sizes = panel.sizes()
        last = np.zeros(panel.n_series, np.int64)
        has = sizes > 0
        last[has] = panel.ds[panel.indptr[1:][has] - 1]
        nxt = last + step
        out = feature_rows(self.features, panel.y, panel.indptr[1:].copy(), sizes, nxt)
        return out, self.names

    def recursion(
        self, tail: NDArray[np.float64], last_ds: NDArray[np.int64], step: int, h: int
    ) -> Recursion:
        """Rows for a recursive forecast of many series: :meth:`Recursion.next_rows`
        gives every series' next row (as :meth:`transform_next` would, with running
        window sums), :meth:`Recursion.push` appends the predicted values; ``h`` times.

        ``tail`` is ``(n_series, >= max_lookback)``, the last grid values of each series
        (NaN where missing), ``last_ds`` each series' last time, ``step`` the grid step.
        """
        return Recursion(self.features, tail, last_ds, step, h)

    def transform_last(
        self,
        window_ds: NDArray[np.int64],
        window_y: NDArray[np.float64],
        next_ds: int,
    ) -> NDArray[np.float64]:
        """The serving row: features of the point at ``next_ds`` after one series' window.

        ``window_ds``/``window_y`` are the most recent points of the series on its grid
        (NaN for missing values), at least :attr:`max_lookback` of them, ending one step
        before ``next_ds``.
        """
        ds = np.asarray(window_ds, dtype=np.int64)
        y = np.asarray(window_y, dtype=np.float64)
        need = self.max_lookback
        if ds.ndim != 1 or ds.shape != y.shape:
            raise ValidationError(
                f"expected window_ds and window_y as 1-d arrays of one length, got shapes "
                f"{ds.shape} and {y.shape}"
            )
        if len(y) < need:
            raise ValidationError(
                f"expected a window of at least {need} points (the feature set's "
                f"max_lookback), got {len(y)}",
                hint=f"pass the {need} most recent grid points, NaN where missing",
            )
        if len(ds):
            steps = np.diff(np.append(ds, np.int64(next_ds)))
            if steps[0] <= 0 or (steps != steps[0]).any():
                raise ValidationError(
                    "expected the window on a regular grid ending one step before "
                    f"next_ds, got steps {sorted({int(v) for v in steps})[:5]} ns",
                    hint="put the series on its grid (missing points as NaN) first",
                )
        ds, y = ds[len(ds) - need :], y[len(y) - need :]
        row = feature_rows(
            self.features,
            y,
            np.array([len(y)], np.int64),
            np.array([len(y)], np.int64),
            np.array([next_ds], np.int64),
        )
        out: NDArray[np.float64] = row[0]
        return out


def _check_grid(panel: Panel) -> int:
    if panel.step is None:
        raise ValidationError(
            "expected a panel on its regular grid (step set), got one without a step",
            hint="put it on the grid with modelphase.frame.to_grid first",
        )
    return panel.step
