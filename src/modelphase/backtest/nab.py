"""NAB scoring: the Numenta Anomaly Benchmark's rules, over plain numpy arrays.

NAB (github.com/numenta/NAB, v1.1) rewards a detector for finding each labelled anomaly
window early and charges it for every alert outside the windows. The rules, as scored
here (written from the rules; ``../shared/tools/nabscore.py`` is the reference the tests
compare against):

- The first ``min(floor(0.15 n), 750)`` rows of a file of ``n`` rows are probation: a
  detection there counts for nothing, and a window with no row after probation is left
  out of the null score.
- A row is a detection when its score is ``>= threshold``; NaN never is.
- A detection at row ``i`` of a window ``a..b`` (inclusive, width ``w``) is worth
  ``A_TP * S(-(b - i + 1) / w) / S(-1)`` with the scaled sigmoid
  ``S(y) = 2 / (1 + exp(5 y)) - 1 = -tanh(2.5 y)``: exactly ``A_TP`` on the window's first
  row, a little less on each later row. Only a window's earliest detection counts; a
  window without one costs ``A_FN``.
- A detection outside every window costs ``A_FP * S((i - b) / (w - 1))`` when the last
  window before it is ``a..b`` (a small charge just after a window, ``-A_FP`` from three
  widths on, and for a window of width 1), and ``-A_FP`` when no window came before.
- Raw score = window scores + FP charges over the corpus. One threshold per profile (a
  cost matrix ``A_TP, A_FP, A_FN``) for the whole corpus: the one with the best raw
  score over every distinct score value and "no detection" (``threshold = inf``); on a
  tie the highest threshold wins, i.e. the fewest detections.
- Normalised score = ``100 (raw - null) / (perfect - null)`` with ``null = -A_FN`` times
  the windows that have a row after probation and ``perfect = A_TP`` times all windows.

Label timestamps name rows: a bound refers to the FIRST row with that timestamp (NAB
files repeat timestamps at DST changes, and one steps back an hour), and scores are
aligned to rows by position, never by time.

>>> import numpy as np
>>> f = NabFile("demo/a.csv", np.arange(100, dtype=np.int64) * 60_000_000_000, ((40, 49),))
>>> corpus = NabCorpus((f,))
>>> s = np.zeros(100)
>>> s[40] = 1.0
>>> r = nab_score(corpus, {"demo/a.csv": s})["standard"]
>>> r.score, r.threshold, (r.tp, r.fp, r.fn)
(100.0, 1.0, (1, 0, 0))
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from modelphase.exceptions import (
    MissingColumnsError,
    SourceError,
    TimestampParseError,
    ValidationError,
    ValueParseError,
)

__all__ = [
    "NAB_PROFILES",
    "NabCorpus",
    "NabFile",
    "NabFileResult",
    "NabProfile",
    "NabResult",
    "load_nab_corpus",
    "nab_probation",
    "nab_score",
]

F = NDArray[np.float64]
I64 = NDArray[np.int64]

PROBATION_CAP = 750  # NAB: 0.15 of 5,000 rows
FP_FLOOR = 3.0  # an FP more than three window widths after a window costs the full A_FP


@dataclass(frozen=True)
class NabProfile:
    """An application profile: what a TP earns, an FP and an FN cost (all >= 0)."""

    tp_weight: float
    fp_weight: float
    fn_weight: float


#: NAB's three profiles, used when a corpus folder has no ``config/profiles.json``
NAB_PROFILES: Mapping[str, NabProfile] = {
    "standard": NabProfile(1.0, 0.11, 1.0),
    "reward_low_FP_rate": NabProfile(1.0, 0.22, 1.0),
    "reward_low_FN_rate": NabProfile(1.0, 0.11, 2.0),
}


def nab_probation(n_rows: int) -> int:
    """Leading rows of a file that are never scored: ``min(floor(0.15 n), 750)``.

    Integer arithmetic (``3 n // 20``) gives NAB's float ``floor(0.15 * n)`` exactly.
    """
    return min(3 * n_rows // 20, PROBATION_CAP)


@dataclass(frozen=True, eq=False)
class NabFile:
    """One data file: its times (int64 ns since the epoch, UTC, in file order) and its
    windows as inclusive row ranges ``(first, last)``, sorted and disjoint."""

    relpath: str
    times: I64
    windows: tuple[tuple[int, int], ...] = ()
    values: F | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n, last = len(self.times), -1
        for a, b in self.windows:
            if not 0 <= a <= b < n or a <= last:
                raise ValidationError(
                    f"{self.relpath}: window rows {a}..{b} are not sorted, disjoint and "
                    f"inside the file's {n} rows (windows: {list(self.windows)})",
                    hint="give inclusive (first, last) row positions in file order",
                )
            last = b

    @property
    def n_rows(self) -> int:
        return len(self.times)

    @property
    def category(self) -> str:
        return self.relpath.rpartition("/")[0]

    @classmethod
    def from_labels(
        cls,
        relpath: str,
        times: I64,
        windows: Sequence[tuple[int, int]],
        values: F | None = None,
    ) -> NabFile:
        """A file whose windows are given as label times (int64 ns): each bound maps to
        the first row with that time."""
        uniq, first = np.unique(times, return_index=True)  # first occurrences
        rows = []
        for start, end in windows:
            found = np.searchsorted(uniq, [start, end])
            bounds = []
            for t, k in zip((start, end), found.tolist(), strict=True):
                if k >= len(uniq) or uniq[k] != t:
                    raise ValidationError(
                        f"{relpath}: window bound {pd.Timestamp(t, tz='UTC')} is not the "
                        f"time of any row ({len(times)} rows)",
                        hint="a window's start and end must be timestamps of the file",
                    )
                bounds.append(int(first[k]))
            rows.append((bounds[0], bounds[1]))
        return cls(relpath, times, tuple(sorted(rows)), values)


@dataclass(frozen=True)
class _Geometry:
    """The scorable rows (after probation) of a corpus, flattened in relpath order."""

    tp_unit: F  # S(y) / S(-1) in a window (times A_TP), 0 outside
    fp_unit: F  # S(y) <= 0 outside every window (times A_FP), 0 inside
    window: I64  # corpus-wide window id, -1 outside
    file: I64  # index into order
    order: tuple[int, ...]  # file indices, by relpath
    window_file: I64  # per window: index into order
    window_scorable: NDArray[np.bool_]  # per window: has a row after probation


@dataclass(frozen=True, eq=False)
class NabCorpus:
    """NAB data files with their windows, and the profiles to score them under."""

    files: tuple[NabFile, ...]
    profiles: Mapping[str, NabProfile] = field(default_factory=lambda: dict(NAB_PROFILES))

    def __post_init__(self) -> None:
        names = [f.relpath for f in self.files]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValidationError(f"a corpus names each file once; repeated: {dup}")
        for name, p in self.profiles.items():
            w = (p.tp_weight, p.fp_weight, p.fn_weight)
            if not all(math.isfinite(x) and x >= 0 for x in w) or p.tp_weight == 0:
                raise ValidationError(
                    f"profile {name!r}: expected finite weights >= 0 and tp_weight > 0, got {p}"
                )

    @property
    def n_rows(self) -> int:
        return sum(f.n_rows for f in self.files)

    @property
    def n_windows(self) -> int:
        return sum(len(f.windows) for f in self.files)

    @cached_property
    def _geometry(self) -> _Geometry:
        order = tuple(sorted(range(len(self.files)), key=lambda i: self.files[i].relpath))
        parts: list[tuple[F, F, I64]] = []
        window_file: list[int] = []
        window_scorable: list[bool] = []
        for k, i in enumerate(order):
            f = self.files[i]
            tp, fp, win = _file_geometry(f.n_rows, f.windows)
            p = nab_probation(f.n_rows)
            parts.append((tp[p:], fp[p:], np.where(win >= 0, win + len(window_file), -1)[p:]))
            window_file += [k] * len(f.windows)
            window_scorable += [b >= p for _, b in f.windows]
        sizes = [len(t) for t, _, _ in parts]
        return _Geometry(
            tp_unit=np.concatenate([t for t, _, _ in parts] or [np.zeros(0)]),
            fp_unit=np.concatenate([x for _, x, _ in parts] or [np.zeros(0)]),
            window=np.concatenate([w for _, _, w in parts] or [np.zeros(0, np.int64)]),
            file=np.repeat(np.arange(len(order), dtype=np.int64), sizes),
            order=order,
            window_file=np.array(window_file, dtype=np.int64),
            window_scorable=np.array(window_scorable, dtype=bool),
        )


def _sigmoid(y: F) -> F:
    """NAB's scaled sigmoid ``2 / (1 + exp(5 y)) - 1``, and -1 beyond three widths."""
    out: F = np.where(y > FP_FLOOR, -1.0, -np.tanh(2.5 * y))
    return out


def _file_geometry(n: int, windows: Sequence[tuple[int, int]]) -> tuple[F, F, I64]:
    """Per row of one file: the TP unit value, the FP unit value and the window id."""
    idx = np.arange(n)
    tp_unit, win = np.zeros(n), np.full(n, -1, dtype=np.int64)
    first_value = float(_sigmoid(np.array(-1.0)))
    for k, (a, b) in enumerate(windows):
        rows = idx[a : b + 1]
        win[a : b + 1] = k
        tp_unit[a : b + 1] = _sigmoid(-(b - rows + 1) / (b - a + 1)) / first_value
    fp_unit = np.full(n, -1.0)
    if windows:
        ends = np.array([b for _, b in windows])
        widths = np.array([b - a + 1 for a, b in windows], dtype=np.float64)
        prev = np.searchsorted(ends, idx, side="left") - 1  # last window ended before
        after = prev >= 0
        gap = idx[after] - ends[prev[after]]
        span = widths[prev[after]] - 1.0
        y = np.divide(gap, span, out=np.full(len(gap), np.inf), where=span > 0)
        fp_unit[after] = _sigmoid(y)
    fp_unit[win >= 0] = 0.0
    return tp_unit, fp_unit, win


@dataclass(frozen=True)
class NabFileResult:
    """One file at the profile's threshold: raw points, windows hit (``tp``) and missed
    (``fn``), detections outside the windows (``fp``); ``perfect`` and ``null`` are the
    file's share of the corpus's bounds, ``lost = perfect - raw``."""

    relpath: str
    raw: float
    tp: int
    fp: int
    fn: int
    n_windows: int
    perfect: float
    null: float

    @property
    def lost(self) -> float:
        return self.perfect - self.raw


@dataclass(frozen=True)
class NabResult:
    """A detector's NAB score under one profile, at the threshold chosen (or given)."""

    profile: str
    score: float  # normalised: 0 = never fires, 100 = perfect
    raw: float
    threshold: float  # inf = no detections; the largest float = +inf scores only
    tp: int  # windows detected
    fp: int  # detections outside every window (after probation)
    fn: int  # windows missed (that have a row after probation)
    perfect: float
    null: float
    files: Mapping[str, NabFileResult]


def nab_score(
    corpus: NabCorpus,
    scores: Mapping[str, ArrayLike],
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, NabResult]:
    """Score a detector on ``corpus``: profile -> :class:`NabResult`.

    ``scores`` maps each file's relpath (``realKnownCause/nyc_taxi.csv``) to one score per
    data row, in file order (NaN = no detection); extra keys are ignored. The threshold
    of each profile is optimised over the whole corpus, unless ``thresholds`` gives it
    (a threshold chosen on other data, e.g. the development subset).
    """
    geo = corpus._geometry
    flat = _flatten(corpus, scores, geo.order)
    perfect_w = np.bincount(geo.window_file, minlength=len(geo.order))
    null_w = np.bincount(geo.window_file, weights=geo.window_scorable, minlength=len(geo.order))
    out = {}
    for name, prof in corpus.profiles.items():
        perfect = prof.tp_weight * corpus.n_windows
        null = -prof.fn_weight * int(geo.window_scorable.sum())
        if perfect == null:
            raise ValidationError(
                f"profile {name!r}: the corpus has no anomaly windows, so the normalised "
                "score (raw - null) / (perfect - null) is undefined",
                hint="score a corpus with at least one labelled window",
            )
        value = np.where(
            geo.window >= 0, prof.tp_weight * geo.tp_unit, prof.fp_weight * geo.fp_unit
        )
        if thresholds is not None and name in thresholds:
            threshold = float(thresholds[name])
        else:
            threshold = _best_threshold(flat, value, geo.window, prof.fn_weight, null)
        det = flat >= threshold if threshold < math.inf else np.zeros(len(flat), dtype=bool)
        per_file = _at_threshold(geo, value, det, prof.fn_weight)
        files = {
            corpus.files[i].relpath: NabFileResult(
                corpus.files[i].relpath,
                float(per_file[0][k]),
                int(per_file[1][k]),
                int(per_file[2][k]),
                int(per_file[3][k]),
                len(corpus.files[i].windows),
                prof.tp_weight * float(perfect_w[k]),
                -prof.fn_weight * float(null_w[k]),
            )
            for k, i in enumerate(geo.order)
        }
        raw = float(per_file[0].sum())
        out[name] = NabResult(
            profile=name,
            score=100.0 * (raw - null) / (perfect - null),
            raw=raw,
            threshold=threshold,
            tp=int(per_file[1].sum()),
            fp=int(per_file[2].sum()),
            fn=int(per_file[3].sum()),
            perfect=perfect,
            null=null,
            files=files,
        )
    return out


def _flatten(corpus: NabCorpus, scores: Mapping[str, ArrayLike], order: Sequence[int]) -> F:
    """The scores of the scorable rows, in the geometry's order; checked once, here."""
    missing = [f.relpath for f in corpus.files if f.relpath not in scores]
    if missing:
        raise ValidationError(
            f"no scores for {len(missing)} of the corpus's {len(corpus.files)} files: "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}",
            hint="give one score array per data file, keyed by its relative path",
        )
    parts = []
    for i in order:
        f = corpus.files[i]
        s = np.asarray(scores[f.relpath], dtype=np.float64)
        if s.shape != (f.n_rows,):
            got = f"{s.shape[0]} rows" if s.ndim == 1 else f"shape {s.shape}"
            raise ValidationError(
                f"{f.relpath}: expected {f.n_rows} scores (one per data row), got {got}",
                hint="score every row of the file, in file order, duplicates included",
            )
        parts.append(s[nab_probation(f.n_rows) :])
    return np.concatenate(parts or [np.zeros(0)])


