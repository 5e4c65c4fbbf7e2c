"""Immutable, content-addressed dataset snapshots under ``<home>/datasets``.

A dataset is a folder named by its id, holding ``data.parquet`` (the long frame on its
grid, gaps as NaN), ``labels.parquet`` (the label side table) and ``manifest.json``
(where it came from, its range, step, counts and the sha256 of its content). The id is
the first 16 hex digits of that sha256, so the same data ingested twice gets the same
id, whatever its source. A dataset is written in a temporary folder and renamed into
place: an error or a crash leaves no partial dataset. Loading verifies the content
against the manifest's sha256 before returning it.

A writer killed half-way leaves its temporary folder (``.tmp-<id>-<hex>``, see
:data:`TEMP_PREFIX`); the next write removes those older than a day, and ``modelphase
gc`` (:func:`modelphase.registry.collect_garbage`) those older than its grace period.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelphase.config import get_settings
from modelphase.exceptions import (
    AmbiguousDatasetIdError,
    DatasetNotFoundError,
    EmptyInputError,
    IntegrityError,
)
from modelphase.files import fsync_dir
from modelphase.frame import Panel, format_duration, format_time, label_table

__all__ = ["FORMAT", "TEMP_PREFIX", "DatasetStore", "Manifest", "content_digest"]

FORMAT = "modelphase.dataset/v1"
ID_LENGTH = 16
#: how the temporary folder of a dataset being written is named: ``.tmp-<id>-<hex>``
TEMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Manifest:
    """What a dataset holds and where it came from."""

    id: str
    sha256: str
    created_at: str
    source: dict[str, Any]
    start: str
    end: str
    step: str
    step_seconds: float
    n_series: int
    n_points: int
    n_missing: int
    missing_ratio: float
    warnings: list[str] = field(default_factory=list)
    format: str = FORMAT
    modelphase_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def content_digest(panel: Panel) -> str:
    """sha256 of a gridded panel's content: step, ids, bounds, times and values.

    NaNs are canonicalised so that every missing point hashes alike. Each id is
    length-prefixed, so that ids holding a newline cannot run into each other.
    """
    if panel.step is None:
        raise ValueError("only a panel on its grid has a content digest")
    h = hashlib.sha256()
    h.update(f"{FORMAT}\nstep={panel.step}\nseries={panel.n_series}\n".encode())
    for uid in panel.ids:
        raw = uid.encode("utf-8")
        h.update(len(raw).to_bytes(8, "little") + raw)
    h.update(panel.indptr.astype("<i8").tobytes())
    h.update(panel.ds.astype("<i8").tobytes())
    y = panel.y.astype("<f8")
    nan = np.isnan(y)
    if nan.any():
        y = np.where(nan, np.float64("nan"), y)
    h.update(y.tobytes())
    return h.hexdigest()


class DatasetStore:
    """The dataset snapshots in one folder (``<home>/datasets`` unless given)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else get_settings().datasets_dir

    def write(
        self,
        panel: Panel,
        source: Mapping[str, Any],
        *,
        now: datetime,
        warnings: list[str] | None = None,
        version: str = "",
    ) -> Manifest:
        """Snapshot a gridded panel; return the new (or already stored) manifest."""
        if panel.step is None:
            raise ValueError("put the panel on its grid before writing it")
        if panel.n_points == 0:
            raise EmptyInputError("expected at least one sample to write, got none")
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"expected an aware datetime for now, got the naive {now}")
        sha = content_digest(panel)
        dataset_id = sha[:ID_LENGTH]
        final = self.root / dataset_id
        if (final / "manifest.json").exists():
            return self.manifest(dataset_id)
        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep_stale()
        tmp = self.root / f"{TEMP_PREFIX}{dataset_id}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            manifest = Manifest(
                id=dataset_id,
                sha256=sha,
                created_at=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                source=dict(source),
                start=format_time(int(panel.ds.min())),
                end=format_time(int(panel.ds.max())),
                step=format_duration(panel.step),
                step_seconds=panel.step / 1e9,
                n_series=panel.n_series,
                n_points=panel.n_points,
                n_missing=panel.n_missing,
                missing_ratio=round(panel.n_missing / panel.n_points, 6),
                warnings=list(warnings or []),
                modelphase_version=version,
            )
            _write_parquet(tmp / "data.parquet", _data_table(panel))
            labels = pa.Table.from_pandas(label_table(panel.ids), preserve_index=False)
            _write_parquet(tmp / "labels.parquet", labels)
            _write_bytes(tmp / "manifest.json", _dump(manifest.to_dict()))
            try:
                os.rename(tmp, final)
            except OSError:
                if not (final / "manifest.json").exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # a twin won the race
                return self.manifest(dataset_id)
            fsync_dir(self.root)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
                exc.filename = str(self.root)  # a write that failed (a full disk) says where
            raise
        return manifest

    def list(self) -> list[Manifest]:
        """Every readable dataset, newest first (see :meth:`scan` for the others)."""
        return self.scan()[0]

    def scan(self) -> tuple[builtins.list[Manifest], builtins.list[IntegrityError]]:
        """Every dataset, newest first, and an error for each unreadable manifest."""
        if not self.root.is_dir():
            return [], []
        found: builtins.list[Manifest] = []
        broken: builtins.list[IntegrityError] = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or not (entry / "manifest.json").is_file():
                continue
            try:
                found.append(self._read_manifest(entry))
            except IntegrityError as exc:
                broken.append(exc)
        found.sort(key=lambda m: (m.created_at, m.id), reverse=True)
        return found, broken

    def resolve(self, dataset_id: str) -> str:
        """The full id of ``dataset_id``, which may be a unique prefix of it."""
        wanted = dataset_id.strip().lower()
        if not wanted or not all(c in "0123456789abcdef" for c in wanted):
            raise DatasetNotFoundError(
                f"expected a dataset id (hex digits, e.g. from `modelphase datasets list`), "
                f"got {dataset_id!r}",
                dataset_id=dataset_id,
            )
        if (self.root / wanted / "manifest.json").is_file():
            return wanted
        matches = (
            sorted(
                p.name
                for p in self.root.iterdir()
                if p.name.startswith(wanted) and (p / "manifest.json").is_file()
            )
            if self.root.is_dir()
            else []
        )
        if not matches:
            raise DatasetNotFoundError(
                f"no dataset {dataset_id!r} in {self.root}. Fix: list them with "
                "`modelphase datasets list` (and check MODELPHASE_HOME)",
                dataset_id=dataset_id,
            )
        if len(matches) > 1:
            raise AmbiguousDatasetIdError(
                f"the prefix {dataset_id!r} matches {len(matches)} datasets "
                f"({', '.join(matches[:5])}). Fix: give more digits",
                dataset_id=dataset_id,
                candidates=matches,
            )
        return matches[0]

    def manifest(self, dataset_id: str) -> Manifest:
        return self._read_manifest(self.root / self.resolve(dataset_id))

    def load(self, dataset_id: str) -> Panel:
        """The dataset's panel, verified against its sha256."""
        folder = self.root / self.resolve(dataset_id)
        manifest = self._read_manifest(folder)
        try:
            table = pq.read_table(folder / "data.parquet")
            panel = _panel_from_table(table, round(manifest.step_seconds * 1e9))
            actual = content_digest(panel)
        except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
            raise IntegrityError(
                f"dataset {manifest.id} cannot be read back ({exc}); its files were "
                "damaged. Fix: ingest the source again",
                expected=manifest.sha256,
                actual="",
            ) from exc
        if actual != manifest.sha256:
            raise IntegrityError(
                f"dataset {manifest.id} fails its sha256 check (expected "
                f"{manifest.sha256[:16]}..., got {actual[:16]}...); it was changed after "
                "it was written. Fix: ingest the source again",
                expected=manifest.sha256,
                actual=actual,
            )
        return panel

    def path(self, dataset_id: str) -> Path:
        return self.root / self.resolve(dataset_id)

    def _read_manifest(self, folder: Path) -> Manifest:
        try:
            data = json.loads((folder / "manifest.json").read_text())
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            return Manifest.from_dict(data)
        except (OSError, ValueError, TypeError) as exc:
            raise IntegrityError(
                f"the manifest of dataset {folder.name} cannot be read: {exc}",
                expected="",
                actual="",
            ) from exc

    def _sweep_stale(self) -> None:
        cutoff = time.time() - _STALE_TMP_SECONDS
        for entry in self.root.glob(f"{TEMP_PREFIX}*"):
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue


