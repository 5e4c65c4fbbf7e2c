"""A content-addressed blob store for model artifacts.

A blob lives at ``<root>/sha256/<first two hex>/<digest>``. Writing hashes the bytes,
writes them to a temporary name and renames it into place, so a reader never sees half
a blob; writing the same bytes twice stores them once, and writing them again repairs a
damaged copy. Every read re-hashes the bytes and raises
:class:`~modelphase.exceptions.IntegrityError` on any mismatch, before the caller can
deserialise them. The root is a local folder or any fsspec URL
(``s3://bucket/prefix``, ``memory://...``); only local folders need no extra package.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from modelphase.exceptions import IntegrityError
from modelphase.files import fsync_dir

__all__ = ["ArtifactStore", "sha256_of"]


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
        _check_digest(digest)
        return f"{self._base}/sha256/{digest[:2]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.path(digest)))

    def put(self, data: bytes) -> str:
        """Store ``data``; return its sha256 (the blob's name)."""
        digest = sha256_of(data)
        final = self.path(digest)
        if self.fs.exists(final) and self.verify(digest) is None:
            return digest  # a damaged copy (even of the same size) is rewritten below
        folder = final.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}"
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
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise
        return digest

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


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise IntegrityError(
            f"expected a sha256 hex digest, got {digest!r}", expected=digest, actual=""
        )
