"""Forecasts and scores over HTTP, and every kind of bad input answered with a clear 4xx."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

from modelphase.decisions import read_decisions
from modelphase.forecast.trained import TrainedForecaster
from modelphase.frame import Panel
from serve.harness import DETECTOR, FORECASTER, Live

HOUR = 3600 * 10**9
SERIES = ['load{host="h0"}', 'load{host="h2"}']
FORECAST = f"/v1/models/{FORECASTER}/forecast"
SCORE = f"/v1/models/{DETECTOR}/score"


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


@pytest.fixture
def model(live: Live) -> TrainedForecaster:
    """Version 1 of the forecaster, as the registry holds it."""
    assert live.setup is not None
    with live.setup.registry() as reg:
        return TrainedForecaster.from_bytes(reg.load_artifact(FORECASTER, 1))


def _problems(response: httpx.Response) -> list[dict[str, object]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    problems: list[dict[str, object]] = body["detail"]
    return problems


def _message(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    return str(body["detail"])


# ------------------------------------------------------------------ forecasts


def test_forecast_by_ids_is_the_registered_models_forecast(
    client: httpx.Client, model: TrainedForecaster
) -> None:
    answer = client.post(FORECAST, json={"series": SERIES, "h": 6})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == FORECASTER
    assert body["version"] == 1
    assert body["alias"] == "production"
    assert body["answered_by"] == "model"
    assert body["fallback_reason"] is None
    assert answer.headers["x-request-id"] == body["request_id"]
    expected = model.predict(6, ids=SERIES)
    assert [f["unique_id"] for f in body["forecasts"]] == SERIES
    for item in body["forecasts"]:
        rows = expected[expected["unique_id"] == item["unique_id"]]
        assert item["mean"] == rows["yhat"].tolist()
        assert item["ds"] == [t.isoformat() for t in rows["ds"]]
        assert set(item["intervals"]) == {"80", "95"}
        for level in ("80", "95"):
            assert item["intervals"][level]["lo"] == rows[f"yhat-lo-{level}"].tolist()
            assert item["intervals"][level]["hi"] == rows[f"yhat-hi-{level}"].tolist()


def test_request_ids_are_the_servers_own(live: Live, client: httpx.Client) -> None:
    """A caller's x-request-id decides nothing: every answer gets an id of the server's,
    unique, and the caller's own (when sane) is only echoed back beside it."""
    body = {"series": SERIES[:1], "h": 2}
    same = [client.post(FORECAST, json=body, headers={"x-request-id": "dup-1"}) for _ in "ab"]
    ids = [r.json()["request_id"] for r in same]
    assert len(set(ids)) == 2
    assert "dup-1" not in ids
    for response, request_id in zip(same, ids, strict=True):
        assert response.headers["x-request-id"] == request_id
        assert response.headers["x-client-request-id"] == "dup-1"
    insane: str | bytes
    for insane in ("x" * 129, "two words", "caf\u00e9".encode(), "tab\there"):
        odd = client.post(FORECAST, json=body, headers={"x-request-id": insane})
        assert odd.status_code == 200
        assert "x-client-request-id" not in odd.headers
        ids.append(odd.json()["request_id"])
    plain = client.post(FORECAST, json=body)
    assert "x-client-request-id" not in plain.headers
    ids.append(plain.json()["request_id"])
    live.stop()  # flushes the decision log
    assert live.setup is not None
    logged = read_decisions(live.setup.home / "decisions", model=FORECASTER)
    assert sorted(logged["request_id"]) == sorted(ids)


def test_levels_pick_the_intervals(client: httpx.Client) -> None:
    answer = client.post(FORECAST, json={"series": SERIES[:1], "h": 3, "level": [80]})
    item = answer.json()["forecasts"][0]
    assert set(item["intervals"]) == {"80"}
    band = item["intervals"]["80"]
    assert all(
        lo <= m <= hi for lo, m, hi in zip(band["lo"], item["mean"], band["hi"], strict=True)
    )


