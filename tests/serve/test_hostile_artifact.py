"""The server refuses hostile artifacts, on start and on every reload, runs nothing,
and keeps serving its other models; detector parameters can name nothing to import."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelphase.anomaly import DECIDERS, DETECTORS, Alerter
from modelphase.anomaly.base import Detector
from modelphase.anomaly.deciders import Decider
from modelphase.exceptions import (
    ArtifactFormatError,
    SpecError,
    UnsafeArtifactError,
    ValidationError,
)
from modelphase.registry import ModelVersion
from modelphase.serve.predictors import MAX_DETECTOR_BYTES, ScorePredictor, load
from serve.harness import DETECTOR, FORECASTER, Live, Setup, running, wait_for
from support.hostile import pack, pickles, sample_forecaster, unpack

SERIES = 'load{host="h0"}'


def register(setup: Setup, name: str, data: bytes, flavor: str = "modelphase.forecast") -> None:
    """Register ``data`` as version 1 of ``name`` and point production at it."""
    with setup.registry() as reg:
        version = reg.register(name, data, flavor=flavor, model_class="x")
        reg.promote(name, version.version, "production")


def load_errors(live: Live) -> dict[str, str]:
    with live.client() as client:
        body = client.get("/v1/models").json()
    errors: dict[str, str] = body["load_errors"]
    return errors


def still_serving(live: Live) -> None:
    """The good forecaster and detector answer."""
    with live.client() as client:
        models = {m["name"] for m in client.get("/v1/models").json()["models"]}
        assert {FORECASTER, DETECTOR} <= models
        answer = client.post(f"/v1/models/{FORECASTER}/forecast", json={"series": [SERIES], "h": 2})
        assert answer.status_code == 200, answer.text
        score = client.post(f"/v1/models/{DETECTOR}/score", json={"values": [1.0, 2.0, 1.5]})
        assert score.status_code == 200, score.text
    assert httpx.get(f"{live.url}/readyz").status_code == 200


def test_a_hostile_pickle_is_refused_on_every_reload_and_the_rest_is_served(
    setup: Setup, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    register(setup, "evil", pickles(marker)["os.system, protocol 5"])
    with running(setup, setup.home, reload_interval=0.05) as live:
        errors = wait_for(lambda: load_errors(live), what="the load error")
        assert errors["evil v1"].startswith(
            "expected a data-only modelphase artifact (format 2), got a pickle"
        )
        refreshes = live.state.table.refreshes
        wait_for(lambda: live.state.table.refreshes >= refreshes + 5, what="five more reloads")
        assert "evil" not in live.state.table.routes
        still_serving(live)
        with live.client() as client:
            answer = client.post("/v1/models/evil/forecast", json={"series": [SERIES], "h": 2})
        assert answer.status_code == 404, answer.text
    assert not marker.exists()


def test_hostile_artifacts_registered_while_serving_are_refused(
    live: Live, setup: Setup, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    manifest, arrays = unpack(sample_forecaster().to_bytes())
    manifest["models"][0] = {"class": "subprocess.Popen", "params": {"args": ["touch", "m"]}}
    register(setup, "popen", pack(manifest, arrays))
    register(setup, "popen-pickle", pickles(marker)["subprocess.Popen"])
    evil_detector = {"detector": {"name": "os.system", "params": {"command": f"touch {marker}"}}}
    register(setup, "evil-detector", json.dumps(evil_detector).encode(), "modelphase.anomaly")
    errors = wait_for(
        lambda: (e := load_errors(live)) and len(e) == 3 and e, what="three load errors"
    )
    assert "expected a class from the allow-list" in errors["popen v1"]
    assert "got a pickle" in errors["popen-pickle v1"]
    assert "unknown detector 'os.system'; expected one of" in errors["evil-detector v1"]
    time.sleep(0.5)  # a Popen child would have run by now
    still_serving(live)
    assert not marker.exists()


def version(flavor: str = "modelphase.anomaly") -> ModelVersion:
    """A version record for ``load`` (only its name, number and flavor are read)."""
    fields: dict[str, Any] = dict.fromkeys(ModelVersion.__dataclass_fields__)
    fields.update(name="det", version=3, flavor=flavor)
    return ModelVersion(**fields)


def test_load_refuses_a_pickle_for_a_forecaster() -> None:
    with pytest.raises(UnsafeArtifactError, match="got a pickle"):
        load(version("modelphase.forecast"), pickles(Path("/nowhere"))["INST opcode"])


def test_the_detector_tables_are_closed() -> None:
    """Detector and decider names are looked up in these tables and nowhere else."""
    assert all(isinstance(c, type) and issubclass(c, Detector) for c in DETECTORS.values())
    assert all(isinstance(c, type) and issubclass(c, Decider) for c in DECIDERS.values())
    for cls in [*DETECTORS.values(), *DECIDERS.values()]:
        assert cls.__module__.startswith("modelphase.anomaly."), cls
    good = Alerter().get_params()
    assert isinstance(load(version(), json.dumps(good).encode()), ScorePredictor)


@pytest.mark.parametrize(
    ("params", "error", "expected"),
    [
        ({"detector": {"name": "os.system"}}, SpecError, "unknown detector 'os.system'"),
        ({"detector": {"name": "modelphase.anomaly.zscore.ZScore"}}, SpecError, "unknown detector"),
        ({"detector": {"name": "builtins.eval", "params": {}}}, SpecError, "unknown detector"),
        ({"decider": {"name": "subprocess.Popen"}}, SpecError, "unknown decider"),
        (
            {"detector": {"name": "sumof", "params": {"members": [{"name": "posix.system"}]}}},
            SpecError,
            "unknown detector 'posix.system'",
        ),
        ({"detector": {"name": "zscore", "params": {"__class__": "x"}}}, SpecError, "bad param"),
        ({"__reduce__": ["os.system", ["touch m"]]}, ValidationError, "keys among band"),
        ({"detector": "os.system"}, ValidationError, "do not build an Alerter"),
        ({"detector": {"params": {}}}, ValidationError, "do not build an Alerter (KeyError"),
        ({"decider": ["FixedThreshold"]}, ValidationError, "do not build an Alerter"),
        ([{"detector": None}], ValidationError, "expected detector parameters"),
    ],
)
def test_detector_parameters_cannot_name_anything_to_import(
    params: Any, error: type[Exception], expected: str
) -> None:
    with pytest.raises(error) as caught:
        load(version(), json.dumps(params).encode())
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"band": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested at most 32 deep, got 1001"),
        (b'{"band": "' + b"x" * MAX_DETECTOR_BYTES + b'"}', "expected at most 1.0 MiB of JSON"),
        (b'{"band": 3, "band": 4}', "duplicate key 'band'"),
        (b'{"band": NaN}', "NaN is not a JSON number"),
        (b"\x80\x05\x95", "det v3 (detector parameters): expected JSON"),
    ],
)
def test_detector_json_is_limited(raw: bytes, expected: str) -> None:
    with pytest.raises(ArtifactFormatError) as caught:
        load(version(), raw)
    assert expected in str(caught.value)
