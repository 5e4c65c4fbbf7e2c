"""Range splitting and ``query_range`` parsing: the pure core of the Prometheus source.

The fast parser (Arrow's CSV reader on the cut-out sample arrays) must agree exactly with
the reference JSON parser on every answer, whatever the labels hold.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelphase.exceptions import (
    PrometheusError,
    PrometheusQueryError,
    PrometheusResponseError,
    UnexpectedResultTypeError,
)
from modelphase.frame import series_id
from modelphase.ingest import MAX_POINTS_PER_SERIES, _matrix, parse_range_response, split_range
from modelphase.ingest._matrix import RangeData, parse_range_response_json

MINUTE = 60 * 10**9
PARSERS = [parse_range_response, parse_range_response_json]

# ---------------------------------------------------------------------------- split_range


def _points(lo: int, hi: int, step: int) -> list[int]:
    return list(range(lo, hi + 1, step))


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(-(10**12), 10**12),
    step=st.integers(1, 10**6),
    n_steps=st.integers(0, 2_000),
    off_grid=st.integers(0, 10**6),
    max_points=st.integers(1, 300),
)
def test_split_range_covers_the_grid_exactly(
    start: int, step: int, n_steps: int, off_grid: int, max_points: int
) -> None:
    end = start + n_steps * step + off_grid % step  # the end need not sit on the grid
    pieces = split_range(start, end, step, max_points)

    assert pieces[0][0] == start
    assert end - step < pieces[-1][1] <= end, "the last piece reaches the last grid point"
    for lo, hi in pieces:
        assert start <= lo <= hi <= end
        assert (lo - start) % step == 0, "every piece starts on the grid"
        assert len(_points(lo, hi, step)) <= max_points
    for (_, prev_hi), (lo, _) in itertools.pairwise(pieces):
        last = _points(pieces[0][0], prev_hi, step)[-1]
        assert lo == last + step, "contiguous: the next piece starts on the next grid point"
    covered = [t for lo, hi in pieces for t in _points(lo, hi, step)]
    assert covered == _points(start, end, step), "no point lost, none twice"
    n_points = n_steps + 1
    assert len(pieces) == -(-n_points // max_points), "as few requests as possible"


def test_split_range_respects_prometheus_limit() -> None:
    pieces = split_range(0, 25_000 * MINUTE, MINUTE)
    assert len(pieces) == 3
    assert all((hi - lo) // MINUTE <= MAX_POINTS_PER_SERIES - 1 for lo, hi in pieces)
    assert split_range(5, 5, MINUTE) == [(5, 5)], "a single point is one piece"


@pytest.mark.parametrize(
    ("start", "end", "step", "max_points"),
    [(10, 0, 1, 5), (0, 10, 0, 5), (0, 10, -1, 5), (0, 10, 1, 0), (0, 10, 1, -3)],
)
def test_split_range_refuses_bad_arguments(
    start: int, end: int, step: int, max_points: int
) -> None:
    with pytest.raises(ValueError, match=r"start|step"):
        split_range(start, end, step, max_points)


# ------------------------------------------------------------------ random matrix answers

TRICKY = [
    '"values":[',
    '"values":[[1,"2"]]',
    "]]",
    "],[",
    "[",
    '"',
    "\\",
    '\\"',
    "\n",
    "\r\n",
    "\t",
    ",",
    "é",
    "日本語",
    "\U0001f525",
    "\u2028",
    "\x00",
    "NaN",
]
label_text = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=6)), max_size=4).map(
    "".join
)
label_names = st.one_of(
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(["values", "metric", "result", "a.b", "le", "quantile"]),
)
metric_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)


@st.composite
def label_sets(draw: st.DrawFn) -> dict[str, str]:
    labels = draw(st.dictionaries(label_names, label_text, max_size=4))
    labels.pop("__name__", None)
    if draw(st.booleans()):
        labels["__name__"] = draw(st.one_of(metric_names, st.just("node.cpu")))
    return labels


VALUE_WORDS = ["NaN", "+Inf", "-Inf", "0", "-0", "1e-7", "-2.5E+300", "5e-324", "1e400"]
values = st.one_of(
    st.sampled_from(VALUE_WORDS),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(
        lambda x: np.format_float_positional(x, unique=True, trim="-")
    ),
    st.integers(-(10**25), 10**25).map(str),
    st.from_regex(r"-?[0-9]{1,20}\.[0-9]{1,25}", fullmatch=True),
)


@st.composite
def samples(draw: st.DrawFn) -> list[list[Any]]:
    """Strictly increasing millisecond timestamps (sent as seconds) with value strings."""
    if draw(st.integers(0, 4)) == 0:
        return []  # a series with no samples in the range
    first = draw(st.integers(0, 4 * 10**12))
    gaps = draw(st.lists(st.integers(1, 10**7), max_size=25))
    stamps = list(itertools.accumulate(gaps, initial=first))
    out = []
    for ms in stamps:
        ts: float | int = ms // 1000 if ms % 1000 == 0 and draw(st.booleans()) else ms / 1000
        out.append([ts, draw(values)])
    return out


@st.composite
def matrix_docs(draw: st.DrawFn) -> dict[str, Any]:
    result = []
    for _ in range(draw(st.integers(0, 4))):
        labels, points = draw(label_sets()), draw(samples())
        item = {"metric": labels, "values": points}
        if draw(st.booleans()):  # key order is not fixed by JSON
            item = {"values": points, "metric": labels}
        result.append(item)
    doc: dict[str, Any] = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    if draw(st.booleans()):
        doc["warnings"] = draw(st.lists(label_text, max_size=2))
    if draw(st.booleans()):
        doc["infos"] = draw(st.lists(label_text, max_size=2))
    return doc


def _expected(doc: dict[str, Any]) -> dict[str, tuple[list[int], list[float]]]:
    """What any parser must return, computed from the document itself."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for item in doc["data"]["result"]:
        ts, y = out.setdefault(series_id(item["metric"]), ([], []))
        ts.extend(round(float(t) * 1000) * 1_000_000 for t, _ in item["values"])
        y.extend(float(v) for _, v in item["values"])
    return out


