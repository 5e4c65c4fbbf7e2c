"""A hostile artifact registered by a trainer runs nothing when a viewer uses it.

Its content hash checks out (the registry proves integrity, not trust), and
``modelphase forecast --model NAME@...`` exits 1 with one line, in this process and in
a fresh interpreter, before the marker file the payload would create exists.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from modelphase.registry import Registry
from support.cli import RunCli
from support.hostile import pack, pickles, sample_forecaster, unpack

PICKLE_REFUSAL = (
    "error: expected a data-only modelphase artifact (format 2), got a pickle; pickles are "
    "never loaded because loading one runs code. Fix: retrain with this version "
    "(`modelphase train SPEC`)"
)


@dataclass
class Home:
    home: Path
    viewer: str
    trainer: str

    def registry(self, token: str | None = None) -> Registry:
        url = f"sqlite:///{self.home / 'registry.db'}"
        return Registry(url, artifacts=self.home / "artifacts", token=token)

    def register(self, name: str, data: bytes) -> int:
        """Register ``data`` as a forecaster, as the trainer does."""
        with self.registry(self.trainer) as reg:
            version = reg.register(
                name, data, flavor="modelphase.forecast", model_class="TrainedForecaster"
            )
        return version.version


@pytest.fixture
def shared(home: Path) -> Home:
    """A registry in the home folder with a trainer's and a viewer's tokens."""
    home.mkdir(parents=True)
    with Registry(f"sqlite:///{home / 'registry.db'}", artifacts=home / "artifacts") as reg:
        _, trainer = reg.create_token("ci", "trainer")
        _, viewer = reg.create_token("dashboard", "viewer")
    return Home(home, viewer, trainer)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def series_csv(path: Path) -> Path:
    ds = pd.date_range("2026-01-01", periods=72, freq="h", tz="UTC")
    frame = pd.DataFrame({"unique_id": "a", "ds": ds.strftime("%Y-%m-%dT%H:%M:%SZ"), "y": 1.0})
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "payload", ["os.system, protocol 5", "subprocess.Popen", "BUILD opcode", "builtins.eval"]
)
def test_a_viewer_forecasting_with_a_hostile_pickle_runs_nothing(
    shared: Home, cli: RunCli, tmp_path: Path, payload: str
) -> None:
    marker = tmp_path / "marker"
    data = pickles(marker)[payload]
    version = shared.register("evil", data)
    with shared.registry(shared.viewer) as reg:
        assert reg.verify("evil") == []  # the hash is intact: integrity is not trust
        assert reg.load_artifact("evil", version) == data
    out = tmp_path / "out.csv"
    by_version = cli("forecast", "--model", "evil@1", "-o", str(out), "--token", shared.viewer)
    assert by_version.code == 1
    assert one_line(by_version.stderr) == PICKLE_REFUSAL
    refit = cli(
        "forecast", "--model", "evil@v1", "--input", str(series_csv(tmp_path / "in.csv")),
        "-o", str(out), "--token", shared.viewer,
    )  # fmt: skip
    assert refit.code == 1
    assert one_line(refit.stderr) == PICKLE_REFUSAL
    assert not out.exists()
    assert not marker.exists()


def test_an_alias_to_a_hostile_pickle_is_refused_in_a_fresh_interpreter(
    shared: Home, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    shared.register("evil", pickles(marker)["os.system, protocol 2"])
    with shared.registry() as reg:
        reg.promote("evil", 1, "production")
    env = {**os.environ, "MODELPHASE_HOME": str(shared.home), "MODELPHASE_TOKEN": shared.viewer}
    done = subprocess.run(
        [sys.executable, "-m", "modelphase", "forecast", "--model", "evil@production",
         "-o", str(tmp_path / "out.csv")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert one_line(done.stderr) == PICKLE_REFUSAL
    assert not marker.exists()


def test_a_data_only_artifact_naming_os_system_is_refused(
    shared: Home, cli: RunCli, tmp_path: Path
) -> None:
    manifest, arrays = unpack(sample_forecaster().to_bytes())
    manifest["models"][0] = {"class": "os.system", "params": {"command": "touch marker"}}
    shared.register("evil", pack(manifest, arrays))
    out = tmp_path / "out.csv"
    result = cli("forecast", "--model", "evil@1", "-o", str(out), "--token", shared.viewer)
    assert result.code == 1
    line = one_line(result.stderr)
    assert line.startswith("error: models.0: expected a class from the allow-list (AutoARIMA")
    assert line.endswith("got 'os.system'; an artifact can name no other. Fix: retrain with "
                         "this version (`modelphase train SPEC`)")  # fmt: skip
    assert not out.exists()


def test_a_genuine_data_only_artifact_forecasts(shared: Home, cli: RunCli, tmp_path: Path) -> None:
    shared.register("sample", sample_forecaster().to_bytes())
    out = tmp_path / "out.csv"
    result = cli("forecast", "--model", "sample@1", "-o", str(out), "--token", shared.viewer)
    assert result.code == 0, result.stderr
    table = pd.read_csv(out)
    assert table.groupby("unique_id").size().to_dict() == {"a": 4, "b": 4}
    assert table["yhat"].tolist() == list(map(float, range(8)))
