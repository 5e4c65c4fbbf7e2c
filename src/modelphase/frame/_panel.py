"""The panel: many series in one buffer with index pointers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import MissingColumnsError, ValidationError

__all__ = ["Panel"]


@dataclass(frozen=True, eq=False)
class Panel:
    """Many series in one buffer: series ``i`` is ``ds[indptr[i]:indptr[i+1]]``.

    ``ids`` are sorted; ``ds`` holds nanoseconds since the epoch (UTC); ``y`` float64.
    ``step`` (nanoseconds) is set once the panel is on a regular grid, where NaN marks a
    missing sample. ``rows`` keeps each sample's row in its source, for error messages.
    """

    ids: list[str]
    indptr: NDArray[np.int64]
    ds: NDArray[np.int64]
    y: NDArray[np.float64]
    step: int | None = None
    rows: NDArray[np.int64] | None = None

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def n_points(self) -> int:
        return len(self.y)

    @property
    def n_missing(self) -> int:
        return int(np.isnan(self.y).sum())

    def sizes(self) -> NDArray[np.int64]:
        """Samples per series."""
        return np.diff(self.indptr)

    def series_index(self) -> NDArray[np.int64]:
        """The series number of every sample."""
        return np.repeat(np.arange(self.n_series, dtype=np.int64), self.sizes())

    def series(self, uid: str) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """``(ds, y)`` of one series."""
        i = self._positions[uid]
        sl = slice(int(self.indptr[i]), int(self.indptr[i + 1]))
        return self.ds[sl], self.y[sl]

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {uid: i for i, uid in enumerate(self.ids)}

    def take(self, keep: NDArray[np.bool_], *, drop_empty: bool = False) -> Panel:
        """The samples where ``keep`` is true, in order; series left without samples
        stay (empty) unless ``drop_empty``."""
        counts = np.bincount(self.series_index()[keep], minlength=self.n_series)
        ids = self.ids
        if drop_empty:
            ids = [uid for uid, n in zip(self.ids, counts, strict=True) if n]
            counts = counts[counts > 0]
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        rows = None if self.rows is None else self.rows[keep]
        return Panel(ids, indptr, self.ds[keep], self.y[keep], self.step, rows)

    def subset(self, ids: Sequence[str]) -> Panel:
        """Only the series named in ``ids`` (unknown ids are ignored)."""
        wanted = set(ids)
        if wanted >= set(self.ids):
            return self
        chosen = np.array([uid in wanted for uid in self.ids], dtype=bool)
        return self.take(chosen[self.series_index()], drop_empty=True)

    @classmethod
    def from_arrays(
        cls,
        uid: Sequence[str] | NDArray[np.object_] | pd.Series,
        ds: NDArray[np.int64],
        y: NDArray[np.float64],
        *,
        rows: NDArray[np.int64] | None = None,
        step: int | None = None,
    ) -> Panel:
        """A panel from one entry per sample; order within a series is kept."""
        codes, uniques = pd.factorize(np.asarray(uid, dtype=object), sort=True)
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes, minlength=len(uniques))
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        row_arr = (np.arange(len(codes), dtype=np.int64) + 1) if rows is None else rows
        return cls(
            ids=[str(u) for u in uniques],
            indptr=indptr,
            ds=np.asarray(ds, dtype=np.int64)[order],
            y=np.asarray(y, dtype=np.float64)[order],
            step=step,
            rows=np.asarray(row_arr, dtype=np.int64)[order],
        )

    @classmethod
    def from_series(
        cls,
        items: Sequence[tuple[str, NDArray[np.int64], NDArray[np.float64]]],
        *,
        step: int | None = None,
    ) -> Panel:
        """A panel from ``(unique_id, ds, y)`` per series (ids must be distinct)."""
        items = sorted(items, key=lambda item: item[0])
        ids = [item[0] for item in items]
        if len(set(ids)) != len(ids):
            dup = sorted({u for u in ids if ids.count(u) > 1})
            raise ValidationError("a series id appears twice", unique_ids=dup)
        sizes = [len(item[1]) for item in items]
        indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        empty_i = np.empty(0, np.int64)
        empty_f = np.empty(0, np.float64)
        ds = np.concatenate([item[1] for item in items]) if items else empty_i
        y = np.concatenate([item[2] for item in items]) if items else empty_f
        return cls(
            ids,
            indptr,
            ds.astype(np.int64, copy=False),
            y.astype(np.float64, copy=False),
            step=step,
        )

    @classmethod
    def from_long(cls, df: pd.DataFrame, *, step: int | None = None) -> Panel:
        """A panel from a long frame with ``unique_id``, ``ds`` (UTC) and ``y``."""
        missing = [c for c in ("unique_id", "ds", "y") if c not in df.columns]
        if missing:
            raise MissingColumnsError(
                f"a long frame needs the columns unique_id, ds, y; missing {missing}",
                missing=missing,
                found=[str(c) for c in df.columns],
            )
        ds = pd.to_datetime(df["ds"], utc=True).to_numpy(dtype="datetime64[ns]")
        return cls.from_arrays(
            df["unique_id"].astype(str).to_numpy(dtype=object),
            ds.view(np.int64),
            df["y"].to_numpy(dtype=np.float64),
            step=step,
        )

    def to_long(self) -> pd.DataFrame:
        """The long frame: ``unique_id`` (categorical), ``ds`` (UTC), ``y``."""
        codes = self.series_index()
        uid = pd.Categorical.from_codes(codes, categories=pd.Index(self.ids, dtype=object))
        ds = pd.DatetimeIndex(self.ds.view("datetime64[ns]"), tz="UTC")
        return pd.DataFrame({"unique_id": uid, "ds": ds, "y": self.y})

    def describe(self) -> pd.DataFrame:
        """Per-series summary: points, missing, first and last time, min, mean, max."""
        starts, ends = self.indptr[:-1], self.indptr[1:]
        nonempty = ends > starts
        idx = self.series_index()
        finite = ~np.isnan(self.y)
        n_obs = np.bincount(idx[finite], minlength=self.n_series)
        sums = np.bincount(idx[finite], weights=self.y[finite], minlength=self.n_series)
        lo = np.full(self.n_series, np.nan)
        hi = np.full(self.n_series, np.nan)
        if finite.any():
            np.fmin.at(lo, idx[finite], self.y[finite])
            np.fmax.at(hi, idx[finite], self.y[finite])
        first = np.where(nonempty, self.ds[np.minimum(starts, max(self.n_points - 1, 0))], 0)
        last = np.where(nonempty, self.ds[np.maximum(ends - 1, 0)], 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums / n_obs
        return pd.DataFrame(
            {
                "unique_id": self.ids,
                "points": self.sizes(),
                "missing": self.sizes() - n_obs,
                "start": pd.DatetimeIndex(first.view("datetime64[ns]"), tz="UTC"),
                "end": pd.DatetimeIndex(last.view("datetime64[ns]"), tz="UTC"),
                "min": lo,
                "mean": mean,
                "max": hi,
            }
        )
