"""Hostile artifacts are refused with one clear line, and run nothing.

Each pickle here is proved live first (unpickled in another interpreter, it creates the
marker file); ``TrainedForecaster.from_bytes`` refuses it without unpickling, and the
marker is not there afterwards. Data-only artifacts are broken one way at a time:
classes outside the allow-list, ``__reduce__``-like tricks in parameters, a zip bomb, a
huge manifest, deep JSON, an object array, a wrong magic, truncation, random damage.
"""

from __future__ import annotations

import inspect
import io
import json
import pickle
import pickletools
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsforecast.models import MSTL

from modelphase.exceptions import ArtifactFormatError, UnsafeArtifactError
from modelphase.forecast import artifact_kind
from modelphase.forecast.trained import TrainedForecaster
from modelphase.frame import Panel
from support.hostile import (
    HOUR,
    MAGIC,
    Reduce,
    npy,
    pack,
    pack_raw,
    pickles,
    sample_forecaster,
    unpack,
    unpickle_elsewhere,
)

PICKLE_REFUSAL = (
    "expected a data-only modelphase artifact (format 2), got a pickle; pickles are never "
    "loaded because loading one runs code. Fix: retrain with this version "
    "(`modelphase train SPEC`)"
)
PAYLOADS = sorted(pickles(Path("/m")))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker"


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything unpickles."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("something called pickle.loads")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


def refused(data: bytes, error: type[Exception] = ArtifactFormatError) -> str:
    """The one-line message ``from_bytes`` refuses ``data`` with."""
    with pytest.raises(error) as caught:
        TrainedForecaster.from_bytes(data)
    message = str(caught.value)
    assert "\n" not in message
    assert "Fix: " in message
    return message


def test_the_payloads_cover_the_opcodes_that_call_things(marker: Path) -> None:
    ops = {op.name for data in pickles(marker).values() for op, _, _ in pickletools.genops(data)}
    assert {"GLOBAL", "STACK_GLOBAL", "REDUCE", "INST", "OBJ", "BUILD"} <= ops


@pytest.mark.parametrize("name", PAYLOADS)
@pytest.mark.usefixtures("no_unpickling")
def test_each_pickle_is_live_and_refused_unread(name: str, marker: Path, tmp_path: Path) -> None:
    data = pickles(marker)[name]
    assert unpickle_elsewhere(data, marker, tmp_path), "the payload must work for the test to mean"
    assert not marker.exists()
    with pytest.raises(UnsafeArtifactError) as caught:
        TrainedForecaster.from_bytes(data)
    assert str(caught.value) == PICKLE_REFUSAL
    assert caught.value.kind == "pickle (refused)"
    assert artifact_kind(data) == "pickle (refused)"
    assert not marker.exists()


@pytest.mark.usefixtures("no_unpickling")
def test_a_format_1_artifact_is_refused_with_the_retrain_message() -> None:
    old = pickle_dumps_format_1()
    assert refused(old, UnsafeArtifactError) == PICKLE_REFUSAL


def pickle_dumps_format_1() -> bytes:
    """What ``to_bytes`` wrote before format 2: ``pickle.dumps((1, model))``."""
    return pickle.dumps((1, sample_forecaster()), protocol=pickle.HIGHEST_PROTOCOL)


# ------------------------------------------------------- data-only, broken


def broken(change: Any) -> bytes:
    """The sample's artifact with ``change(manifest, arrays)`` applied."""
    manifest, arrays = unpack(sample_forecaster().to_bytes())
    change(manifest, arrays)
    return pack(manifest, arrays)


def set_class(name: str) -> Any:
    def change(manifest: dict[str, Any], arrays: dict[str, bytes]) -> None:
        manifest["models"][0]["class"] = name

    return change


