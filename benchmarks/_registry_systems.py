"""The registries measured by ``benchmarks/registry.py``, behind one small interface.

A :class:`Spec` says how to open a registry (picklable, so a worker process can open
its own); :func:`open_system` turns it into an object with ``register(path)``,
``promote(version)``, ``load()``, ``versions()`` and ``close()``. Both systems register
a file that is already on disk, so neither is charged for writing it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

MODEL_FILE = "model.bin"
ALIAS = "production"


@dataclass(frozen=True)
class Spec:
    """How to open one registry: modelphase at ``url``, or MLflow on a SQLite URI."""

    kind: Literal["modelphase", "mlflow"]
    url: str
    artifacts: str
    name: str
    token: str | None = None
    experiment_id: str = ""


def quiet_mlflow() -> None:
    """No telemetry, progress bars, INFO logs or warnings from MLflow in this process."""
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    import mlflow  # noqa: F401  (it sets its loggers to INFO when imported)

    for logger in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    warnings.simplefilter("ignore")


class Modelphase:
    def __init__(self, spec: Spec) -> None:
        from modelphase.registry import Registry

        self.name = spec.name
        self.reg = Registry(spec.url, artifacts=spec.artifacts, token=spec.token)

    def register(self, path: Path) -> int:
        return self.reg.register(self.name, path).version

    def promote(self, version: int) -> None:
        self.reg.promote(self.name, version, ALIAS, expect=None)

    def load(self) -> bytes:
        return self.reg.load_artifact(self.name, alias=ALIAS)

    def versions(self) -> list[int]:
        return [v.version for v in self.reg.versions(self.name)]

    def ping(self) -> None:
        self.reg.models()

    def close(self) -> None:
        self.reg.close()


class Mlflow:
    """MLflow's client on a SQLite tracking and registry store, artifacts in a folder."""

    def __init__(self, spec: Spec, download_dir: Path) -> None:
        quiet_mlflow()
        from mlflow import MlflowClient

        self.spec = spec
        self.name = spec.name
        self.client = MlflowClient(tracking_uri=spec.url, registry_uri=spec.url)
        self.download_dir = download_dir

    @staticmethod
    def create(url: str, artifacts: Path, names: list[str]) -> str:
        """Create the tables, an experiment and the registered models; its id."""
        quiet_mlflow()
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=url, registry_uri=url)
        experiment_id = client.create_experiment("benchmark", artifact_location=artifacts.as_uri())
        for name in names:
            client.create_registered_model(name)
        return str(experiment_id)

    def register(self, path: Path) -> int:
        run = self.client.create_run(self.spec.experiment_id)
        self.client.log_artifact(run.info.run_id, str(path), artifact_path="model")
        version = self.client.create_model_version(
            self.name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
        while version.status != "READY":  # READY at once on a local store
            time.sleep(0.001)
            version = self.client.get_model_version(self.name, version.version)
        return int(version.version)

    def promote(self, version: int) -> None:
        self.client.set_registered_model_alias(self.name, ALIAS, str(version))

    def load(self) -> bytes:
        from mlflow.artifacts import download_artifacts

        version = self.client.get_model_version_by_alias(self.name, ALIAS)
        local = download_artifacts(
            artifact_uri=f"{version.source}/{MODEL_FILE}", dst_path=str(self.download_dir)
        )
        return Path(local).read_bytes()

    def versions(self) -> list[int]:
        found: list[int] = []
        token = None
        while True:
            page = self.client.search_model_versions(
                f"name='{self.name}'", max_results=1000, page_token=token
            )
            found += [int(v.version) for v in page]
            token = page.token
            if not token:
                return found

    def ping(self) -> None:
        self.client.get_registered_model(self.name)

    def close(self) -> None:
        pass


def open_system(spec: Spec, workdir: Path) -> Modelphase | Mlflow:
    if spec.kind == "modelphase":
        return Modelphase(spec)
    return Mlflow(spec, workdir / "download")


def concurrent_worker(
    spec: Spec, workdir: Path, seconds: float, size: int, barrier: Any, results: Any
) -> None:
    """Register ``size``-byte random artifacts for ``seconds``, after every worker is
    ready; put the versions it got, its failures and its start and end on ``results``."""
    if spec.kind == "mlflow":
        quiet_mlflow()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / MODEL_FILE
    try:
        system = open_system(spec, workdir)
        system.ping()  # connects (and checks the schema) before the clock starts
    except Exception as exc:
        barrier.abort()
        results.put({"setup_error": _describe(exc)})
        return
    got: list[int] = []
    errors: Counter[str] = Counter()
    try:
        barrier.wait(timeout=300)
    except threading.BrokenBarrierError:
        system.close()
        results.put({"setup_error": "another worker failed to start"})
        return
    start = time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        path.write_bytes(os.urandom(size))
        try:
            got.append(system.register(path))
        except Exception as exc:
            errors[_describe(exc)] += 1
    end = time.monotonic()
    system.close()
    results.put({"versions": got, "errors": dict(errors), "start": start, "end": end})


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text[:140]}"
