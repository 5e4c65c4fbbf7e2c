"""Reading the decision log back: filters, the SQL view, and SQL that may not run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelphase.decisions import COLUMNS, DecisionLog, check_sql, query, read_decisions
from modelphase.exceptions import ValidationError
from support.decisions import NOON_US, MakeRecord

NOON = datetime.fromtimestamp(NOON_US / 1e6, UTC)


@pytest.fixture
def logged(root: Path, record: MakeRecord) -> Path:
    """Ten decisions a minute apart from noon; two models, three aliases, two fallbacks,
    spread over two day folders (the last two are on the next day)."""
    minute = 60_000_000
    day = 86_400_000_000
    with DecisionLog(root, batch_size=4) as log:
        for i in range(10):
            fallback = i in (3, 7)
            log.offer(
                record(
                    i,
                    time_us=NOON_US + i * minute + (day if i >= 8 else 0),
                    model="api-latency" if i % 2 == 0 else "queue-depth",
                    version=1 + i % 3,
                    alias=("production", "canary", "shadow")[i % 3],
                    answered_by="fallback" if fallback else "model",
                    fallback_reason="timeout" if fallback else None,
                )
            )
    return root


def ids(frame: pd.DataFrame) -> list[int]:
    return [int(r.rsplit("-", 1)[1]) for r in frame["request_id"]]


def test_no_segments_is_an_empty_frame(root: Path) -> None:
    frame = read_decisions(root)
    assert frame.empty
    assert tuple(frame.columns) == COLUMNS
    assert query(root, "SELECT count(*) AS n FROM decisions")["n"].tolist() == [0]
    assert "date" in query(root, "SELECT * FROM decisions").columns


def test_everything_newest_first(logged: Path) -> None:
    frame = read_decisions(logged)
    assert tuple(frame.columns) == COLUMNS
    assert ids(frame) == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert str(frame["time_us"].dtype) == "datetime64[us, UTC]"
    assert str(frame["version"].dtype) == "Int64"


def test_filters(logged: Path) -> None:
    assert ids(read_decisions(logged, model="queue-depth")) == [9, 7, 5, 3, 1]
    assert ids(read_decisions(logged, version=2)) == [7, 4, 1]
    assert ids(read_decisions(logged, alias="canary", model="api-latency")) == [4]
    assert ids(read_decisions(logged, fallback_only=True)) == [7, 3]
    assert ids(read_decisions(logged, limit=3)) == [9, 8, 7]
    since, until = NOON + timedelta(minutes=2), NOON + timedelta(minutes=5)
    assert ids(read_decisions(logged, since=since, until=until)) == [4, 3, 2]
    assert ids(read_decisions(logged, since=NOON + timedelta(hours=12))) == [9, 8]
    # a time in another zone means the same instant
    paris = pd.Timestamp(since).tz_convert("Europe/Paris").to_pydatetime()
    assert ids(read_decisions(logged, since=paris, until=until)) == [4, 3, 2]
    assert read_decisions(logged, model="nothing").empty


def test_bad_filters_say_what_was_expected(logged: Path) -> None:
    with pytest.raises(ValidationError, match="time-zone aware"):
        read_decisions(logged, since=datetime(2024, 5, 1))
    with pytest.raises(ValidationError, match="positive number of rows"):
        read_decisions(logged, limit=0)


def test_the_sql_view(logged: Path) -> None:
    frame = query(
        logged,
        "WITH f AS (SELECT * FROM decisions WHERE answered_by = 'fallback') "
        "SELECT model, count(*) AS n FROM f GROUP BY model ORDER BY model",
    )
    assert frame.to_dict("records") == [{"model": "queue-depth", "n": 2}]
    days = query(logged, "SELECT date, count(*) AS n FROM decisions GROUP BY date ORDER BY date")
    assert [str(d.date()) for d in days["date"]] == ["2024-05-01", "2024-05-02"]
    assert days["n"].tolist() == [8, 2]
    assert query(logged, "FROM decisions SELECT max(latency_ms) AS m")["m"].tolist() == [12.5]


def test_segments_of_a_later_schema_are_read_together(logged: Path) -> None:
    later = read_decisions(logged).head(1).assign(request_id="req-000100", cost_cpu_s=0.02)
    folder = logged / "date=2024-05-01"
    pq.write_table(pa.Table.from_pandas(later, preserve_index=False), folder / "1-1-1.parquet")
    frame = query(logged, "SELECT request_id, cost_cpu_s FROM decisions ORDER BY request_id")
    assert len(frame) == 11
    assert frame["cost_cpu_s"].notna().sum() == 1
    assert len(read_decisions(logged)) == 11


def test_temporary_files_of_a_write_in_progress_are_not_read(logged: Path) -> None:
    folder = logged / "date=2024-05-01"
    (folder / ".1-1-2.parquet.0123abcd.tmp").write_bytes(b"PAR1 half a segment")
    assert len(read_decisions(logged)) == 10


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("INSERT INTO decisions SELECT * FROM decisions", "INSERT"),
        ("COPY (SELECT * FROM decisions) TO 'out.csv'", "COPY"),
        ("CREATE TABLE t AS SELECT * FROM decisions", "CREATE"),
        ("ATTACH 'other.db'", "ATTACH"),
        ("SET enable_external_access = true", "SET"),
        ("PRAGMA version", "PRAGMA"),
        ("DELETE FROM decisions", "DELETE"),
    ],
)
def test_sql_that_writes_is_refused(logged: Path, sql: str, kind: str, tmp_path: Path) -> None:
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ValidationError, match=rf"expected one read-only SELECT.*got a {kind}"):
        query(logged, sql)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_several_statements_and_bad_sql_are_refused(logged: Path) -> None:
    with pytest.raises(ValidationError, match="got 2 statements"):
        query(logged, "SELECT 1; DROP TABLE decisions")
    with pytest.raises(ValidationError, match="does not parse"):
        check_sql("SELEC * FROM decisions")
    with pytest.raises(ValidationError, match=r"query failed.*no_such_column"):
        query(logged, "SELECT no_such_column FROM decisions")


def test_sql_may_read_no_other_file(logged: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("token\nt0p\n")
    with pytest.raises(ValidationError, match="reads only the view") as caught:
        query(logged, f"SELECT * FROM read_csv('{secret}')")
    assert "t0p" not in str(caught.value)
