"""The SQL sandbox: queries that never end are stopped, files outside the log stay
unread, and memory, threads and temporary files are bounded.

No assertion here is about elapsed time: a query is stopped by a small limit and the
test checks the error it got, whatever the machine's speed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelphase.decisions import DecisionLog, QueryLimits, query, read_decisions
from modelphase.exceptions import ConfigError, QueryTimeoutError, ValidationError
from support.decisions import NOON_US, MakeRecord

FOREVER = [
    "SELECT count(*) AS n FROM range(1000000000000)",
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r",
]
SMALL = QueryLimits(timeout_seconds=0.2)


@pytest.fixture
def logged(root: Path, record: MakeRecord) -> Path:
    with DecisionLog(root, clock=lambda: NOON_US / 1e6) as log:
        for i in range(3):
            log.offer(record(i))
    return root


@pytest.mark.parametrize("sql", FOREVER, ids=["range", "recursive-cte"])
def test_a_query_that_never_ends_is_stopped_by_its_time_limit(logged: Path, sql: str) -> None:
    with pytest.raises(QueryTimeoutError, match=r"time limit of 0\.2 s.*Fix:") as caught:
        query(logged, sql, limits=SMALL)
    assert caught.value.seconds == 0.2
    assert isinstance(caught.value, TimeoutError)
    assert len(str(caught.value).splitlines()) == 1
    # the log is still readable afterwards, by the same process
    assert query(logged, "SELECT count(*) AS n FROM decisions")["n"].tolist() == [3]


def test_the_filters_have_the_time_limit_too(logged: Path) -> None:
    assert len(read_decisions(logged, limits=SMALL)) == 3


@pytest.mark.parametrize(
    "function",
    ["read_text('{path}')", "read_blob('{path}')", "read_csv('{path}')", "glob('{folder}/*')"],
)
def test_file_functions_read_nothing_outside_the_log(
    logged: Path, tmp_path: Path, function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for folder in (tmp_path / ".tmp", tmp_path):  # DuckDB's default temporary folder, cwd
        folder.mkdir(exist_ok=True)
        secret = folder / "secret.txt"
        secret.write_text("t0p-s3cret\n")
        for path, parent in ((secret, folder), (Path(".tmp/secret.txt"), Path(".tmp"))):
            sql = "SELECT * FROM " + function.format(path=path, folder=parent)
            with pytest.raises(ValidationError, match="reads only the view") as caught:
                query(logged, sql)
            assert "t0p" not in str(caught.value)


def test_the_temporary_folder_is_fresh_private_and_removed(
    logged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = Path(query(logged, "SELECT current_setting('temp_directory') AS t")["t"][0])
    second = Path(query(logged, "SELECT current_setting('temp_directory') AS t")["t"][0])
    assert first != second  # one per query: nothing one query spilled is another's
    for folder in (first, second):
        assert folder.is_absolute()
        assert not folder.exists()  # removed with its query
        assert tmp_path not in folder.parents  # not under the working directory
        assert logged.resolve() not in folder.parents
    assert not (tmp_path / ".tmp").exists()  # DuckDB's default was not used
    off = QueryLimits(temp_bytes=0)
    assert query(logged, "SELECT current_setting('temp_directory') AS t", limits=off)[
        "t"
    ].tolist() == [""]


def test_memory_and_threads_are_limited(logged: Path) -> None:
    sql = "SELECT current_setting('threads') AS t, current_setting('memory_limit') AS m"
    assert query(logged, sql).to_dict("records") == [{"t": 2, "m": "1.0 GiB"}]
    small = QueryLimits(threads=1, memory_bytes=64 * 2**20, temp_bytes=0)
    assert query(logged, sql, limits=small).to_dict("records") == [{"t": 1, "m": "64.0 MiB"}]
    big = (
        "SELECT count(DISTINCT s) AS n FROM (SELECT i::VARCHAR || repeat('x', 200) AS s "
        "FROM range(3000000) t(i))"
    )
    with pytest.raises(ValidationError, match="memory limit") as caught:
        query(logged, big, limits=small)
    assert len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM query('SET enable_external_access = true')",
        "SELECT * FROM query('ATTACH ''other.db''')",
        "SELECT * FROM query('COPY (SELECT 1) TO ''out.csv''')",
    ],
)
def test_the_sandbox_cannot_be_reopened_from_a_select(
    logged: Path, sql: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError, match="query failed"):
        query(logged, sql)
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "other.db").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout_seconds", 0),
        ("timeout_seconds", float("inf")),
        ("memory_bytes", 1024),
        ("threads", 0),
        ("temp_bytes", -1),
    ],
)
def test_bad_limits_are_refused(option: str, value: float) -> None:
    with pytest.raises(ConfigError, match=option.split("_")[0]):
        QueryLimits(**{option: value})  # type: ignore[arg-type]