def _same(a: RangeData, b: RangeData) -> None:
    assert list(a.series) == list(b.series)
    assert (a.warnings, a.infos) == (b.warnings, b.infos)
    for uid in a.series:
        assert len(a.series[uid]) == len(b.series[uid])
        for (ts_a, y_a), (ts_b, y_b) in zip(a.series[uid], b.series[uid], strict=True):
            assert ts_a.dtype == ts_b.dtype == np.int64
            assert y_a.dtype == y_b.dtype == np.float64
            assert np.array_equal(ts_a, ts_b), uid
            assert np.array_equal(y_a, y_b, equal_nan=True), uid
            assert np.array_equal(np.signbit(y_a), np.signbit(y_b)), uid


def _matches(data: RangeData, doc: dict[str, Any]) -> None:
    expected = _expected(doc)
    assert list(data.series) == list(expected)
    for uid, (ts, y) in expected.items():
        got_ts = np.concatenate([p[0] for p in data.series[uid]])
        got_y = np.concatenate([p[1] for p in data.series[uid]])
        assert got_ts.tolist() == ts, uid
        assert np.array_equal(got_y, np.array(y, dtype=np.float64), equal_nan=True), uid


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=matrix_docs())
def test_fast_and_reference_parsers_agree(doc: dict[str, Any]) -> None:
    compact = orjson.dumps(doc)
    reference = parse_range_response_json(compact)
    _matches(reference, doc)

    fallbacks: list[bytes] = []

    def spy(body: bytes, **kwargs: Any) -> RangeData:
        fallbacks.append(body)
        return parse_range_response_json(body, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_matrix, "parse_range_response_json", spy)
        fast = parse_range_response(compact)
    _same(fast, reference)
    assert not fallbacks, "a compact answer with Prometheus's number forms takes the fast path"

    for pretty in (orjson.dumps(doc, option=orjson.OPT_INDENT_2), json.dumps(doc).encode()):
        _same(parse_range_response(pretty), reference)