def _best_threshold(flat: F, value: F, window: I64, fn_weight: float, null: float) -> float:
    """The threshold with the best corpus raw score: an exact sweep over every distinct
    score, descending, from "no detection" (inf); ties go to the highest threshold.

    Lowering the threshold to a score adds its rows' detections: an FP adds its value,
    an in-window row adds how much it raises its window's best detection so far. The
    best is the earliest row (values fall along a window), so a running minimum of row
    positions per window finds it exactly, with no float tricks.
    """
    keep = np.flatnonzero(~np.isnan(flat))
    srt = keep[np.argsort(-flat[keep], kind="stable")]
    s, w = flat[srt], window[srt]
    gain = np.where(w < 0, value[srt], 0.0)
    inside = np.flatnonzero(w >= 0)
    if len(inside):
        by_win = inside[np.argsort(w[inside], kind="stable")]  # score order within a window
        g, pos = w[by_win], srt[by_win]
        big = len(flat) + 1
        earliest = np.minimum.accumulate(pos - g * big) + g * big
        best = value[earliest]
        first = np.r_[True, g[1:] != g[:-1]]
        before = np.where(first, -fn_weight, np.r_[-fn_weight, best[:-1]])
        gain[by_win] = np.maximum(best, -fn_weight) - np.maximum(before, -fn_weight)
    total = null + np.cumsum(gain)
    last_of_run = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, dtype=bool)
    candidates = np.r_[math.inf, s[last_of_run]]
    raws = np.r_[null, total[last_of_run]]
    k = int(np.argmax(raws))
    if k > 0 and candidates[k] == math.inf:  # fire on +inf scores only: inf means "none"
        return float(np.finfo(np.float64).max)
    return float(candidates[k])


