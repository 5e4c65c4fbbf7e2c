"""Dataset snapshots: content addressing, round trips, integrity, atomicity, the CLI.

Crash safety is tested for real: a writer process is killed with SIGKILL in the middle
of a write, and two processes race to write the same dataset.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelphase import __version__
from modelphase.exceptions import (
    AmbiguousDatasetIdError,
    DatasetNotFoundError,
    IntegrityError,
    SourceError,
)
from modelphase.frame import NS_PER_SECOND, Panel
from modelphase.ingest import DatasetStore, Manifest, content_digest, ingest_panel
from modelphase.simulate import Simulation, simulate
from support.cli import RunCli

STEP = 60 * NS_PER_SECOND
NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
HEX_ID = re.compile(r"[0-9a-f]{16}")


def _small(ids: list[str], n: int = 4, offset: float = 0.0) -> Panel:
    items = [
        (uid, np.arange(n, dtype=np.int64) * STEP, np.arange(n, dtype=np.float64) + offset)
        for uid in ids
    ]
    return Panel.from_series(items, step=STEP)


def _copy(panel: Panel, **changes: object) -> Panel:
    fresh = replace(
        panel, ids=list(panel.ids), indptr=panel.indptr.copy(), ds=panel.ds.copy(), y=panel.y.copy()
    )
    return replace(fresh, **changes) if changes else fresh


def _assert_same_panel(got: Panel, want: Panel) -> None:
    assert got.ids == want.ids
    assert got.step == want.step
    assert got.indptr.dtype == got.ds.dtype == np.int64
    assert got.y.dtype == np.float64
    assert np.array_equal(got.indptr, want.indptr)
    assert np.array_equal(got.ds, want.ds)
    assert np.array_equal(got.y, want.y, equal_nan=True)


def _with_gaps(services: int, days: float, seed: int) -> Simulation:
    """A simulation with missing scrapes, none at the start or end of a series."""
    sim = simulate(services=services, days=days, seed=seed)
    panel = sim.panel
    assert panel.n_missing > 0
    assert not np.isnan(panel.y[panel.indptr[:-1]]).any()
    assert not np.isnan(panel.y[panel.indptr[1:] - 1]).any()
    return sim


def _error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:")
    return lines[0]


# ------------------------------------------------------------------ content addressing


def test_same_content_same_id_whatever_the_source_and_time(tmp_path: Path) -> None:
    panel = simulate(services=2, days=1, seed=5).panel
    a = DatasetStore(tmp_path / "a").write(panel, {"kind": "csv", "path": "/x.csv"}, now=NOW)
    b = ingest_panel(
        _copy(panel),
        DatasetStore(tmp_path / "b"),
        {"kind": "prometheus", "query": "up"},
        now=NOW + timedelta(days=30),
    )
    assert (a.id, a.sha256) == (b.id, b.sha256)
    assert a.sha256 == content_digest(panel)
    assert re.fullmatch(r"[0-9a-f]{64}", a.sha256)
    assert a.id == a.sha256[:16]
    assert HEX_ID.fullmatch(a.id)
    assert (a.source["kind"], b.source["kind"]) == ("csv", "prometheus")
    assert (a.modelphase_version, b.modelphase_version) == ("", __version__)


def _change_value(p: Panel) -> Panel:
    y = p.y.copy()
    y[7] = np.nextafter(y[7], np.inf)
    return _copy(p, y=y)


def _value_to_missing(p: Panel) -> Panel:
    y = p.y.copy()
    y[7] = np.nan
    return _copy(p, y=y)


def _change_timestamp(p: Panel) -> Panel:
    ds = p.ds.copy()
    ds[-1] += STEP
    return _copy(p, ds=ds)


def _change_id(p: Panel) -> Panel:
    return _copy(p, ids=[*p.ids[:-1], p.ids[-1] + "x"])


def _change_step(p: Panel) -> Panel:
    return _copy(p, step=STEP // 2)


MUTATIONS: dict[str, Callable[[Panel], Panel]] = {
    "one value by one ulp": _change_value,
    "one value to missing": _value_to_missing,
    "one timestamp": _change_timestamp,
    "one id": _change_id,
    "the step": _change_step,
}


@pytest.mark.parametrize("change", sorted(MUTATIONS))
def test_any_change_gives_another_id(tmp_path: Path, change: str) -> None:
    base = simulate(services=1, days=0.1, seed=3).panel
    other = MUTATIONS[change](base)
    assert content_digest(other) != content_digest(base)
    store = DatasetStore(tmp_path)
    first = store.write(base, {"kind": "t"}, now=NOW)
    second = store.write(other, {"kind": "t"}, now=NOW)
    assert first.id != second.id
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.id, second.id])
    _assert_same_panel(store.load(second.id), other)


def test_ids_holding_newlines_do_not_run_into_each_other() -> None:
    # both hashed as "a\nb\nc\n" when ids were joined with newlines
    assert content_digest(_small(["a\nb", "c"])) != content_digest(_small(["a", "b\nc"]))


def test_nan_payload_bits_do_not_matter(tmp_path: Path) -> None:
    base = _small(["a", "b"], n=6)
    patterns = [
        0x7FF8000000000000,  # numpy's NaN
        0xFFF8000000000000,  # negative quiet NaN (x86's inf - inf)
        0x7FF0000000000001,  # signalling NaN
        0x7FFDEADBEEF00001,  # arbitrary payload
    ]
    store = DatasetStore(tmp_path)
    ids = set()
    for i, bits in enumerate(patterns):
        raw = base.y.view(np.uint64).copy()
        raw[[1, 7 + i % 3]] = np.uint64(bits)
        panel = _copy(base, y=raw.view(np.float64))
        assert np.isnan(panel.y).sum() == 2
        assert panel.y.view(np.uint64)[1] == bits, "the pattern survived"
        ids.add(store.write(panel, {"kind": "t"}, now=NOW).id)
    assert len(ids) == 3, "three positions of missing points, whatever the NaN bits"
    assert len(store.list()) == 3


def test_writing_twice_keeps_the_first_manifest(tmp_path: Path) -> None:
    panel = simulate(services=1, days=0.5, seed=9).panel
    store = DatasetStore(tmp_path)
    first = store.write(panel, {"kind": "csv", "path": "/a.csv"}, now=NOW)
    folder = tmp_path / first.id
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    again = store.write(
        _copy(panel),
        {"kind": "parquet", "path": "/b.parquet"},
        now=NOW + timedelta(hours=1),
        warnings=["later"],
        version="9.9",
    )
    assert again == first
    assert again.source == {"kind": "csv", "path": "/a.csv"}
    assert [p.name for p in tmp_path.iterdir()] == [first.id], "one folder, no temp folder"
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert after == before, "the stored files are untouched"
    assert sorted(before) == ["data.parquet", "labels.parquet", "manifest.json"]


# -------------------------------------------------------------------------- round trip


def test_load_returns_exactly_what_was_written(tmp_path: Path) -> None:
    sim = simulate(services=3, days=3, seed=1)
    panel = sim.panel
    gaps = [e for e in sim.events if e.kind == "missing_scrapes"]
    n_missing = sum(int(e.magnitude) * len(e.unique_ids) for e in gaps)
    assert n_missing > 0
    store = DatasetStore(tmp_path)
    source = {"kind": "simulate", "services": 3, "seed": 1}
    manifest = store.write(panel, source, now=NOW, warnings=["w1", "w2"], version="1.2.3")
    _assert_same_panel(store.load(manifest.id), panel)
    assert manifest == Manifest(
        id=manifest.sha256[:16],
        sha256=content_digest(panel),
        created_at="2026-02-01T12:00:00.000000Z",
        source=source,
        start="2026-01-05T00:00:00Z",
        end="2026-01-07T23:59:00Z",
        step="1m",
        step_seconds=60.0,
        n_series=18,
        n_points=18 * 3 * 1440,
        n_missing=n_missing,
        missing_ratio=round(n_missing / (18 * 3 * 1440), 6),
        warnings=["w1", "w2"],
        format="modelphase.dataset/v1",
        modelphase_version="1.2.3",
    )
    assert store.manifest(manifest.id) == manifest
    on_disk = json.loads((tmp_path / manifest.id / "manifest.json").read_text())
    assert on_disk == manifest.to_dict()
    labels = pd.read_parquet(tmp_path / manifest.id / "labels.parquet")
    assert ('cpu_usage_cores{service="cart"}', "service", "cart") in set(
        labels.itertuples(index=False, name=None)
    )


@pytest.mark.parametrize(
    ("now", "created_at"),
    [
        (datetime(2026, 1, 1, 3, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))), "01:00:00.000005Z"),
        (datetime(2026, 1, 1, 1, 0, tzinfo=UTC), "01:00:00.000000Z"),
    ],
)
def test_created_at_is_rfc3339_utc(tmp_path: Path, now: datetime, created_at: str) -> None:
    manifest = DatasetStore(tmp_path).write(_small(["a"]), {"kind": "t"}, now=now)
    assert manifest.created_at == "2026-01-01T" + created_at
    assert RFC3339_UTC.fullmatch(manifest.created_at)
    assert datetime.fromisoformat(manifest.created_at) == now


def test_a_naive_now_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="aware"):
        DatasetStore(tmp_path).write(_small(["a"]), {"kind": "t"}, now=datetime(2026, 1, 1))
    assert not tmp_path.joinpath("datasets").exists()
    assert list(tmp_path.iterdir()) == []


@st.composite
def _panels(draw: st.DrawFn) -> Panel:
    ids = draw(
        st.lists(
            st.text(st.characters(codec="utf-8"), min_size=1), min_size=1, max_size=4, unique=True
        )
    )
    items = []
    for i, uid in enumerate(ids):
        n = draw(st.integers(0 if i else 1, 5))  # empty series too, but not all empty
        first = draw(st.integers(-3, 3))
        ys = draw(st.lists(st.floats(allow_infinity=False, width=64), min_size=n, max_size=n))
        ds = (first + np.arange(n, dtype=np.int64)) * STEP
        items.append((uid, ds, np.array(ys, dtype=np.float64)))
    return Panel.from_series(items, step=draw(st.sampled_from([STEP, 15 * NS_PER_SECOND])))


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(panel=_panels())
def test_any_panel_round_trips(panel: Panel) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = DatasetStore(Path(folder))
        manifest = store.write(panel, {"kind": "t"}, now=NOW)
        got = store.load(manifest.id)
    _assert_same_panel(got, panel)
    assert content_digest(got) == manifest.sha256
    assert manifest.n_missing == int(np.isnan(panel.y).sum())


# --------------------------------------------------------------------------- integrity


@pytest.fixture
def stored(home: Path) -> tuple[DatasetStore, Manifest, Panel]:
    panel = simulate(services=2, days=1, seed=2).panel
    store = DatasetStore(home / "datasets")
    return store, store.write(panel, {"kind": "simulate"}, now=NOW), panel


def _flip_in_column(name: str) -> Callable[[Path], None]:
    def flip(path: Path) -> None:
        meta = pq.ParquetFile(path).metadata.row_group(0)
        chunk = next(
            meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == name
        )
        start = chunk.dictionary_page_offset or chunk.data_page_offset
        where = start + chunk.total_compressed_size // 2
        data = bytearray(path.read_bytes())
        data[where] ^= 0x10
        path.write_bytes(bytes(data))

    return flip


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _rewrite(path: Path, what: str) -> None:
    """Damage the way a flipped bit in the stored schema or in the validity data does."""
    table = pq.read_table(path)
    uid, ds = table.column("unique_id"), table.column("ds")
    if what == "ids":
        uid = uid.cast(pa.dictionary(pa.int32(), pa.binary()))
    else:
        ds = pa.array([None, *ds.to_pylist()[1:]], type=ds.type)
    pq.write_table(pa.table({"unique_id": uid, "ds": ds, "y": table.column("y")}), path)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "a byte of the values flipped": _flip_in_column("y"),
    "a byte of the times flipped": _flip_in_column("ds"),
    "truncated": _truncate,
    "emptied": lambda path: path.write_bytes(b""),
    "ids stored as bytes": lambda path: _rewrite(path, "ids"),
    "a null time": lambda path: _rewrite(path, "ds"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_data_is_refused(
    stored: tuple[DatasetStore, Manifest, Panel], cli: RunCli, damage: str
) -> None:
    store, manifest, _ = stored
    DAMAGE[damage](store.path(manifest.id) / "data.parquet")
    with pytest.raises(IntegrityError) as info:
        store.load(manifest.id)
    assert info.value.expected == manifest.sha256
    assert info.value.actual != manifest.sha256
    assert manifest.id in str(info.value)
    assert "Fix:" in str(info.value)
    shown = cli("datasets", "show", manifest.id)
    assert shown.code == 1
    assert shown.stdout == ""
    assert manifest.id in _error_line(shown.stderr)


@pytest.mark.parametrize("mask", [0x01, 0xFF])
def test_no_flipped_byte_gives_a_wrong_panel(tmp_path: Path, mask: int) -> None:
    """Every single-byte flip of a small data file: refused, or the very same panel."""
    panel = _small(['up{job="a"}'], n=6)
    panel.y[1] = np.nan
    store = DatasetStore(tmp_path)
    manifest = store.write(panel, {"kind": "t"}, now=NOW)
    path = store.path(manifest.id) / "data.parquet"
    original = path.read_bytes()
    refused = 0
    for i in range(len(original)):
        data = bytearray(original)
        data[i] ^= mask
        path.write_bytes(bytes(data))
        try:
            got = store.load(manifest.id)
        except IntegrityError:
            refused += 1
        else:  # a byte the content does not depend on (statistics, sizes, padding)
            _assert_same_panel(got, panel)
    assert refused > len(original) // 2


def test_another_datasets_data_is_refused(
    stored: tuple[DatasetStore, Manifest, Panel], cli: RunCli
) -> None:
    store, manifest, _ = stored
    other = store.write(simulate(services=2, days=1, seed=3).panel, {"kind": "t"}, now=NOW)
    target = store.path(manifest.id) / "data.parquet"
    target.write_bytes((store.path(other.id) / "data.parquet").read_bytes())
    with pytest.raises(IntegrityError) as info:
        store.load(manifest.id)
    assert (info.value.expected, info.value.actual) == (manifest.sha256, other.sha256)
    assert "sha256" in str(info.value)
    assert cli("datasets", "show", manifest.id[:6]).code == 1
    _assert_same_panel(store.load(other.id), store.load(other.id[:5]))


def test_an_edited_sha256_is_refused(
    stored: tuple[DatasetStore, Manifest, Panel], cli: RunCli
) -> None:
    store, manifest, _ = stored
    path = store.path(manifest.id) / "manifest.json"
    data = json.loads(path.read_text())
    data["sha256"] = manifest.sha256[::-1]
    path.write_text(json.dumps(data))
    with pytest.raises(IntegrityError) as info:
        store.load(manifest.id)
    assert (info.value.expected, info.value.actual) == (manifest.sha256[::-1], manifest.sha256)
    shown = cli("datasets", "show", manifest.id)
    assert shown.code == 1
    assert "sha256" in _error_line(shown.stderr)


def test_an_unreadable_manifest_is_refused(stored: tuple[DatasetStore, Manifest, Panel]) -> None:
    store, manifest, _ = stored
    path = store.path(manifest.id) / "manifest.json"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(IntegrityError, match="manifest"):
        store.load(manifest.id)


# ----------------------------------------------------------- atomicity and crash safety


def _fail_on_second_write_table(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    real = pq.write_table
    calls = []

    def write_table(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise exc
        real(*args, **kwargs)

    monkeypatch.setattr(pq, "write_table", write_table)


def _fail_on_rename(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def rename(*args: object) -> None:
        raise exc

    monkeypatch.setattr(os, "rename", rename)


@pytest.mark.parametrize("where", ["labels.parquet", "rename"])
@pytest.mark.parametrize(
    "exc", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()]
)
def test_an_error_midway_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, exc: BaseException
) -> None:
    panel = simulate(services=1, days=0.5, seed=4).panel
    store = DatasetStore(tmp_path / "datasets")
    with monkeypatch.context() as patch:
        if where == "rename":
            _fail_on_rename(patch, exc)
        else:
            _fail_on_second_write_table(patch, exc)
        with pytest.raises(type(exc)):
            store.write(panel, {"kind": "t"}, now=NOW)
    assert list((tmp_path / "datasets").iterdir()) == [], "no dataset, no temp folder"
    assert store.list() == []
    with pytest.raises(DatasetNotFoundError):
        store.resolve(content_digest(panel)[:16])
    manifest = store.write(panel, {"kind": "t"}, now=NOW)
    _assert_same_panel(store.load(manifest.id), panel)


#: Simulates a panel in a separate process and writes it. With a sync folder, it waits
#: for the start signal there, and (with two writers) meets the other writer just before
#: renaming its temporary folder into place, so that both renames really compete.
WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import UTC, datetime
    from pathlib import Path

    from modelphase.ingest import DatasetStore
    from modelphase.simulate import simulate

    root, services, days, sync, me, writers = sys.argv[1:]
    sync = Path(sync)
    panel = simulate(services=int(services), days=float(days), seed=7).panel

    def wait_for(*paths):
        deadline = time.monotonic() + 60
        while not all(p.exists() for p in paths):
            if time.monotonic() > deadline:
                sys.exit(f"timed out waiting for {paths}")
            time.sleep(0.001)

    real_rename, lost = os.rename, []

    def rename(src, dst):
        (sync / f"renaming-{me}").touch()
        wait_for(*(sync / f"renaming-{i}" for i in range(int(writers))))
        try:
            real_rename(src, dst)
        except OSError:
            lost.append(True)
            raise

    os.rename = rename
    (sync / f"ready-{me}").touch()
    wait_for(sync / "go")
    manifest = DatasetStore(Path(root)).write(panel, {"kind": "simulate"}, now=datetime.now(UTC))
    print(json.dumps({"manifest": manifest.to_dict(), "lost": bool(lost)}))
    """
)