def test_forecast_from_values_refits_and_forecasts_after_end(
    client: httpx.Client, model: TrainedForecaster
) -> None:
    uid = SERIES[0]
    rng = np.random.default_rng(7)
    t = np.arange(24 * 5)
    y = 50 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, len(t))
    end = pd.Timestamp("2026-03-01T00:00:00Z")
    answer = client.post(
        FORECAST,
        json={"values": y.tolist(), "unique_id": uid, "end": end.isoformat(), "h": 12},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["answered_by"] == "model"
    (item,) = body["forecasts"]
    assert item["unique_id"] == uid
    assert item["ds"] == [(end + pd.Timedelta(hours=k)).isoformat() for k in range(1, 13)]
    ds = end.value - HOUR * np.arange(len(y) - 1, -1, -1)
    expected, _ = model.forecast(Panel.from_series([(uid, ds, y)], step=HOUR), 12)
    assert np.allclose(item["mean"], expected["yhat"].to_numpy())
    assert np.allclose(item["intervals"]["95"]["hi"], expected["yhat-hi-95"].to_numpy())


def test_values_far_outside_the_training_range_are_answered_with_a_warning(
    live: Live, client: httpx.Client, model: TrainedForecaster
) -> None:
    uid = SERIES[0]
    lo, hi = model.info["ranges"][uid]
    y = np.full(96, hi, dtype=float)
    y[-4:] = hi + 10 * (hi - lo)  # an outage's surge: far beyond what the model learned
    end = "2026-03-01T00:00:00+00:00"
    usual = client.post(FORECAST, json={"values": y[:-4].tolist(), "unique_id": uid,
                                        "end": end, "h": 4})  # fmt: skip
    assert usual.status_code == 200
    assert usual.json()["warnings"] == []
    odd = client.post(FORECAST, json={"values": y.tolist(), "unique_id": uid, "end": end, "h": 4})
    assert odd.status_code == 200, odd.text  # answered: an incident is when it is needed
    (warning,) = odd.json()["warnings"]
    assert "4 value(s) outside 3x the training range" in warning
    checked = {
        labels["result"]: value
        for labels, value in live.scrape()["modelphase_serve_data_validation_total"]
    }
    assert checked["ok"] >= 1
    assert checked["out_of_range"] == 1
    assert live.metric("modelphase_serve_input_age_seconds_count", model=FORECASTER) >= 2


def test_null_values_are_missing_points(client: httpx.Client) -> None:
    values: list[float | None] = [10.0 + (i % 24) for i in range(96)]
    values[5] = values[50] = values[-3] = None
    answer = client.post(
        FORECAST, json={"values": values, "h": 4, "end": "2026-03-01T00:00:00+00:00"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["answered_by"] == "model"
    assert all(m is not None and np.isfinite(m) for m in body["forecasts"][0]["mean"])


def test_the_horizon_and_levels_are_the_trained_ones(client: httpx.Client) -> None:
    too_far = client.post(FORECAST, json={"series": SERIES, "h": 25})
    assert "expected a horizon between 1 and 24" in _message(too_far, 422, "invalid_request")
    unknown = client.post(FORECAST, json={"series": SERIES, "h": 2, "level": [80, 90]})
    assert "expected interval levels among ['80', '95']" in _message(
        unknown, 422, "invalid_request"
    )
    (zero,) = _problems(client.post(FORECAST, json={"series": SERIES, "h": 0}))
    assert zero["loc"] == ["body", "h"]


def test_unknown_models_and_series_are_404(client: httpx.Client) -> None:
    nobody = client.post("/v1/models/nobody/forecast", json={"series": SERIES, "h": 2})
    detail = _message(nobody, 404, "not_found")
    assert "no served model 'nobody'" in detail
    assert FORECASTER in detail  # it names what is served
    unknown = client.post(FORECAST, json={"series": [SERIES[0], "cpu{host=z}"], "h": 2})
    assert "cpu{host=z}" in _message(unknown, 404, "unknown_series")


def test_a_model_answers_only_its_own_endpoint(client: httpx.Client) -> None:
    wrong = client.post(f"/v1/models/{DETECTOR}/forecast", json={"series": SERIES, "h": 2})
    assert "is an anomaly detector" in _message(wrong, 422, "invalid_request")
    other = client.post(f"/v1/models/{FORECASTER}/score", json={"values": [1.0]})
    assert "is a forecaster" in _message(other, 422, "invalid_request")


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        (b'{"values": [1.0, NaN, 2.0], "h": 2}', ["body", "values", "1"]),
        (b'{"values": [1.0, 2.0, Infinity], "h": 2}', ["body", "values", "2"]),
        (b'{"values": [-Infinity], "h": 2}', ["body", "values", "0"]),
        (b'{"values": [1.0, "2.5"], "h": 2}', ["body", "values", "1"]),
        (b'{"values": [1.0, true], "h": 2}', ["body", "values", "1"]),
        (b'{"values": [1.0, 1e300], "h": 2}', ["body", "values", "1"]),
        (b'{"values": [1.0], "h": "two"}', ["body", "h"]),
        (b'{"series": ["a"], "h": 2, "horizon": 3}', ["body", "horizon"]),
        (b'{"values": [1.0], "h": 2, "end": "0001-01-01T00:00:00"}', ["body", "end"]),
    ],
    ids=["nan", "inf", "-inf", "string", "bool", "huge", "h", "extra", "end"],
)
def test_bad_values_are_422_with_their_path(
    client: httpx.Client, raw: bytes, loc: list[str]
) -> None:
    response = client.post(FORECAST, content=raw, headers={"content-type": "application/json"})
    problems = _problems(response)
    assert loc in [p["loc"] for p in problems], problems
    assert all(p["msg"] for p in problems)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"h": 2}, "send either 'series'"),
        ({"h": 2, "series": ["a"], "values": [1.0]}, "send either 'series'"),
        ({"h": 2, "values": [None, None]}, "'values' are all null"),
        ({"h": 2, "series": ["a"], "end": "2026-01-01T00:00:00Z"}, "go with 'values'"),
    ],
)
def test_a_request_needs_one_source(
    client: httpx.Client, body: dict[str, object], match: str
) -> None:
    (problem,) = _problems(client.post(FORECAST, json=body))
    assert match in str(problem["msg"])


