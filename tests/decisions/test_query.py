"""Reading the decision log back: filters, the SQL view, and SQL that may not run."""

from __future__ import annotations

import importlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelphase.decisions import COLUMNS, DecisionLog, check_sql, query, read_decisions
from modelphase.exceptions import DamagedSegmentWarning, ValidationError
from support.decisions import NOON_US, MakeRecord

NOON = datetime.fromtimestamp(NOON_US / 1e6, UTC)
#: the reader's module (the package's ``query`` is its function of the same name)
reader = importlib.import_module("modelphase.decisions.query")


@pytest.fixture
def logged(root: Path, record: MakeRecord) -> Path:
    """Ten decisions a minute apart from noon; two models, three aliases, two fallbacks,
    spread over two day folders (the last two are on the next day)."""
    minute = 60_000_000
    day = 86_400_000_000
    with DecisionLog(root, batch_size=4, clock=lambda: NOON_US / 1e6) as log:
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


def a_segment(root: Path) -> Path:
    return sorted(root.rglob("*.parquet"))[1]


def test_a_truncated_segment_is_skipped_and_reported(logged: Path) -> None:
    segment = a_segment(logged)
    lost = pq.read_metadata(segment).num_rows
    os.truncate(segment, segment.stat().st_size // 2)  # a copy or a full disk cut it
    name = str(segment.relative_to(logged))
    with pytest.warns(DamagedSegmentWarning, match=r"skipped 1 damaged segment.*truncated") as w:
        frame = read_decisions(logged)
    assert len(frame) == 10 - lost
    assert frame.attrs["damaged_segments"] == [name]
    assert w[0].message.segments == [name]  # type: ignore[union-attr]
    with pytest.warns(DamagedSegmentWarning):
        counted = query(logged, "SELECT count(*) AS n FROM decisions")
    assert counted["n"].tolist() == [10 - lost]
    assert counted.attrs["damaged_segments"] == [name]


def test_a_segment_whose_footer_does_not_parse_is_skipped(logged: Path) -> None:
    segment = a_segment(logged)
    lost = pq.read_metadata(segment).num_rows
    raw = bytearray(segment.read_bytes())
    footer = int.from_bytes(raw[-8:-4], "little")
    raw[-8 - footer : -8] = b"\xff" * footer  # its ends look whole: only parsing tells
    segment.write_bytes(bytes(raw))
    with pytest.warns(DamagedSegmentWarning, match="footer does not parse"):
        assert len(read_decisions(logged)) == 10 - lost


def test_a_segment_removed_while_a_query_lists_it_is_skipped_silently(
    logged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing, damage = reader.list_segments, reader._damage
    victims = sorted(logged.rglob("*.parquet"))[:2]
    lost = sum(pq.read_metadata(v).num_rows for v in victims)

    def listed_then_pruned(*args: object, **kwargs: object) -> object:
        found = listing(*args, **kwargs)  # type: ignore[arg-type]
        victims[0].unlink()  # retention removes it after the listing
        return found

    def checked_then_pruned(path: Path) -> str | None:
        reason = damage(path)
        if path == victims[1]:
            path.unlink()  # ... or after the check, before DuckDB opens it
        return reason

    monkeypatch.setattr(reader, "list_segments", listed_then_pruned)
    monkeypatch.setattr(reader, "_damage", checked_then_pruned)
    frame = read_decisions(logged)  # warnings are errors here: none is issued
    assert len(frame) == 10 - lost
    assert frame.attrs["damaged_segments"] == []


def test_extreme_times_are_refused_or_read(logged: Path) -> None:
    far = datetime(9999, 12, 31, tzinfo=UTC)
    assert read_decisions(logged, until=far, since=datetime(1, 1, 2, tzinfo=UTC)).shape[0] == 10
    with pytest.raises(ValidationError, match="time-zone aware"):
        read_decisions(logged, until="2024-05-01")  # type: ignore[arg-type]
