"""Garbage collection: what killed writers and failed registrations leave behind.

Every write is atomic: a temporary name first, renamed into place when complete. A
writer killed half-way leaves its temporary file or folder behind, and a registration
whose database write failed leaves its stored artifact referenced by no version.
:func:`collect_garbage` finds

- ``artifact-temp``: ``.tmp-*`` files in the artifact store (:class:`ArtifactStore`);
- ``orphan-artifact``: blobs that no version of the registry references;
- ``dataset-temp``: ``.tmp-*`` folders in the dataset store (:class:`DatasetStore`);
- ``temp-file``: ``.NAME.HEX.tmp`` files of atomic writes (reports, the decision log,
  exports) under the folders it is given (the home folder),

older than ``grace`` (one hour by default), and deletes them when ``delete`` is true.
Age is ``now`` minus the newest modification time of the file (or of a folder and what
it holds), so a writer in progress, which keeps writing, is never touched. A blob is
deleted only if, checked again just before, no version references it and it is still
old: a registration stores its artifact (refreshing its time when the bytes were
already there) before it writes the version, within the grace period. Symbolic links
are never followed. Orphans are kept when the registry has no version at all: the store
then likely belongs to another registry (check ``MODELPHASE_REGISTRY_URL``).

>>> import tempfile
>>> from datetime import UTC, datetime
>>> from modelphase.ingest import DatasetStore
>>> with tempfile.TemporaryDirectory() as d:
...     with Registry(f"sqlite:///{d}/r.db", artifacts=f"{d}/a") as reg:
...         found = collect_garbage(reg, DatasetStore(Path(d) / "datasets"),
...                                 now=datetime.now(UTC))
>>> found.items, found.delete
([], False)
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from modelphase.exceptions import ValidationError
from modelphase.ingest.datasets import TEMP_PREFIX as DATASET_TEMP_PREFIX
from modelphase.ingest.datasets import DatasetStore
from modelphase.registry.artifacts import ArtifactStore, StoredFile
from modelphase.registry.auth import Role, require
from modelphase.registry.registry import Registry
from modelphase.registry.schema import versions

__all__ = ["GRACE", "KINDS", "Garbage", "GcReport", "collect_garbage"]

#: how old a temporary or an orphan must be before it is garbage
GRACE = timedelta(hours=1)
KINDS = ("artifact-temp", "orphan-artifact", "dataset-temp", "temp-file")
#: the temporary name of :func:`modelphase.files.atomic_path`: ``.NAME.<12 hex>.tmp``
_ATOMIC_TEMP = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


@dataclass(frozen=True)
class Garbage:
    """One thing to delete: its ``kind`` (one of :data:`KINDS`), path, size in bytes
    (a folder's files summed), age in seconds, and whether it was deleted."""

    kind: str
    path: str
    size_bytes: int
    age_seconds: float
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GcReport:
    """What :func:`collect_garbage` found (and deleted, with ``delete``)."""

    items: list[Garbage]
    delete: bool
    grace_seconds: float
    #: temporaries and orphans left alone because they are younger than the grace period
    young: int = 0
    #: orphans left alone for another reason (see ``notes``)
    kept: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        return sum(g.size_bytes for g in self.items)

    @property
    def n_deleted(self) -> int:
        return sum(g.deleted for g in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delete": self.delete,
            "grace_seconds": self.grace_seconds,
            "items": [g.to_dict() for g in self.items],
            "count": len(self.items),
            "size_bytes": self.size_bytes,
            "deleted": self.n_deleted,
            "young": self.young,
            "kept": self.kept,
            "notes": list(self.notes),
        }


def collect_garbage(
    registry: Registry,
    datasets: DatasetStore,
    *,
    now: datetime,
    grace: timedelta = GRACE,
    delete: bool = False,
    folders: Sequence[Path] = (),
) -> GcReport:
    """Find (and with ``delete``, remove) what is older than ``grace`` at ``now``: the
    artifact store's temporaries and orphans (``registry.artifacts``), the dataset
    store's temporary folders, and atomic writes' temporary files under ``folders``.

    Listing needs the viewer role, deleting the admin role.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValidationError(f"expected an aware datetime for now, got the naive {now}")
    if grace < timedelta(0):
        raise ValidationError(f"expected a grace period >= 0, got {grace}")
    require(registry.principal, Role.ADMIN if delete else Role.VIEWER, "collecting garbage")
    cutoff = now.timestamp() - grace.total_seconds()
    found: list[Garbage] = []
    young = kept = 0
    notes: list[str] = []
    store = registry.artifacts
    files = store.files()
    referenced = _referenced(registry)
    any_version = _has_versions(registry)
    for item in files:
        if not item.temporary and item.digest is None:
            continue  # not ours: left alone
        if item.digest is not None and item.digest in referenced:
            continue
        if item.mtime is None or item.mtime > cutoff:
            young += 1
            continue
        if item.digest is not None and not any_version:
            kept += 1
            continue
        kind = "artifact-temp" if item.temporary else "orphan-artifact"
        found.append(Garbage(kind, item.path, item.size, now.timestamp() - item.mtime))
    if kept:
        notes.append(
            f"{kept} unreferenced artifact(s) kept: the registry has no version at all, so "
            "the store may belong to another registry (check MODELPHASE_REGISTRY_URL)"
        )
    for path, size, newest in _dataset_temps(datasets):
        if newest > cutoff:
            young += 1
            continue
        found.append(Garbage("dataset-temp", str(path), size, now.timestamp() - newest))
    skip = {Path(os.path.abspath(datasets.root))}
    if store.local:
        skip.add(Path(os.path.abspath(store.root)))
    for path, size, mtime in _atomic_temps(folders, skip):
        if mtime > cutoff:
            young += 1
            continue
        found.append(Garbage("temp-file", str(path), size, now.timestamp() - mtime))
    if delete:
        by_path = {f.path: f for f in files}
        found = [_delete(g, registry, store, by_path, datasets, cutoff) for g in found]
    return GcReport(found, delete, grace.total_seconds(), young, kept, notes)


def _delete(
    item: Garbage,
    registry: Registry,
    store: ArtifactStore,
    listed: dict[str, StoredFile],
    datasets: DatasetStore,
    cutoff: float,
) -> Garbage:
    """Delete one item after checking again that it is still garbage."""
    if item.kind in ("artifact-temp", "orphan-artifact"):
        mtime = store.mtime(item.path)
        if mtime is None or mtime > cutoff:
            return item  # gone, or written again meanwhile
        digest = listed[item.path].digest
        if digest is not None and _is_referenced(registry, digest):
            return item  # a version was registered meanwhile
        store.remove(item.path)
    elif item.kind == "dataset-temp":
        path = Path(item.path)
        if path.is_symlink() or path.parent != datasets.root or _newest(path) > cutoff:
            return item
        shutil.rmtree(path, ignore_errors=True)
    else:
        path = Path(item.path)
        try:
            stat = path.lstat()
        except FileNotFoundError:
            return item
        if path.is_symlink() or stat.st_mtime > cutoff:
            return item
        path.unlink(missing_ok=True)
    return Garbage(item.kind, item.path, item.size_bytes, item.age_seconds, deleted=True)


def _referenced(registry: Registry) -> set[str]:
    with registry.db.read() as conn:
        rows = conn.execute(sa.select(versions.c.artifact_digest).distinct()).scalars()
        return {str(d) for d in rows}


def _is_referenced(registry: Registry, digest: str) -> bool:
    with registry.db.read() as conn:
        query = sa.select(versions.c.artifact_digest).where(versions.c.artifact_digest == digest)
        return conn.execute(query.limit(1)).first() is not None


def _has_versions(registry: Registry) -> bool:
    with registry.db.read() as conn:
        return conn.execute(sa.select(versions.c.artifact_digest).limit(1)).first() is not None


def _dataset_temps(datasets: DatasetStore) -> Iterator[tuple[Path, int, float]]:
    """``(folder, bytes, newest mtime)`` of each temporary folder of the dataset store."""
    root = datasets.root
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if not entry.name.startswith(DATASET_TEMP_PREFIX) or entry.is_symlink():
            continue
        if not entry.is_dir():
            continue
        try:
            yield entry, _size(entry), _newest(entry)
        except OSError:
            continue  # removed meanwhile


def _atomic_temps(folders: Iterable[Path], skip: set[Path]) -> Iterator[tuple[Path, int, float]]:
    """``(file, bytes, mtime)`` of each atomic write's temporary file under ``folders``
    (not following links, not descending into ``skip``)."""
    seen: set[Path] = set()
    for folder in folders:
        for top, dirs, names in os.walk(folder, followlinks=False):
            here = Path(os.path.abspath(top))
            dirs[:] = sorted(d for d in dirs if here / d not in skip)
            for name in sorted(names):
                path = here / name
                if path in seen or not _ATOMIC_TEMP.fullmatch(name):
                    continue
                seen.add(path)
                try:
                    stat = path.lstat()
                except OSError:
                    continue
                if path.is_symlink():
                    continue
                yield path, stat.st_size, stat.st_mtime


def _newest(path: Path) -> float:
    """The newest modification time of a folder and everything in it."""
    newest = path.lstat().st_mtime
    for top, dirs, names in os.walk(path, followlinks=False):
        for name in [*dirs, *names]:
            try:
                newest = max(newest, os.lstat(os.path.join(top, name)).st_mtime)
            except OSError:
                continue
    return newest


def _size(path: Path) -> int:
    total = 0
    for top, _dirs, names in os.walk(path, followlinks=False):
        for name in names:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                continue
    return total