def test_malformed_json_is_422(client: httpx.Client) -> None:
    response = client.post(
        FORECAST, content=b'{"h": 2, "series": [', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_bodies_over_the_limit_are_413(live: Live, start: Callable[..., Live]) -> None:
    assert live.setup is not None
    small = start(live.setup.home, live.setup, max_body=2048)
    big = {"values": [1.0] * 1000, "h": 2}
    with small.client() as client:
        announced = client.post(FORECAST, json=big)

        def chunks() -> Iterator[bytes]:  # no Content-Length: the size shows as it streams
            yield b'{"h": 2, "values": ['
            for _ in range(300):
                yield b"1.0, 2.0, 3.0, "
            yield b"1.0]}"

        streamed = client.post(
            FORECAST, content=chunks(), headers={"content-type": "application/json"}
        )
        fits = client.post(FORECAST, json={"series": SERIES, "h": 2})
    for response in (announced, streamed):
        assert "expected a body of at most 2048 bytes" in _message(response, 413, "body_too_large")
    assert fits.status_code == 200
    assert small.metric("modelphase_serve_rejected_requests_total", status="413") == 2.0


# --------------------------------------------------------------------- scores


def _stream(n: int = 1200, seed: int = 0) -> list[float]:
    """A noisy daily cycle of five-minute points (the default detector wants days)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (100 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1, n)).tolist()


def test_a_spike_is_flagged(client: httpx.Client) -> None:
    values: list[float | None] = list(_stream())
    values.append(400.0)
    values[100] = None
    answer = client.post(SCORE, json={"values": values})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["answered_by"] == "model"
    assert len(body["scores"]) == len(body["anomalies"]) == len(values)
    assert body["anomalies"][-1] is True
    assert body["scores"][-1] > body["threshold"]
    assert sum(body["anomalies"]) <= 3  # the spike, not the noise
    # a missing point has no score and is never an anomaly
    assert body["scores"][100] is None
    assert body["anomalies"][100] is False


def test_a_flagged_spike_comes_with_its_explanation_and_the_coverage_is_exported(
    client: httpx.Client, live: Live
) -> None:
    values: list[float | None] = list(_stream())
    values.append(400.0)
    stamps = pd.date_range("2026-01-01", periods=len(values), freq="5min", tz="UTC")
    timed = {"values": values, "timestamps": [t.isoformat() for t in stamps]}
    body = client.post(SCORE, json=timed).json()
    assert body["anomalies"][-1] is True
    last = body["explanations"][-1]
    assert (last["first"], last["last"]) == (len(values) - 1, len(values) - 1)
    assert last["pattern"] == "spike"
    assert last["observed"] == 400.0
    assert last["lower"] < last["expected"] < last["upper"] < 400.0
    assert last["at"].startswith(stamps[-1].strftime("%Y-%m-%dT%H:%M"))
    flagged = sum(body["anomalies"])
    covered = sum(e["last"] - e["first"] + 1 for e in body["explanations"])
    assert covered == flagged
    # without timestamps there is no time of day to explain by: counted as unexplained
    bare = client.post(SCORE, json={"values": values}).json()
    assert bare["explanations"] == []
    ratio = live.metric("modelphase_serve_explanation_coverage_ratio", model=DETECTOR)
    assert ratio == pytest.approx(covered / (flagged + sum(bare["anomalies"])))
    assert live.metric("modelphase_serve_flagged_points_total", explained="true") == covered


def test_timestamps_go_one_per_value(client: httpx.Client) -> None:
    stamps = pd.date_range("2026-01-01", periods=3, freq="5min", tz="UTC")
    ok = client.post(
        SCORE, json={"values": [1.0, 2.0, 3.0], "timestamps": [t.isoformat() for t in stamps]}
    )
    assert ok.status_code == 200
    (problem,) = _problems(
        client.post(SCORE, json={"values": [1.0, 2.0], "timestamps": [stamps[0].isoformat()]})
    )
    assert "expected one timestamp per value, got 1 timestamps for 2 values" in str(problem["msg"])