def _at_threshold(
    geo: _Geometry, value: F, det: NDArray[np.bool_], fn_weight: float
) -> tuple[F, I64, I64, I64]:
    """Per file (in geometry order): raw score, windows hit, FP rows, windows missed."""
    n_files, n_win = len(geo.order), len(geo.window_file)
    fp = det & (geo.window < 0)
    raw = np.bincount(geo.file[fp], weights=value[fp], minlength=n_files).astype(np.float64)
    hits = np.flatnonzero(det & (geo.window >= 0))
    wins, first = np.unique(geo.window[hits], return_index=True)  # earliest row per window
    best = np.where(geo.window_scorable, -fn_weight, 0.0)
    best[wins] = value[hits[first]]
    raw += np.bincount(geo.window_file, weights=best, minlength=n_files)
    hit = np.zeros(n_win, dtype=bool)
    hit[wins] = True
    tp = np.bincount(geo.window_file, weights=hit, minlength=n_files).astype(np.int64)
    missed = geo.window_scorable & ~hit
    fn = np.bincount(geo.window_file, weights=missed, minlength=n_files).astype(np.int64)
    return raw, tp, np.bincount(geo.file[fp], minlength=n_files).astype(np.int64), fn


def load_nab_corpus(path: str | Path) -> NabCorpus:
    """Read a NAB-layout folder: ``data/<category>/<file>.csv`` (``timestamp,value``),
    ``labels/combined_windows.json`` (the files and their windows) and
    ``config/profiles.json`` (NAB's profiles when absent). The files are those the
    windows JSON names; timestamps are read as UTC."""
    root = Path(path)
    labels_path = root / "labels" / "combined_windows.json"
    if not labels_path.is_file():
        raise SourceError(
            f"{root}: no labels/combined_windows.json; expected a NAB folder with data/, "
            "labels/ and config/ (e.g. ../shared/data/nab)"
        )
    labels = json.loads(labels_path.read_text())
    files = []
    for relpath in sorted(labels):
        csv = root / "data" / relpath
        if not csv.is_file():
            raise SourceError(f"{csv}: named in {labels_path} but not found")
        frame = pd.read_csv(csv)
        if not {"timestamp", "value"} <= set(frame.columns):
            raise MissingColumnsError(
                f"{csv}: expected columns timestamp,value, got {','.join(frame.columns)}",
                missing=sorted({"timestamp", "value"} - set(frame.columns)),
                found=list(frame.columns),
            )
        times = _parse_times(frame["timestamp"], str(csv))
        bounds = _parse_times(pd.Series([t for w in labels[relpath] for t in w]), str(labels_path))
        windows = list(zip(bounds[0::2].tolist(), bounds[1::2].tolist(), strict=True))
        try:
            values = np.asarray(pd.to_numeric(frame["value"]), dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise ValueParseError(
                f"{csv}: a value is not a number ({exc})",
                hint="the value column holds numbers; leave a missing one empty (NaN)",
            ) from exc
        files.append(NabFile.from_labels(relpath, times, windows, values))
    return NabCorpus(tuple(files), _load_profiles(root / "config" / "profiles.json"))


def _parse_times(col: pd.Series, where: str) -> I64:
    try:
        parsed = pd.to_datetime(col, utc=True)
    except (ValueError, TypeError) as exc:
        raise TimestampParseError(
            f"{where}: a timestamp could not be read ({exc})",
            hint="NAB timestamps look like 2014-04-10 07:15:00",
        ) from exc
    return np.asarray(parsed.dt.as_unit("ns").astype("int64"), dtype=np.int64)


def _load_profiles(path: Path) -> dict[str, NabProfile]:
    if not path.is_file():
        return dict(NAB_PROFILES)
    out = {}
    for name, spec in json.loads(path.read_text()).items():
        cost = spec.get("CostMatrix", spec)
        try:
            out[name] = NabProfile(
                float(cost["tpWeight"]), float(cost["fpWeight"]), float(cost["fnWeight"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(
                f"{path}: profile {name!r} needs numeric tpWeight, fpWeight, fnWeight ({exc})"
            ) from exc
    return out
