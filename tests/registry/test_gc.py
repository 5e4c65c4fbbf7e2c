"""``modelphase gc``: what killed writers and failed registrations leave behind goes,
what a writer in progress or a version still needs stays.

Ages are set explicitly (file times against an injected ``now``), never waited for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelphase.exceptions import ValidationError
from modelphase.ingest import DatasetStore
from modelphase.registry import Registry
from modelphase.registry import gc as gc_module
from modelphase.registry.gc import collect_garbage
from support.cli import RunCli

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=2)
YOUNG = NOW - timedelta(minutes=10)


def age(path: Path, when: datetime) -> Path:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))
    return path


@dataclass
class Leftovers:
    """A home folder with one leftover of each kind, old and young, and what must stay."""

    home: Path
    registry: Registry
    datasets: DatasetStore
    referenced: Path
    old: dict[str, Path]
    young: dict[str, Path]

    def blob(self, data: bytes) -> Path:
        return Path(self.registry.artifacts.path(self.registry.artifacts.put(data)))

    def exists(self) -> dict[str, bool]:
        paths = {f"old {k}": p for k, p in self.old.items()}
        paths |= {f"young {k}": p for k, p in self.young.items()}
        return {name: p.exists() for name, p in paths.items()}


@pytest.fixture
def leftovers(home: Path) -> Iterator[Leftovers]:
    reg = Registry(f"sqlite:///{home / 'registry.db'}", artifacts=home / "artifacts")
    datasets = DatasetStore(home / "datasets")
    version = reg.register("m", b"the model")
    referenced = age(Path(reg.artifacts.path(version.artifact_digest)), OLD)
    made = Leftovers(home, reg, datasets, referenced, {}, {})
    for label, when in (("old", OLD), ("young", YOUNG)):
        found = made.old if label == "old" else made.young
        blob = made.blob(f"a failed registration ({label})".encode())
        found["orphan-artifact"] = age(blob, when)
        temp = blob.parent / f".tmp-{label}0123456789abcdef"
        temp.write_bytes(b"half a blob")
        found["artifact-temp"] = age(temp, when)
        folder = home / "datasets" / f".tmp-0123456789abcdef-{label[:4]}0000"
        folder.mkdir(parents=True)
        (folder / "data.parquet").write_bytes(b"half a dataset")
        age(folder / "data.parquet", when)
        found["dataset-temp"] = age(folder, when)
        reports = home / "reports"
        reports.mkdir(exist_ok=True)
        page = reports / f".{label}.html.0123456789ab.tmp"
        page.write_text("<html>half")
        found["temp-file"] = age(page, when)
    yield made
    reg.close()


def test_a_dry_run_lists_what_is_old_and_deletes_nothing(leftovers: Leftovers) -> None:
    found = collect_garbage(
        leftovers.registry, leftovers.datasets, now=NOW, folders=[leftovers.home]
    )
    assert not found.delete
    assert sorted((g.kind, g.path) for g in found.items) == sorted(
        (kind, str(path)) for kind, path in leftovers.old.items()
    )
    assert {g.age_seconds for g in found.items} == {7200.0}
    assert found.young == 4
    assert found.n_deleted == 0
    assert found.size_bytes == sum(g.size_bytes for g in found.items) > 0
    assert all(leftovers.exists().values())
    assert leftovers.referenced.exists()


def test_delete_removes_only_the_old_leftovers(leftovers: Leftovers) -> None:
    found = collect_garbage(
        leftovers.registry, leftovers.datasets, now=NOW, delete=True, folders=[leftovers.home]
    )
    assert found.n_deleted == 4
    assert {g.kind for g in found.items if g.deleted} == set(gc_module.KINDS)
    assert leftovers.exists() == {
        **{f"old {k}": False for k in leftovers.old},
        **{f"young {k}": True for k in leftovers.young},
    }
    assert leftovers.registry.load_artifact("m", 1) == b"the model"  # referenced: kept
    assert leftovers.datasets.scan() == ([], [])
    again = collect_garbage(
        leftovers.registry, leftovers.datasets, now=NOW, delete=True, folders=[leftovers.home]
    )
    assert again.items == []


def test_the_grace_period_decides_what_is_old(leftovers: Leftovers) -> None:
    wide = collect_garbage(
        leftovers.registry, leftovers.datasets, now=NOW, grace=timedelta(hours=3),
        folders=[leftovers.home],
    )  # fmt: skip
    assert wide.items == []
    assert wide.young == 8
    narrow = collect_garbage(
        leftovers.registry, leftovers.datasets, now=NOW, grace=timedelta(minutes=5),
        folders=[leftovers.home],
    )  # fmt: skip
    assert len(narrow.items) == 8


def test_a_dataset_folder_still_being_written_is_young(leftovers: Leftovers) -> None:
    """A writer in progress keeps writing into its folder: the newest file counts."""
    folder = leftovers.old["dataset-temp"]
    age(folder / "data.parquet", YOUNG)
    found = collect_garbage(leftovers.registry, leftovers.datasets, now=NOW, delete=True)
    assert "dataset-temp" not in {g.kind for g in found.items}
    assert folder.exists()


def test_a_blob_registered_during_the_collection_is_kept(
    leftovers: Leftovers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The references are read, then a registration lands with the orphan's bytes
    before the deletion: the check just before deleting keeps the blob."""
    orphan = leftovers.old["orphan-artifact"]
    real = gc_module._referenced

    def then_register(registry: Registry) -> set[str]:
        seen = real(registry)
        registry.register("late", orphan.read_bytes())
        age(orphan, OLD)  # even if its time were not refreshed, the version protects it
        return seen

    monkeypatch.setattr(gc_module, "_referenced", then_register)
    found = collect_garbage(leftovers.registry, leftovers.datasets, now=NOW, delete=True)
    kept = [g for g in found.items if g.path == str(orphan)]
    assert len(kept) == 1
    assert not kept[0].deleted
    assert leftovers.registry.load_artifact("late", 1) == orphan.read_bytes()