@pytest.mark.parametrize(
    "name",
    [
        "os.system",
        "posix.system",
        "subprocess.Popen",
        "builtins.eval",
        "builtins.__import__",
        "pickle.loads",
        "TrainedForecaster",  # a modelphase class, not in the list
        "PanelForecaster",
        "modelphase.forecast.panel.PanelForecaster",
        "GlobalLightGBM",  # the class name; the list says LightGBM
        "ConformalIntervals",  # allowed only where a model nests one
        "",
        "SeasonalNaive\n\x1b[31m",
    ],
)
@pytest.mark.usefixtures("no_unpickling")
def test_a_class_outside_the_allow_list_is_refused(name: str) -> None:
    message = refused(broken(set_class(name)), UnsafeArtifactError)
    assert message.startswith("models.0: expected a class from the allow-list (AutoARIMA, ")
    assert f"got {name!r}; an artifact can name no other" in message


def set_param(path: list[Any], value: Any) -> Any:
    def change(manifest: dict[str, Any], arrays: dict[str, bytes]) -> None:
        node = manifest
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


EVIL = {"class": "os.system", "params": {}}


@pytest.mark.parametrize(
    ("path", "value", "error", "expected"),
    [
        (["models", 1, "params", "trend_forecaster"], EVIL, UnsafeArtifactError, "allow-list"),
        (["models", 1, "params", "trend_forecaster", "class"], "Popen", UnsafeArtifactError, ""),
        (["models", 0, "params", "alias"], {"class": "Naive", "params": {}}, UnsafeArtifactError,
         "expected plain data, got a model"),
        (["models", 0, "params", "season_length"], {"tuple": [EVIL]}, UnsafeArtifactError, ""),
        (["models", 0, "params", "__reduce__"], ["os.system", "touch m"], ArtifactFormatError,
         "SeasonalNaive has no parameter '__reduce__'"),
        (["models", 0, "params", "__class__"], "os.system", ArtifactFormatError, "no parameter"),
        (["models", 0, "params", "alias"], {"py/reduce": [{"py/type": "os.system"}]},
         ArtifactFormatError, "got an object with keys 'py/reduce'"),
        (["models", 0, "params", "alias"], {"__reduce__": ["os.system", ["touch m"]]},
         ArtifactFormatError, "got an object with keys '__reduce__'"),
        (["models", 0, "__reduce__"], "os.system", ArtifactFormatError, "expected only the keys"),
        (["fallback"], EVIL, UnsafeArtifactError, "fallback: expected a class"),
        (["kind"], "os.system", ArtifactFormatError, "expected 'TrainedForecaster'"),
    ],
)  # fmt: skip
@pytest.mark.usefixtures("no_unpickling")
def test_tricks_in_parameters_are_refused(
    path: list[Any], value: Any, error: type[Exception], expected: str
) -> None:
    message = refused(broken(set_param(path, value)), error)
    assert expected in message


def test_an_artifact_cannot_change_the_shared_default_of_another_model() -> None:
    shared = inspect.signature(MSTL).parameters["trend_forecaster"].default
    assert shared.prediction_intervals is None

    def change(manifest: dict[str, Any], arrays: dict[str, bytes]) -> None:
        params = manifest["models"][1]["params"]
        del params["trend_forecaster"]
        params["prediction_intervals"] = {"class": "ConformalIntervals", "params": {"h": 1}}

    message = refused(broken(change))
    assert "expected MSTL's parameter 'trend_forecaster' to be given" in message
    assert shared.prediction_intervals is None


@pytest.mark.usefixtures("no_unpickling")
def test_strings_in_parameters_are_only_data(marker: Path) -> None:
    change = set_param(["models", 0, "params"], {"season_length": f"24; touch {marker}"})
    model = TrainedForecaster.from_bytes(broken(change))  # a string is a string
    panel = Panel.from_series([("a", np.arange(48) * HOUR, np.arange(48.0))], step=HOUR)
    out, fallbacks = model.forecast(panel, h=2)
    assert [f.model for f in fallbacks] == ["SeasonalNaive"]  # its own check refused it
    assert "season_length: expected a positive integer" in fallbacks[0].reason
    assert np.isfinite(out["yhat"]).all()
    assert not marker.exists()


