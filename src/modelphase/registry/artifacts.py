"""A content-addressed blob store for model artifacts.

A blob lives at ``<root>/sha256/<first two hex>/<digest>``. Writing hashes the bytes,
writes them to a temporary name and renames it into place, so a reader never sees half
a blob; writing the same bytes twice stores them once, and writing them again repairs a
damaged copy. Every read re-hashes the bytes and raises
:class:`~modelphase.exceptions.IntegrityError` on any mismatch, before the caller can
deserialise them. The root is a local folder or any fsspec URL
(``s3://bucket/prefix``, ``memory://...``); only local folders need no extra package.

:meth:`ArtifactStore.files` lists what the store holds (blobs, and the ``.tmp-...``
files a killed writer left), for ``modelphase gc``. Storing bytes that are already
there refreshes the blob's modification time, so that a blob a registration is about to
reference always looks young to gc's grace period.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from modelphase.exceptions import IntegrityError
from modelphase.files import fsync_dir

__all__ = ["TEMP_PREFIX", "ArtifactStore", "StoredFile", "check_digest", "sha256_of"]

#: how a blob being written is named in its folder: ``.tmp-<hex>``
TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class StoredFile:
    """A file under the store's ``sha256/`` folder: ``digest`` is set for a blob (a
    file named by a sha256), ``temporary`` for a write in progress or abandoned;
    ``mtime`` is seconds since the epoch, None when the file system does not say."""

    path: str
    name: str
    size: int
    mtime: float | None
    digest: str | None
    temporary: bool


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore:
    """Blobs named by their sha256 under ``root`` (a path or an fsspec URL)."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        self.fs, self._base = fsspec.core.url_to_fs(self.root)
        self.local = isinstance(self.fs, LocalFileSystem)
        self._base = self._base.rstrip("/")

    def path(self, digest: str) -> str:
        check_digest(digest)
        return f"{self._base}/sha256/{digest[:2]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.path(digest)))

    def put(self, data: bytes) -> str:
        """Store ``data``; return its sha256 (the blob's name)."""
        digest = sha256_of(data)
        final = self.path(digest)
        if self.fs.exists(final) and self.verify(digest) is None:
            self._touch(final)  # young again: gc leaves it for its grace period
            return digest  # a damaged copy (even of the same size) is rewritten below
        folder = final.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/{TEMP_PREFIX}{uuid.uuid4().hex}"
        try:
            if self.local:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, final)
                fsync_dir(folder)
            else:
                self.fs.pipe_file(tmp, data)
                self.fs.mv(tmp, final)
        except BaseException as exc:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
                exc.filename = self.root  # a write that failed (a full disk) says where
            raise
        return digest

    def files(self) -> list[StoredFile]:
        """Every file under ``<root>/sha256/`` (symbolic links left out), sorted by path."""
        base = f"{self._base}/sha256"
        if not self.fs.isdir(base):
            return []
        found: dict[str, dict[str, Any]] = self.fs.find(base, detail=True)
        listed = []
        for path, info in sorted(found.items()):
            if info.get("type") != "file" or info.get("islink"):
                continue
            name = path.rsplit("/", 1)[-1]
            listed.append(
                StoredFile(
                    path=path,
                    name=name,
                    size=int(info.get("size") or 0),
                    mtime=self._mtime(path, info),
                    digest=name if _is_digest(name) and path == self.path(name) else None,
                    temporary=name.startswith(TEMP_PREFIX),
                )
            )
        return listed

    def remove(self, path: str) -> None:
        """Delete one file the store listed (:meth:`files`); a missing one is fine."""
        if not path.startswith(f"{self._base}/sha256/"):
            raise ValueError(f"expected a path under {self._base}/sha256/, got {path!r}")
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def mtime(self, path: str) -> float | None:
        """The modification time of a stored file now (None: gone, or not known)."""
        try:
            return self._mtime(path, self.fs.info(path))
        except FileNotFoundError:
            return None

    def _mtime(self, path: str, info: dict[str, Any]) -> float | None:
        if isinstance(info.get("mtime"), int | float):
            return float(info["mtime"])
        try:
            when = self.fs.modified(path)
        except (NotImplementedError, OSError, ValueError):
            return None
        return when.timestamp() if isinstance(when, datetime) else None

    def _touch(self, path: str) -> None:
        if self.local:
            # a read-only store: nothing collects garbage in it either
            with contextlib.suppress(OSError):
                os.utime(path)

    def put_file(self, path: Path) -> str:
        """Store a file's bytes; return their sha256."""
        return self.put(Path(path).read_bytes())

    def get(self, digest: str) -> bytes:
        """The verified bytes of a blob; raises :class:`IntegrityError` if they are
        missing, truncated or changed."""
        try:
            data = bytes(self.fs.cat_file(self.path(digest)))
        except FileNotFoundError as exc:
            raise IntegrityError(
                f"artifact {digest[:16]}... is missing from {self.root}. Fix: restore it "
                "from a backup or register the model again",
                expected=digest,
                actual="",
            ) from exc
        actual = sha256_of(data)
        if actual != digest:
            raise IntegrityError(
                f"artifact {digest[:16]}... fails its sha256 check (got {actual[:16]}..., "
                f"{len(data)} bytes); it was changed or truncated after it was stored and "
                "will not be loaded. Fix: restore it or register the model again",
                expected=digest,
                actual=actual,
            )
        return data

    def verify(self, digest: str) -> str | None:
        """None if the blob is intact, else what is wrong with it."""
        try:
            self.get(digest)
        except IntegrityError as exc:
            return "missing" if not exc.actual else f"sha256 mismatch (got {exc.actual})"
        return None


def _is_digest(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def check_digest(digest: str) -> None:
    """Refuse anything but 64 lower-case hex digits (:class:`IntegrityError`)."""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise IntegrityError(
            f"expected a sha256 hex digest, got {digest!r}", expected=digest, actual=""
        )