def test_storing_bytes_again_makes_their_blob_young(leftovers: Leftovers) -> None:
    orphan = leftovers.old["orphan-artifact"]
    leftovers.registry.artifacts.put(orphan.read_bytes())  # a registration's first step
    assert orphan.stat().st_mtime > OLD.timestamp()


def test_orphans_are_kept_when_the_registry_has_no_version(home: Path) -> None:
    with Registry(f"sqlite:///{home / 'other.db'}", artifacts=home / "artifacts") as reg:
        blob = Path(reg.artifacts.path(reg.artifacts.put(b"someone else's model")))
        age(blob, OLD)
        found = collect_garbage(reg, DatasetStore(home / "datasets"), now=NOW, delete=True)
    assert found.items == []
    assert found.kept == 1
    assert "MODELPHASE_REGISTRY_URL" in found.notes[0]
    assert blob.exists()


def test_links_and_foreign_files_are_left_alone(leftovers: Leftovers, tmp_path: Path) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    link = leftovers.home / "reports" / ".x.html.0123456789ab.tmp"
    link.symlink_to(outside)
    foreign = leftovers.referenced.parent / "README"  # not a blob, not a temporary
    foreign.write_text("not ours")
    age(foreign, OLD)
    found = collect_garbage(
        leftovers.registry, leftovers.datasets, now=NOW, delete=True, folders=[leftovers.home]
    )
    assert str(link) not in {g.path for g in found.items}
    assert outside.read_text() == "keep me"
    assert foreign.exists()


def test_now_must_be_aware(leftovers: Leftovers) -> None:
    with pytest.raises(ValidationError, match="aware"):
        collect_garbage(leftovers.registry, leftovers.datasets, now=datetime(2026, 1, 1))


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli_leftovers(leftovers: Leftovers) -> Leftovers:
    """The same leftovers, aged against the real clock (the CLI's ``now``)."""
    shift = datetime.now(UTC) - NOW
    for path in [*leftovers.old.values(), *leftovers.young.values()]:
        for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
            stamp = item.stat().st_mtime + shift.total_seconds()
            os.utime(item, (stamp, stamp))
    leftovers.registry.close()
    return leftovers


def test_gc_command_dry_run_then_delete(cli: RunCli, cli_leftovers: Leftovers) -> None:
    dry = cli("gc")
    assert dry.code == 0, dry.stderr
    assert "dry run: nothing deleted" in dry.stdout
    for kind in gc_module.KINDS:
        assert kind in dry.stdout
    assert "reports/.old.html" in dry.stdout.replace("\n", "")  # shown from the home folder
    assert "would delete 4 item(s)" in dry.stderr
    assert "run again with --delete" in dry.stderr
    assert all(cli_leftovers.exists().values())

    as_json = cli("gc", "--json")
    assert as_json.code == 0
    report = json.loads(as_json.stdout)
    assert report["delete"] is False
    assert report["count"] == 4
    assert report["young"] == 4
    assert report["grace_seconds"] == 3600
    assert {i["kind"] for i in report["items"]} == set(gc_module.KINDS)
    assert report["size_bytes"] == sum(i["size_bytes"] for i in report["items"])

    deleted = cli("gc", "--delete", "--json")
    assert deleted.code == 0, deleted.stderr
    assert json.loads(deleted.stdout)["deleted"] == 4
    assert not any(cli_leftovers.exists()[f"old {k}"] for k in cli_leftovers.old)
    assert all(cli_leftovers.exists()[f"young {k}"] for k in cli_leftovers.young)
    assert cli_leftovers.referenced.exists()
    table = cli("gc", "--delete")
    assert table.code == 0
    assert "deleted 0 item(s)" in table.stderr


def test_gc_command_refuses_a_grace_that_could_catch_a_writer(cli: RunCli, home: Path) -> None:
    result = cli("gc", "--grace", "30s")
    assert result.code == 1
    assert result.stderr.startswith("error: --grace: expected at least 1m, got 30s. Fix:")