def test_tricky_labels_take_the_fast_path_and_stay_right() -> None:
    doc = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "up", "path": '"values":[[1,"2"]]', "x": "]]\\\n"},
                    "values": [[1700000000.5, "NaN"], [1700000001, "+Inf"], [1700000002, "-1e3"]],
                },
                {"metric": {"job": "empty"}, "values": []},
                {"metric": {"job": "b"}, "values": [[1700000000.001, "0.1000000000000000055"]]},
            ],
        },
        "warnings": ['a "values":[ warning'],
    }
    body = orjson.dumps(doc)
    data = parse_range_response(body)
    _same(data, parse_range_response_json(body))
    _matches(data, doc)
    ts, y = data.series['up{path="\\"values\\":[[1,\\"2\\"]]",x="]]\\\\\\n"}'][0]
    assert ts.tolist() == [1_700_000_000_500_000_000, 1_700_000_001 * 10**9, 1_700_000_002 * 10**9]
    assert np.isnan(y[0])
    assert y[1:].tolist() == [np.inf, -1000.0]
    assert data.series['{job="empty"}'][0][0].size == 0
    assert data.warnings == ['a "values":[ warning']


# ---------------------------------------------------------------------------- bad answers


def _body(doc: Any) -> bytes:
    return orjson.dumps(doc)


MATRIX_ITEM = {"metric": {"job": "a"}, "values": [[1, "1"]]}


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [(400, "bad_data", 'parse error at char 4: unexpected "}"'), (422, "execution", "too many")],
)
def test_error_json_raises_query_error(
    parse: Any, status: int, error_type: str, message: str
) -> None:
    body = _body({"status": "error", "errorType": error_type, "error": message})
    with pytest.raises(PrometheusQueryError) as info:
        parse(body, url="http://prom/api/v1/query_range", status_code=status)
    assert info.value.error_type == error_type
    assert info.value.status_code == status
    assert info.value.url == "http://prom/api/v1/query_range"
    assert message in str(info.value)


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>Sign in</title></head><body>login</body></html>",
        b"",
        b"null",
        b"[]",
        b'"success"',
        b'{"data": {}}',
        b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]',
        b"Service Unavailable\n",
    ],
    ids=["html", "empty", "null", "list", "string", "no-status", "truncated", "text"],
)
def test_non_api_bodies_raise_response_error(parse: Any, body: bytes) -> None:
    with pytest.raises(PrometheusResponseError) as info:
        parse(body, url="http://prom/api/v1/query_range", status_code=200)
    text = str(info.value)
    assert "http://prom/api/v1/query_range" in text
    assert "\n" not in text
    assert info.value.status_code == 200


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    ("data", "result_type"),
    [
        ({"resultType": "vector", "result": [{"metric": {}, "value": [1, "1"]}]}, "vector"),
        ({"resultType": "scalar", "result": [1, "1"]}, "scalar"),
        ({"resultType": "string", "result": [1, "hello"]}, "string"),
        ({"result": [MATRIX_ITEM]}, "None"),
        ("matrix", "None"),
    ],
)
def test_other_result_types_are_refused(parse: Any, data: Any, result_type: str) -> None:
    with pytest.raises(UnexpectedResultTypeError) as info:
        parse(_body({"status": "success", "data": data}))
    assert info.value.result_type == result_type
    assert "matrix" in str(info.value)


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    "values",
    [[[1]], [["a", "1"]], [[1, "one"]], [[1, ""]], [1, 2]],
    ids=["no-value", "bad-time", "bad-value", "blank-value", "flat"],
)
def test_malformed_samples_name_the_series(parse: Any, values: Any) -> None:
    body = _body(
        {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [{"metric": {"job": "a"}, "values": values}],
            },
        }
    )
    with pytest.raises(PrometheusResponseError, match=r'\{job="a"\}'):
        parse(body)


@pytest.mark.parametrize("parse", PARSERS)
def test_native_histograms_are_refused(parse: Any) -> None:
    item = {"metric": {"__name__": "lat"}, "histograms": [[1, {"count": "3", "sum": "1"}]]}
    body = _body({"status": "success", "data": {"resultType": "matrix", "result": [item]}})
    with pytest.raises(UnexpectedResultTypeError, match="histogram"):
        parse(body)


def test_parse_errors_are_prometheus_errors() -> None:
    """Callers can catch the whole family (and OSError, as for any source)."""
    with pytest.raises(PrometheusError):
        parse_range_response(b"<html></html>")
    with pytest.raises(OSError, match="expected"):
        parse_range_response(b"<html></html>")
