"""No request makes the registry API fail: schemathesis generates requests (valid and
invalid) from the API's own OpenAPI and sends them, with an admin's token, to a live
server over a registry of its own; every answer is a documented one, never a 500."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.config import SchemathesisConfig

from modelphase.config import get_settings
from modelphase.registry import Registry
from modelphase.serve.registry_api import RegistryAPIConfig, create_registry_app


@dataclass
class Fuzzed:
    url: str
    admin: str


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """One server for every generated request, over a registry holding model m."""
    folder: Path = tmp_path_factory.mktemp("registry-fuzz")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MODELPHASE_HOME", str(folder / "home"))
        for name in ("REGISTRY_URL", "ARTIFACTS_URL", "TOKEN", "TOKEN_FILE"):
            env.delenv(f"MODELPHASE_{name}", raising=False)
        get_settings.cache_clear()
        url = f"sqlite:///{folder / 'registry.db'}"
        _, admin = Registry.bootstrap_admin(url, "root")
        with Registry(url, artifacts=folder / "artifacts", database_admin=True) as reg:
            reg.register("m", b"one", params={"k": 1}, dataset_id="5b708b085f0d6edb")
            reg.register("m", b"two")
            reg.promote("m", 1, "production")
            app = create_registry_app(reg, RegistryAPIConfig(max_artifact=4096))
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
            thread.start()
            base = f"http://127.0.0.1:{sock.getsockname()[1]}"
            deadline = time.monotonic() + 30.0
            while not _healthy(base):
                assert time.monotonic() < deadline, "the registry API did not start"
                time.sleep(0.05)
            try:
                yield Fuzzed(base, admin)
            finally:
                server.should_exit = True
                thread.join(timeout=30.0)
                sock.close()
    get_settings.cache_clear()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def api(fuzzed: Fuzzed) -> Any:
    config = SchemathesisConfig.from_dict({"generation": {"mode": "all"}})
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_no_request_is_a_server_error(case: Any, fuzzed: Fuzzed) -> None:
    if case.path_parameters and "name" in case.path_parameters and case.method == "GET":
        case.path_parameters["name"] = "m"  # a model that exists, not only 404s
    case.call_and_validate(
        headers={"authorization": f"Bearer {fuzzed.admin}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
