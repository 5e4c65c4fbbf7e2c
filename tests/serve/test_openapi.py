"""No input produces a 500: schemathesis generates requests from the server's own
OpenAPI and sends them, with a viewer's token, to a live server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.config import SchemathesisConfig

from modelphase.serve.schemas import MAX_ABS
from serve.harness import DETECTOR, FORECASTER, Live, Runs, prepare, running


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, runs: Runs) -> Iterator[Live]:
    """One server for every generated request (they change nothing it serves)."""
    home: Path = tmp_path_factory.mktemp("fuzz") / "home"
    setup = prepare(home, runs)
    with running(setup, home) as server:
        yield server


@pytest.fixture
def api(fuzzed: Live) -> Any:
    # valid requests and invalid ones (wrong types, missing fields, out-of-range values)
    config = SchemathesisConfig.from_dict({"generation": {"mode": "all"}})
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_no_request_is_a_server_error(case: Any, fuzzed: Live) -> None:
    if case.path_parameters and "name" in case.path_parameters:  # a served model, not a 404
        case.path_parameters["name"] = DETECTOR if case.path.endswith("/score") else FORECASTER
    case.call_and_validate(
        headers=fuzzed.headers(), checks=[not_a_server_error, response_schema_conformance]
    )


values = st.lists(
    st.one_of(
        st.none(),
        st.floats(-1e6, 1e6, allow_nan=False),
        st.floats(-MAX_ABS, MAX_ABS, allow_nan=False),
    ),
    min_size=1,
    max_size=300,
).filter(lambda v: any(x is not None for x in v))


@given(
    values=values,
    h=st.integers(1, 24),
    level=st.none() | st.lists(st.sampled_from([80, 95]), min_size=1, max_size=2),
    end=st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    uid=st.none() | st.sampled_from(['load{host="h3"}', "never-seen"]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_valid_forecast_request_is_answered_by_the_model(
    fuzzed: Live,
    values: list[float | None],
    h: int,
    level: list[int] | None,
    end: datetime,
    uid: str | None,
) -> None:
    body: dict[str, Any] = {"values": values, "h": h, "end": end.isoformat()}
    if level is not None:
        body["level"] = level
    if uid is not None:
        body["unique_id"] = uid
    response = httpx.post(
        f"{fuzzed.url}/v1/models/{FORECASTER}/forecast", json=body, headers=fuzzed.headers()
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["answered_by"], answer["fallback_reason"]) == ("model", None)
    (item,) = answer["forecasts"]
    assert len(item["mean"]) == len(item["ds"]) == h


@given(
    values=values,
    stamped=st.booleans(),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_valid_score_request_is_answered_by_the_model(
    fuzzed: Live, values: list[float | None], stamped: bool
) -> None:
    body: dict[str, Any] = {"values": values}
    if stamped:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        body["timestamps"] = [
            (start + timedelta(minutes=5 * i)).isoformat() for i in range(len(values))
        ]
    response = httpx.post(
        f"{fuzzed.url}/v1/models/{DETECTOR}/score", json=body, headers=fuzzed.headers()
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["answered_by"], answer["fallback_reason"]) == ("model", None)
    assert len(answer["scores"]) == len(answer["anomalies"]) == len(values)
    missing = [i for i, v in enumerate(values) if v is None]
    assert all(answer["scores"][i] is None and not answer["anomalies"][i] for i in missing)


def test_no_generated_request_broke_a_model(fuzzed: Live) -> None:
    """Bad input is refused at the edge: it never reaches a model and fails there."""
    assert fuzzed.metric("modelphase_serve_inference_errors_total") == 0