def _writer(
    root: Path, services: int, days: float, sync: Path, me: int, writers: int
) -> subprocess.Popen[str]:
    args = [str(root), str(services), str(days), str(sync), str(me), str(writers)]
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=sync,
    )


def _poll(condition: Callable[[], bool], procs: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"writer ended early: {proc.communicate()}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@pytest.fixture
def sync(tmp_path: Path) -> Path:
    folder = tmp_path / "sync"
    folder.mkdir()
    return folder


@pytest.fixture
def reap() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_a_writer_killed_midway_leaves_no_dataset(
    tmp_path: Path, sync: Path, reap: list[subprocess.Popen[str]]
) -> None:
    root = tmp_path / "datasets"
    proc = _writer(root, 100, 7, sync, 0, 1)  # 6M points: writing takes most of a second
    reap.append(proc)
    panel = simulate(services=100, days=7, seed=7).panel
    expected = content_digest(panel)[:16]
    (sync / "go").touch()

    def writing() -> bool:  # data.parquet has its first bytes, not yet all of them
        return any(
            (tmp / "data.parquet").exists() and (tmp / "data.parquet").stat().st_size > 0
            for tmp in root.glob(".tmp-*")
        )

    _poll(writing, [proc])
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (sync / "renaming-0").exists(), "killed before the rename"
    [leftover] = root.iterdir()
    assert leftover.name.startswith(f".tmp-{expected}-")
    assert "manifest.json" not in {p.name for p in leftover.iterdir()}

    store = DatasetStore(root)
    assert store.list() == []
    for wanted in (expected, expected[:1]):
        with pytest.raises(DatasetNotFoundError):
            store.resolve(wanted)

    manifest = store.write(panel, {"kind": "simulate"}, now=NOW)
    assert manifest.id == expected
    _assert_same_panel(store.load(expected), panel)
    assert [m.id for m in store.list()] == [expected]
    assert leftover.exists(), "a fresh temp folder may be another writer's: left alone"

    two_days_ago = time.time() - 2 * 86400
    os.utime(leftover, (two_days_ago, two_days_ago))
    fresh = root / ".tmp-0123456789abcdef-00000000"
    fresh.mkdir()
    (fresh / "data.parquet").write_bytes(b"partial")
    store.write(_small(["other"]), {"kind": "t"}, now=NOW)
    assert not leftover.exists(), "a temp folder older than a day is swept"
    assert fresh.exists()
    assert len(store.list()) == 2


def test_two_processes_writing_the_same_panel(
    tmp_path: Path, sync: Path, reap: list[subprocess.Popen[str]]
) -> None:
    root = tmp_path / "datasets"
    reap.extend(_writer(root, 4, 2, sync, me, 2) for me in range(2))
    _poll(lambda: all((sync / f"ready-{me}").exists() for me in range(2)), reap)
    (sync / "go").touch()
    results = []
    for proc in reap:
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        results.append(json.loads(stdout))
    assert sorted(r["lost"] for r in results) == [False, True], "both reached the rename"
    assert results[0]["manifest"] == results[1]["manifest"], "the loser returns the winner's"
    dataset_id = results[0]["manifest"]["id"]
    assert [p.name for p in root.iterdir()] == [dataset_id], "one folder, no temp folder"
    panel = simulate(services=4, days=2, seed=7).panel
    assert dataset_id == content_digest(panel)[:16]
    store = DatasetStore(root)
    _assert_same_panel(store.load(dataset_id), panel)
    assert store.manifest(dataset_id).to_dict() == results[0]["manifest"]


# -------------------------------------------------------------------------- resolution


def test_full_id_and_unique_prefix(tmp_path: Path) -> None:
    panel = _small(["a", "b"])
    store = DatasetStore(tmp_path)
    dataset_id = store.write(panel, {"kind": "t"}, now=NOW).id
    for given_id in (dataset_id, dataset_id[:1], dataset_id[:7], f" {dataset_id.upper()}\n"):
        assert store.resolve(given_id) == dataset_id
    _assert_same_panel(store.load(dataset_id[:3]), panel)
    assert store.path(dataset_id[:2]) == tmp_path / dataset_id


def test_an_ambiguous_prefix_lists_the_candidates(cli: RunCli, home: Path) -> None:
    store = DatasetStore(home / "datasets")
    by_digit: dict[str, str] = {}
    for n in range(17):  # 17 datasets, 16 hex digits: two must share their first digit
        dataset_id = store.write(_small(["a"], offset=n), {"kind": "t"}, now=NOW).id
        if dataset_id[0] in by_digit:
            break
        by_digit[dataset_id[0]] = dataset_id
    pair = sorted([by_digit[dataset_id[0]], dataset_id])
    with pytest.raises(AmbiguousDatasetIdError) as info:
        store.resolve(dataset_id[0])
    assert info.value.candidates == pair
    assert info.value.dataset_id == dataset_id[0]
    assert all(c in str(info.value) for c in pair)
    assert "more digits" in str(info.value)
    assert isinstance(info.value, LookupError)
    for candidate in pair:
        assert store.resolve(candidate) == candidate
    shown = cli("datasets", "show", dataset_id[0])
    assert shown.code == 1
    assert "matches 2 datasets" in _error_line(shown.stderr)


@pytest.mark.parametrize(
    "wanted", ["unknown", "0123456789abcdef0123", "", "  ", "not-an-id", "../x", ".tmp-ab", "g1"]
)
def test_unknown_or_malformed_ids_are_not_found(tmp_path: Path, wanted: str) -> None:
    store = DatasetStore(tmp_path / "datasets")
    with pytest.raises(DatasetNotFoundError) as empty:
        store.resolve("abc" if wanted == "unknown" else wanted)
    assert "modelphase datasets list" in str(empty.value)
    dataset_id = store.write(_small(["a"]), {"kind": "t"}, now=NOW).id
    (tmp_path / "datasets" / ".tmp-ab").mkdir()
    if wanted == "unknown":  # hex, and no dataset starts with it
        wanted = "0123456789abcdef".replace(dataset_id[0], "")[:1] + dataset_id[1:]
    with pytest.raises(DatasetNotFoundError) as info:
        store.resolve(wanted)
    assert info.value.dataset_id == wanted
    assert "modelphase datasets list" in str(info.value)
    assert isinstance(info.value, LookupError)
    with pytest.raises(DatasetNotFoundError):
        store.load(wanted)


def test_the_cli_names_the_fix_for_an_unknown_id(cli: RunCli) -> None:
    for wanted in ("fedcba9876543210", "xyz"):
        shown = cli("datasets", "show", wanted)
        assert shown.code == 1
        assert "modelphase datasets list" in _error_line(shown.stderr)


# --------------------------------------------------------------------------------- CLI


def test_datasets_list_newest_first(cli: RunCli, home: Path) -> None:
    empty = cli("datasets", "list")
    assert (empty.code, empty.stdout) == (0, "")
    assert "no datasets" in empty.stderr
    assert json.loads(cli("datasets", "list", "--json").stdout) == []

    store = DatasetStore(home / "datasets")
    times = {  # written out of order; two in the same second
        "b": NOW + timedelta(seconds=0.5),
        "c": NOW + timedelta(days=1),
        "a": NOW,
    }
    manifests = {
        name: store.write(_small([name]), {"kind": "t"}, now=t) for name, t in times.items()
    }
    newest_first = [manifests[name] for name in ("c", "b", "a")]
    as_json = cli("datasets", "list", "--json")
    assert as_json.code == 0
    assert json.loads(as_json.stdout) == [m.to_dict() for m in newest_first]
    table = cli("datasets", "list")
    assert table.code == 0
    positions = [table.stdout.find(m.id) for m in newest_first]
    assert -1 not in positions, table.stdout
    assert positions == sorted(positions)


def test_datasets_show(cli: RunCli, home: Path) -> None:
    panel = _with_gaps(services=2, days=2, seed=1).panel
    store = DatasetStore(home / "datasets")
    manifest = store.write(panel, {"kind": "simulate"}, now=NOW, warnings=["partial range"])
    shown = cli("datasets", "show", manifest.id[:6], "--json")
    assert shown.code == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["manifest"] == manifest.to_dict()
    series = {row["unique_id"]: row for row in data["series"]}
    assert list(series) == panel.ids
    for uid, row in series.items():
        _, y = panel.series(uid)
        assert (row["points"], row["missing"]) == (len(y), int(np.isnan(y).sum()))
        assert row["start"] == "2026-01-05T00:00:00Z"
        assert row["end"] == "2026-01-06T23:59:00Z"
        assert row["min"] == np.nanmin(y)
        assert row["max"] == np.nanmax(y)
        assert RFC3339_UTC.fullmatch(row["start"])
    assert sum(row["missing"] for row in data["series"]) == manifest.n_missing > 0
    table = cli("datasets", "show", manifest.id)
    assert table.code == 0
    for text in (manifest.id, manifest.sha256, "partial range", "1m"):
        assert text in table.stdout


@pytest.mark.parametrize("fmt", ["csv", "parquet", "openmetrics"])
def test_export_round_trips_to_the_same_id(
    cli: RunCli, home: Path, tmp_path: Path, fmt: str
) -> None:
    panel = _with_gaps(services=2, days=2, seed=1).panel
    manifest = DatasetStore(home / "datasets").write(panel, {"kind": "simulate"}, now=NOW)
    out = tmp_path / f"export.{fmt}"
    exported = cli(
        "--home", str(home), "datasets", "export", manifest.id, "--format", fmt, "-o", str(out)
    )
    assert exported.code == 0, exported.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    n_present = manifest.n_points - manifest.n_missing
    if fmt == "csv":
        table = pd.read_csv(out, dtype=str, keep_default_na=False)
        assert list(table.columns) == ["unique_id", "ds", "y"]
        assert len(table) == manifest.n_points
        assert int((table["y"] == "").sum()) == manifest.n_missing, "missing as empty cells"
        assert table["ds"].str.fullmatch(RFC3339_UTC.pattern).all()
        assert table["ds"].iloc[0] == "2026-01-05T00:00:00Z"
    elif fmt == "parquet":
        frame = pd.read_parquet(out)
        assert len(frame) == manifest.n_points
        assert int(frame["y"].isna().sum()) == manifest.n_missing
        assert str(frame["ds"].dt.tz) == "UTC"
    else:
        text = out.read_text()
        assert text.endswith("# EOF\n")
        assert sum(not line.startswith("#") for line in text.splitlines()) == n_present
    elsewhere = tmp_path / "elsewhere"
    ingested = cli("--home", str(elsewhere), "ingest", fmt, str(out))
    assert ingested.code == 0, ingested.stderr
    assert ingested.last_line == manifest.id
    store = DatasetStore(elsewhere / "datasets")
    assert store.manifest(manifest.id).source["kind"] == fmt
    _assert_same_panel(store.load(manifest.id), panel)


def test_export_of_a_damaged_dataset_writes_nothing(
    stored: tuple[DatasetStore, Manifest, Panel], cli: RunCli, tmp_path: Path
) -> None:
    store, manifest, _ = stored
    _truncate(store.path(manifest.id) / "data.parquet")
    out = tmp_path / "out" / "export.csv"
    out.parent.mkdir()
    result = cli("datasets", "export", manifest.id, "-o", str(out))
    assert result.code == 1
    _error_line(result.stderr)
    assert list(out.parent.iterdir()) == [], "no output, no temporary file"
    out.write_text("previous\n")
    assert cli("datasets", "export", manifest.id, "-o", str(out)).code == 1
    assert out.read_text() == "previous\n"
    assert list(out.parent.iterdir()) == [out]


def test_export_failing_midway_keeps_the_previous_file(
    stored: tuple[DatasetStore, Manifest, Panel],
    cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import modelphase.ingest

    _, manifest, panel = stored
    real = modelphase.ingest.to_openmetrics

    def half_then_fail(p: Panel) -> Iterator[str]:
        for n, line in enumerate(real(p)):
            if n == panel.n_points // 2:
                raise SourceError("the disk is full")
            yield line

    monkeypatch.setattr(modelphase.ingest, "to_openmetrics", half_then_fail)
    out = tmp_path / "out" / "export.om"
    out.parent.mkdir()
    out.write_text("previous\n")
    result = cli("datasets", "export", manifest.id, "--format", "openmetrics", "-o", str(out))
    assert result.code == 1
    assert "disk is full" in _error_line(result.stderr)
    assert out.read_text() == "previous\n"
    assert list(out.parent.iterdir()) == [out], "the partial temporary file is removed"


def test_list_skips_an_unreadable_manifest_and_says_so(
    stored: tuple[DatasetStore, Manifest, Panel], cli: RunCli
) -> None:
    store, manifest, _ = stored
    broken = store.root / "0123456789abcdef"
    broken.mkdir()
    (broken / "manifest.json").write_text("[1, 2]")
    good, bad = store.scan()
    assert [m.id for m in good] == [manifest.id]
    assert len(bad) == 1
    assert "0123456789abcdef" in str(bad[0])
    assert store.list() == good
    listed = cli("datasets", "list")
    assert listed.code == 0
    assert manifest.id in listed.stdout
    assert "warning:" in listed.stderr
