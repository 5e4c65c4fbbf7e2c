"""The content-addressed artifact store, on a local folder and on an fsspec URL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from modelphase.exceptions import IntegrityError
from modelphase.registry import ArtifactStore


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(tmp_path / "artifacts")
    return ArtifactStore(f"memory://artifacts-{uuid.uuid4().hex}")


def test_blobs_are_named_by_content_and_stored_once(store: ArtifactStore) -> None:
    digest = store.put(b"weights")
    assert digest == store.put(b"weights")
    assert store.path(digest).endswith(f"/sha256/{digest[:2]}/{digest}")
    assert store.get(digest) == b"weights"
    assert store.verify(digest) is None
    assert not [p for p in store.fs.find(store._base) if ".tmp-" in p], "no temp files left"


def test_tampered_truncated_or_missing_blobs_are_refused(store: ArtifactStore) -> None:
    digest = store.put(b"x" * 100)
    store.fs.pipe_file(store.path(digest), b"x" * 99)
    with pytest.raises(IntegrityError, match="fails its sha256") as info:
        store.get(digest)
    assert info.value.expected == digest
    assert store.verify(digest) is not None
    assert store.put(b"x" * 100) == digest, "storing the bytes again repairs the blob"
    assert store.get(digest) == b"x" * 100
    store.fs.rm(store.path(digest))
    with pytest.raises(IntegrityError, match="missing"):
        store.get(digest)
    with pytest.raises(IntegrityError, match="sha256 hex digest"):
        store.get("../../etc/passwd")