@pytest.mark.usefixtures("no_unpickling")
def test_an_object_array_is_refused_unread(marker: Path) -> None:
    evil = np.array([Reduce(open, str(marker), "w")], dtype=object)

    def change(manifest: dict[str, Any], arrays: dict[str, bytes]) -> None:
        arrays["scales.values"] = npy(evil, allow_pickle=True)

    message = refused(broken(change), UnsafeArtifactError)
    assert "dtype object (objects, which only pickle can read)" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.zeros(2, dtype=[("a", "<f8"), ("b", "<f8")]), "expected a 1-D or 2-D array"),
        (np.zeros(2, dtype=">f8"), "expected a 1-D or 2-D array"),
        (np.zeros((1, 1, 1)), "expected a 1-D or 2-D array"),
        (np.zeros(2, dtype="<U3"), "expected a 1-D or 2-D array"),
        (np.zeros(3, dtype=np.int64), "expected a 1-D array of float64, got a 1-D array of int64"),
    ],
)
def test_arrays_of_other_kinds_are_refused(values: Any, expected: str) -> None:
    def change(manifest: dict[str, Any], arrays: dict[str, bytes]) -> None:
        arrays["scales.values"] = npy(values)

    assert expected in refused(broken(change))


def npy_claiming(shape: str, body: bytes) -> bytes:
    """An .npy file of float64 whose header claims ``shape``, followed by ``body``."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}".ljust(117) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + body


def test_an_array_header_that_lies_about_its_size_is_refused_before_allocating() -> None:
    def lie(manifest: dict[str, Any], arrays: dict[str, bytes]) -> None:
        arrays["scales.values"] = npy_claiming("(99999999999,)", np.zeros(2).tobytes())

    assert "its header says 799999999992 bytes, it holds 16" in refused(broken(lie))

    def negative(manifest: dict[str, Any], arrays: dict[str, bytes]) -> None:
        arrays["scales.values"] = npy_claiming("(-2,)", b"")

    assert "expected a shape of sizes >= 0" in refused(broken(negative))

    def huge_header(manifest: dict[str, Any], arrays: dict[str, bytes]) -> None:
        arrays["scales.values"] = b"\x93NUMPY\x02\x00" + (1 << 30).to_bytes(4, "little")

    assert "expected an .npy array" in refused(broken(huge_header))


def test_a_zip_bomb_is_refused_before_anything_is_decompressed() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", b"\0" * (200 << 20))  # 200 MiB of zeros
    bomb = buffer.getvalue()
    assert len(bomb) < 1 << 20
    message = refused(bomb)
    assert f"got {len(bomb)} bytes of unknown data (starting 50 4b 03 04" in message
    assert artifact_kind(bomb) == "unknown"

    def inside(manifest: dict[str, Any], arrays: dict[str, bytes]) -> None:
        arrays["scales.values"] = bomb

    assert "expected an .npy array" in refused(broken(inside))


def test_a_huge_manifest_is_refused_before_parsing() -> None:
    def pad(manifest: dict[str, Any], arrays: dict[str, bytes]) -> None:
        manifest["info"] = {"pad": "x" * (4 << 20)}

    assert "expected a manifest of at most 4.0 MiB, got 4.0 MiB" in refused(broken(pad))
    claimed = pack_raw(b"{}", b"")[: len(MAGIC) + 4] + (2**63).to_bytes(8, "little")
    assert "expected a manifest of at most 4.0 MiB, got 8796093022208.0 MiB" in refused(claimed)


def test_deep_json_is_refused_before_the_parser_recurses() -> None:
    deep = b'{"format": 2, "arrays": [], "info": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert "manifest: expected JSON nested at most 32 deep, got 100001 levels" in refused(
        pack_raw(deep, b"")
    )
    # brackets inside strings are not nesting
    flat = b'{"format": 2, "arrays": [], "info": "' + b"[" * 1000 + b'"}'
    assert "expected the arrays strings" in refused(pack_raw(flat, b""))


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (b'{"format": 2, "format": 2, "arrays": []}', "duplicate key 'format'"),
        (b'{"format": 2, "arrays": [], "x": NaN}', "NaN is not a JSON number"),
        (b'{"format": 2, "arrays": [], "x": 1' + b"0" * 5000 + b"}", "expected JSON"),
        (b"\xff\xfe{}", "UnicodeDecodeError"),
        (b"[]", "manifest: expected an object, got list"),
        (b'{"format": 3, "arrays": []}', "manifest: expected format 2, got 3"),
        (b'{"format": 2, "arrays": [["a", 5]]}', "truncated"),
        (b'{"format": 2, "arrays": [["a", -1]]}', "expected [name, size]"),
        (b'{"format": 2, "arrays": ' + json.dumps([["a", 0]] * 5000).encode() + b"}",
         "expected at most 4096 arrays, got 5000"),
    ],
)  # fmt: skip
def test_bad_manifests_are_refused(manifest: bytes, expected: str) -> None:
    assert expected in refused(pack_raw(manifest, b""))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "got 0 bytes of unknown data (starting nothing)"),
        (b"\x89modelphase-forecastex\r\n\x1a\n" + b"\0" * 20, "unknown data"),
        (MAGIC.replace(b"\r\n", b"\n") + b"\0" * 20, "unknown data"),  # copied in text mode
        (pack_raw(b"{}", b"", fmt=3), "got format 3. Fix: load it with the modelphase version"),
        (pack_raw(b"{}", b"", fmt=1), "got format 1"),
        (b'{"detector": {"name": "zscore"}}', "got JSON (detector parameters?)"),
        (b"GIF89a" + b"\0" * 100, "starting 47 49 46 38 39 61 00 00"),
    ],
)
def test_other_bytes_are_refused_by_what_they_look_like(data: bytes, expected: str) -> None:
    assert expected in refused(data)


def test_every_truncation_is_refused_cleanly() -> None:
    data = sample_forecaster().to_bytes()
    for cut in [*range(0, len(data), 7), len(data) - 1]:
        with pytest.raises(ArtifactFormatError):
            TrainedForecaster.from_bytes(data[:cut])
    with pytest.raises(ArtifactFormatError, match="expected the data to end after its arrays"):
        TrainedForecaster.from_bytes(data + b"\0")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (set_param(["chosen", "values"], "weights.values"), "expected a 1-D array of int32"),
        (set_param(["models", 1, "params", "alias"], "SeasonalNaive"), "distinct aliases"),
        (
            set_param(["models", 1, "params", "trend_forecaster", "params", "season_length"], 24),
            "MSTL refused its parameters (Exception: Trend forecaster should not adjust",
        ),
        (set_param(["levels"], [80.0, 99.0]), "widths: expected a table"),
        (set_param(["step"], True), "manifest.step: expected int, got bool"),
        (set_param(["levels"], [80]), "manifest.levels: expected floats such as 80.0"),
        (set_param(["surprise"], 1), "expected only the keys"),
        (
            set_param(
                ["forecast", "columns", 2], {"name": "yhat", "kind": "str", "values": "forecast.0"}
            ),
            "forecast: expected the columns",
        ),
        (set_param(["chosen", "values"], "chosen.keys"), "chosen: expected the models' aliases"),
    ],
)
def test_inconsistent_artifacts_are_refused(change: Any, expected: str) -> None:
    assert expected in refused(broken(change))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_damage_loads_or_is_refused_never_anything_else(data: st.DataObject) -> None:
    blob = bytearray(SAMPLE)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    try:  # anything but a load or an ArtifactFormatError fails the test
        model = TrainedForecaster.from_bytes(bytes(blob))
    except ArtifactFormatError as exc:
        message = str(exc)
    else:
        assert isinstance(model, TrainedForecaster)
        return
    assert "\n" not in message
    assert "Fix: " in message


SAMPLE = sample_forecaster().to_bytes()