def _data_table(panel: Panel) -> pa.Table:
    codes = np.repeat(np.arange(panel.n_series, dtype=np.int32), panel.sizes())
    uid = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(panel.ids, pa.string()))
    ds = pa.array(panel.ds, type=pa.timestamp("ns", tz="UTC"))
    return pa.table({"unique_id": uid, "ds": ds, "y": pa.array(panel.y, pa.float64())})


def _panel_from_table(table: pa.Table, step: int) -> Panel:
    column = table.column("unique_id").combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    if not pa.types.is_string(column.dictionary.type):
        raise ValueError(f"unique_id holds {column.dictionary.type}, not text")
    if column.null_count or table.column("ds").null_count:
        raise ValueError("unique_id or ds has null entries")
    ids = column.dictionary.to_pylist()
    codes = column.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    if ids != sorted(ids) or (len(codes) > 1 and bool((np.diff(codes) < 0).any())):
        raise ValueError("rows are not sorted by unique_id")
    counts = np.bincount(codes, minlength=len(ids))
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    ds = table.column("ds").combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
    y = table.column("y").combine_chunks().to_numpy(zero_copy_only=False)
    return Panel(ids, indptr, ds.astype(np.int64), y.astype(np.float64), step=step)


def _write_parquet(path: Path, table: pa.Table) -> None:
    with path.open("wb") as fh:
        pq.write_table(table, fh, compression="zstd", compression_level=1)
        fh.flush()
        os.fsync(fh.fileno())


def _write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _dump(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
