"""The registry's HTTP API and its client, on SQLite and on a real PostgreSQL: a caller
with only a token and the API's URL gets exactly what its role allows, and nothing that
reaches around the server (the finding: a trainer with the database URL made itself
admin).

Every test starts its own server (uvicorn on a loopback socket, in a thread, or the
real ``modelphase registry serve``) over its own database and artifact folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
import uvicorn

from modelphase import exceptions
from modelphase.config import get_settings
from modelphase.exceptions import (
    AccessError,
    AliasConflictError,
    AuthenticationError,
    GateFailedError,
    IntegrityError,
    ModelNotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RegistryUnavailableError,
    ValidationError,
)
from modelphase.registry import (
    TOKEN_CHECK_SECONDS,
    Registry,
    RemoteRegistry,
    open_registry,
)
from modelphase.serve.registry_api import (
    RegistryAPIConfig,
    create_registry_app,
    uvicorn_options,
)
from support.cli import RunCli
from support.net import free_port

ROUTES = {
    "/healthz": {"get"},
    "/v1/registry/whoami": {"get"},
    "/v1/registry/models": {"get"},
    "/v1/registry/models/{name}": {"get"},
    "/v1/registry/models/{name}/versions": {"get", "post"},
    "/v1/registry/models/{name}/artifact": {"get"},
    "/v1/registry/artifacts/{sha256}": {"put"},
    "/v1/registry/models/{name}/aliases/{alias}/promote": {"post"},
    "/v1/registry/models/{name}/aliases/{alias}/rollback": {"post"},
    "/v1/registry/models/{name}/history": {"get"},
    "/v1/registry/models/{name}/live": {"get"},
    "/v1/registry/models/{name}/diff": {"get"},
    "/v1/registry/datasets/{dataset_id}/versions": {"get"},
    "/v1/registry/verify": {"get"},
    "/v1/registry/tokens": {"get", "post"},
    "/v1/registry/tokens/{token_id}/revoke": {"post"},
}
MAX_ARTIFACT = 64 * 1024
MAX_METADATA = 16 * 1024
TABLES = ("models", "model_versions", "aliases", "alias_events", "tokens")
#: how long any condition may take to come true before the test fails (generous)
PATIENCE = 30.0


def wait_for(check: Callable[[], Any], *, what: str, timeout: float = PATIENCE) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Api:
    """A running registry API, its database and artifact store, and one token per role."""

    url: str
    db_url: str
    artifacts: Path
    tokens: dict[str, str]
    files: Path

    def remote(self, role: str, **options: Any) -> RemoteRegistry:
        return RemoteRegistry(self.url, token=self.tokens[role], **options)

    def http(self, role: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=PATIENCE)

    def token_file(self, role: str) -> Path:
        path = self.files / f"{role}.token"
        path.write_text(self.tokens[role] + "\n")
        path.chmod(0o600)
        return path

    def state(self) -> dict[str, Any]:
        """Every row of every table, and every blob of the store."""
        engine = sa.create_engine(self.db_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                rows = {
                    t: sorted(map(tuple, conn.execute(sa.text(f"SELECT * FROM {t}"))), key=repr)
                    for t in TABLES
                }
        finally:
            engine.dispose()
        blobs = sorted(p.name for p in self.artifacts.rglob("*") if p.is_file())
        return {"tables": rows, "blobs": blobs}


class _Server:
    """uvicorn serving ``app`` in a thread, on a socket bound to loopback."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", **options
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> _Server:
        self.thread.start()
        wait_for(lambda: _healthy(self.url), what="the registry API to answer /healthz")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=PATIENCE)
        assert not self.thread.is_alive(), "the server did not stop"
        self.sock.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


StartApi = Callable[..., Api]


@pytest.fixture
def start_api(
    registry_url: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StartApi]:
    """``start_api(**RegistryAPIConfig options, monotonic=...)``: the API over this
    test's registry (SQLite or PostgreSQL), with an admin, a deployer, a trainer and a
    viewer token. The test process keeps no token in its environment."""
    admin = os.environ.get("MODELPHASE_TOKEN")  # PostgreSQL's fixture made one
    if admin is None:
        _, admin = Registry.bootstrap_admin(registry_url, "root")
    monkeypatch.delenv("MODELPHASE_TOKEN", raising=False)
    get_settings.cache_clear()
    artifacts = tmp_path / "server-artifacts"
    files = tmp_path / "files"
    files.mkdir()
    with contextlib.ExitStack() as stack:

        def start(monotonic: Callable[[], float] = time.monotonic, **options: Any) -> Api:
            options = {"max_artifact": MAX_ARTIFACT, "max_metadata": MAX_METADATA, **options}
            reg = stack.enter_context(
                Registry(registry_url, artifacts=artifacts, database_admin=True)
            )
            config = RegistryAPIConfig(**options)
            app = create_registry_app(reg, config, monotonic=monotonic)
            server = stack.enter_context(_Server(app, **uvicorn_options(config)))
            tokens = {"admin": admin}
            with RemoteRegistry(server.url, token=admin) as root:
                for role in ("deployer", "trainer", "viewer"):
                    tokens[role] = root.create_token(f"ci-{role}", role)[1]
            return Api(server.url, registry_url, artifacts, tokens, files)

        yield start


@pytest.fixture
def api(start_api: StartApi) -> Api:
    return start_api()


def _refusal(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert set(body) == {"error", "detail", "data"}
    return body


# --------------------------------------------------------------------------- roles


def test_a_trainer_registers_but_may_not_promote_nor_manage_tokens(api: Api) -> None:
    with api.remote("trainer") as trainer:
        assert trainer.principal.role.label == "trainer"
        v1 = trainer.register("latency", b"model one", params={"season_length": 24})
        assert (v1.version, v1.created_by) == (1, "ci-trainer")
        assert v1.created_by_token == trainer.principal.token_id
        assert v1.artifact_digest == hashlib.sha256(b"model one").hexdigest()
        assert trainer.load_artifact("latency", 1) == b"model one"
        before = api.state()
        with pytest.raises(PermissionDeniedError, match="needs the deployer role") as denied:
            trainer.promote("latency", 1, "production")
        assert (denied.value.needed, denied.value.actual) == ("deployer", "trainer")
        with pytest.raises(PermissionDeniedError, match="needs the admin role"):
            trainer.create_token("me", "admin")
        with pytest.raises(PermissionDeniedError, match="needs the admin role"):
            trainer.tokens()
        with pytest.raises(PermissionDeniedError):
            trainer.revoke_token("0123456789ab")
        assert api.state() == before, "a refused request changes nothing"
    with api.http("trainer") as http:
        promote = {"version": 1}
        _refusal(
            http.post("/v1/registry/models/latency/aliases/production/promote", json=promote),
            403,
            "PermissionDeniedError",
        )
        made = http.post("/v1/registry/tokens", json={"name": "me", "role": "admin"})
        _refusal(made, 403, "PermissionDeniedError")
    with api.remote("viewer") as viewer:
        with pytest.raises(PermissionDeniedError, match="needs the trainer role"):
            viewer.register("latency", b"model two")
        assert [v.version for v in viewer.versions("latency")] == [1]


def test_a_trainer_with_only_a_token_and_the_url_has_no_database_credentials(
    api: Api, tmp_path: Path
) -> None:
    """The trainer runs the real CLI in a process whose environment is the API's URL
    and a token file, nothing else of modelphase: it registers, and every higher
    action is refused by the server."""
    trainer_home = tmp_path / "trainer"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(trainer_home),
        "MODELPHASE_HOME": str(trainer_home / "mp"),
        "MODELPHASE_REGISTRY_URL": api.url,
        "MODELPHASE_TOKEN_FILE": str(api.token_file("trainer")),
    }
    secrets_of_the_server = {api.db_url, str(api.artifacts), "postgresql", "sqlite"}
    for value in env.values():
        assert not any(s in value for s in secrets_of_the_server), value
    model = tmp_path / "model.bin"
    model.write_bytes(b"trained elsewhere")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelphase", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    registered = run("models", "register", "m", "--artifact", str(model))
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.strip().splitlines()[-1] == "1"
    promoted = run("models", "promote", "m", "--version", "1", "--alias", "production")
    assert promoted.returncode == 1
    assert "needs the deployer role; ci-trainer is trainer" in promoted.stderr
    made = run("tokens", "create", "--name", "me", "--role", "admin")
    assert made.returncode == 1
    assert "managing tokens needs the admin role" in made.stderr
    with Registry(api.db_url, artifacts=api.artifacts, database_admin=True) as db:
        assert db.live("m") == {}, "the alias never moved"
        assert [t.role for t in db.tokens()].count("admin") == 1
        assert db.get("m", 1).created_by == "ci-trainer"
    assert not (trainer_home / "mp" / "registry.db").exists(), "no database of its own"
    # and the API offers nothing but the registry's operations: no SQL, no URL, no files
    paths = httpx.get(f"{api.url}/openapi.json", timeout=PATIENCE).json()["paths"]
    assert {p: set(ops) for p, ops in paths.items()} == ROUTES


def test_a_deployer_promotes_and_rolls_back(api: Api) -> None:
    with api.remote("trainer") as trainer:
        for content in (b"one", b"two"):
            trainer.register("m", content)
        failed = trainer.register("m", b"three", gates=[{"name": "mase", "passed": False}])
    with api.remote("deployer") as deployer:
        first = deployer.promote("m", 1, "production", expect=None, reason="first")
        assert (first.from_version, first.to_version, first.actor) == (None, 1, "ci-deployer")
        assert first.actor_token == deployer.principal.token_id
        with pytest.raises(AliasConflictError, match="holds version 1, not nothing") as stale:
            deployer.promote("m", 2, "production", expect=None)
        assert (stale.value.alias, stale.value.expected, stale.value.actual) == (
            "production",
            None,
            1,
        )
        moved = deployer.promote("m", 2, "production", expect=1)
        assert (moved.from_version, moved.to_version) == (1, 2)
        with pytest.raises(GateFailedError, match="failed its gates") as gate:
            deployer.promote("m", failed.version, "production")
        assert gate.value.gates == ["mase"]
        with pytest.raises(PermissionDeniedError, match="needs the admin role"):
            deployer.promote("m", failed.version, "production", force=True)
        back = deployer.rollback("m", reason="bad deploy")
        assert (back.action, back.from_version, back.to_version) == ("rollback", 2, 1)
        assert deployer.live("m") == {"production": 1}
        assert deployer.live("m", at=_parse(first.at)) == {"production": 1}
        events = deployer.history("m", "production")
        assert [(e.action, e.to_version) for e in events] == [
            ("promote", 1),
            ("promote", 2),
            ("rollback", 1),
        ]
        assert {e.actor_token for e in events} == {deployer.principal.token_id}
        with pytest.raises(ModelNotFoundError, match="no model 'nope'"):
            deployer.rollback("nope")
        with pytest.raises(ValidationError, match="expected an alias"):
            deployer.promote("m", 1, "Not An Alias")
        with pytest.raises(PermissionDeniedError):
            deployer.create_token("x", "viewer")
    with api.remote("admin") as admin:
        forced = admin.promote("m", failed.version, "canary", force=True, reason="audited")
        assert forced.forced


def test_an_admin_creates_lists_and_revokes_tokens(api: Api) -> None:
    with api.remote("admin") as admin:
        info, secret = admin.create_token("dashboard", "viewer")
        assert secret.startswith("mp_")
        listed = {t.id: t for t in admin.tokens()}
        assert listed[info.id].role == "viewer"
        assert listed[info.id].created_by == admin.principal.name
        with RemoteRegistry(api.url, token=secret) as dashboard:
            assert dashboard.principal.name == "dashboard"
        revoked = admin.revoke_token(info.id)
        assert revoked.revoked_at is not None
        with pytest.raises(ModelNotFoundError, match="no token 'ffffffffffff'"):
            admin.revoke_token("ffffffffffff")
        with pytest.raises(AccessError, match="last live admin token"):
            admin.revoke_token(admin.principal.token_id or "")
        with pytest.raises(ValidationError, match="expected a role"):
            admin.create_token("x", "superuser")
    with api.http("admin") as http:
        made = http.post("/v1/registry/tokens", json={"name": "ci", "role": "trainer"})
        assert made.status_code == 201
        assert made.headers["cache-control"] == "no-store"
        assert set(made.json()) == {"token", "secret"}
        assert all("secret" not in t for t in http.get("/v1/registry/tokens").json())


# ------------------------------------------------------------------ tokens, 401


def test_a_revoked_token_stops_working_in_an_open_session(api: Api) -> None:
    with api.remote("viewer") as viewer, api.remote("admin") as admin:
        assert viewer.models() == []
        token_id = viewer.principal.token_id
        assert token_id is not None
        admin.revoke_token(token_id)

        def refused() -> bool:
            try:
                viewer.models()
            except AuthenticationError:
                return True
            return False

        wait_for(refused, what="the revoked token to be refused")
        with pytest.raises(AuthenticationError):
            viewer.get("m")


def test_a_token_check_is_trusted_for_at_most_token_check_seconds(
    start_api: StartApi,
) -> None:
    """The server's cache of token checks, on a clock the test moves: a revocation is
    seen once the last check of that token is TOKEN_CHECK_SECONDS old."""
    clock = ManualClock()
    api = start_api(monotonic=clock)
    with api.http("viewer") as viewer, api.remote("admin") as admin:
        assert viewer.get("/v1/registry/models").status_code == 200
        me = viewer.get("/v1/registry/whoami").json()
        admin.revoke_token(me["token_id"])
        clock.now += TOKEN_CHECK_SECONDS / 2
        assert viewer.get("/v1/registry/models").status_code == 200, "still trusted"
        clock.now += TOKEN_CHECK_SECONDS / 2
        _refusal(viewer.get("/v1/registry/models"), 401, "AuthenticationError")


def test_the_401_says_nothing_about_the_token(api: Api) -> None:
    with api.remote("admin") as admin:
        info, revoked = admin.create_token("old", "viewer")
        admin.revoke_token(info.id)
    sent = {
        "absent": {},
        "not bearer": {"authorization": f"Basic {api.tokens['viewer']}"},
        "empty": {"authorization": "Bearer"},
        "malformed": {"authorization": "Bearer hunter2"},
        "unknown": {"authorization": "Bearer mp_" + "x" * 43},
        "revoked": {"authorization": f"Bearer {revoked}"},
    }
    bodies = []
    for case, headers in sent.items():
        answer = httpx.get(f"{api.url}/v1/registry/models", headers=headers, timeout=PATIENCE)
        body = _refusal(answer, 401, "AuthenticationError")
        assert answer.headers["www-authenticate"].startswith("Bearer"), case
        for secret in (revoked, "hunter2", "x" * 43, info.id, "old", "revoked", "unknown"):
            assert secret not in answer.text, (case, secret)
        bodies.append(body)
    assert all(b == bodies[0] for b in bodies), "one answer for every case"
    assert bodies[0]["data"] == {}
    with pytest.raises(AuthenticationError) as raised:
        RemoteRegistry(api.url, token=revoked)
    assert revoked not in str(raised.value)
    with pytest.raises(AuthenticationError, match="needs a token"):
        RemoteRegistry(api.url, token=None)


# ----------------------------------------------------------------------- limits


def test_an_oversized_upload_is_refused_and_nothing_is_stored(api: Api) -> None:
    big = os.urandom(MAX_ARTIFACT + 1)
    digest = hashlib.sha256(big).hexdigest()
    before = api.state()
    with api.http("trainer") as http:
        announced = http.put(f"/v1/registry/artifacts/{digest}", content=big)
        body = _refusal(announced, 413, "PayloadTooLargeError")
        assert body["data"] == {"limit": MAX_ARTIFACT, "size": MAX_ARTIFACT + 1}

        def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts
            for start in range(0, len(big), 8192):
                yield big[start : start + 8192]

        streamed = http.put(f"/v1/registry/artifacts/{digest}", content=chunks())
        assert "content-length" not in streamed.request.headers
        _refusal(streamed, 413, "PayloadTooLargeError")
        metadata = {"artifact_digest": "0" * 64, "params": {"blob": "x" * MAX_METADATA}}
        _refusal(http.post("/v1/registry/models/m/versions", json=metadata), 413,
                 "PayloadTooLargeError")  # fmt: skip
    with api.remote("trainer") as trainer:
        with pytest.raises(PayloadTooLargeError, match=f"at most {MAX_ARTIFACT:,} bytes") as exc:
            trainer.register("m", big)
        assert exc.value.limit == MAX_ARTIFACT
    assert api.state() == before, "nothing stored: no blob, no row"
    with api.http() as anonymous:  # an unauthenticated upload is refused before its body
        _refusal(anonymous.put(f"/v1/registry/artifacts/{digest}", content=b"x"), 401,
                 "AuthenticationError")  # fmt: skip


def test_slow_headers_and_slow_bodies_are_cut_off(start_api: StartApi) -> None:
    """A client that never finishes its headers, or its body, gets a 408 and loses the
    connection (the server's own deadlines; the test only waits for its answer)."""
    api = start_api(header_timeout=0.5, body_timeout=0.5)
    port = int(api.url.rsplit(":", 1)[1])
    started = {
        "headers": b"GET /v1/registry/models HTTP/1.1\r\nHost: registry\r\n",
        "body": (
            b"POST /v1/registry/tokens HTTP/1.1\r\nHost: registry\r\n"
            b"Authorization: Bearer " + api.tokens["admin"].encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        ),
    }
    before = api.state()
    for what, sent in started.items():
        with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as conn:
            conn.sendall(sent)
            answer = b""
            while chunk := conn.recv(65536):  # until the server closes the connection
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), (what, answer)
    assert api.state() == before, "nothing half-made"


def test_a_wrong_digest_is_refused(api: Api) -> None:
    before = api.state()
    claimed = hashlib.sha256(b"the real model").hexdigest()
    with api.http("trainer") as http:
        wrong = http.put(f"/v1/registry/artifacts/{claimed}", content=b"something else")
        body = _refusal(wrong, 422, "IntegrityError")
        assert body["data"]["expected"] == claimed
        assert body["data"]["actual"] == hashlib.sha256(b"something else").hexdigest()
        _refusal(http.put("/v1/registry/artifacts/not-a-digest", content=b"x"), 422,
                 "ValidationError")  # fmt: skip
        never = {"artifact_digest": claimed}
        missing = http.post("/v1/registry/models/m/versions", json=never)
        assert "has been uploaded" in _refusal(missing, 422, "IntegrityError")["detail"]
        _refusal(http.post("/v1/registry/models/m/versions", json={"nope": 1}), 422,
                 "ValidationError")  # fmt: skip
    assert api.state() == before


def test_what_the_database_cannot_hold_is_refused_at_the_edge(api: Api) -> None:
    """Numbers past the version column and NUL characters (which PostgreSQL refuses)
    are a 422 naming the field, never a database error."""
    with api.remote("trainer") as trainer:
        trainer.register("m", b"one")
    before = api.state()
    with api.http("admin") as http:
        for path, body, field in (
            ("/v1/registry/models/m/aliases/production/promote", {"version": 2**40},
             "version"),
            ("/v1/registry/models/m/aliases/production/promote",
             {"version": 1, "reason": "a\x00b"}, "reason"),
            ("/v1/registry/models/m/aliases/production/rollback", {"reason": "\x00"},
             "reason"),
            ("/v1/registry/tokens", {"name": "ci\x00", "role": "viewer"}, "name"),
        ):  # fmt: skip
            refused = _refusal(http.post(path, json=body), 422, "ValidationError")
            assert [p["loc"][-1] for p in refused["data"]["problems"]] == [field], refused
        huge = http.get("/v1/registry/models/m", params={"version": 2**40})
        _refusal(huge, 422, "ValidationError")
    assert api.state() == before


def test_downloads_are_verified_by_sha256(api: Api) -> None:
    with api.remote("trainer") as trainer:
        trainer.register("m", b"the real model")

    class Tamper(httpx.BaseTransport):
        """Flips a byte of every artifact on its way to the client."""

        def __init__(self) -> None:
            self.inner = httpx.HTTPTransport()

        def close(self) -> None:
            self.inner.close()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = self.inner.handle_request(request)
            if not request.url.path.endswith("/artifact"):
                return response
            data = bytearray(response.read())
            response.close()
            data[0] ^= 1
            return httpx.Response(
                response.status_code, headers=response.headers, content=bytes(data)
            )

    with api.remote("viewer", transport=Tamper()) as viewer:
        assert viewer.get("m").version == 1, "metadata passes through"
        with pytest.raises(IntegrityError, match="fails its sha256 check") as bad:
            viewer.load_artifact("m", 1)
        assert bad.value.expected == hashlib.sha256(b"the real model").hexdigest()
    with api.remote("viewer") as viewer:
        assert viewer.load_artifact("m") == b"the real model"


def test_the_client_answers_as_the_registry_does(api: Api) -> None:
    """Every read through the API equals the same read on the database."""
    with api.remote("trainer") as trainer:
        a1 = trainer.register(
            "a", b"one", params={"k": 1}, dataset_id="5b708b085f0d6edb", owners=["sre"],
            metrics={"mase": 0.8}, tags={"team": "sre"}, canary_plan={"steps": [10, 100]},
            spec={"name": "a"}, code_version="test", git_commit="f" * 40,
            gates=[{"name": "g", "passed": True}],
        )  # fmt: skip
        trainer.register("a", b"two", params={"k": 2})
        trainer.register("b", b"one")
        with pytest.raises(ValidationError, match="expected a model name"):
            trainer.register("no/slashes", b"x")
        with pytest.raises(ValidationError, match="plain JSON"):
            trainer.register("a", b"x", metrics={"nan": float("nan")})
    with api.remote("deployer") as deployer:
        deployer.promote("a", 1, "production")
    with (
        api.remote("viewer") as remote,
        Registry(api.db_url, artifacts=api.artifacts, database_admin=True) as local,
    ):
        assert remote.get("a", 1) == local.get("a", 1) == a1
        assert remote.get("a") == local.get("a")
        assert remote.get("a", alias="production") == local.get("a", alias="production")
        assert remote.versions("a") == local.versions("a")
        assert remote.models() == local.models()
        assert remote.history("a") == local.history("a")
        assert remote.live("a") == local.live("a") == {"production": 1}
        assert remote.diff("a", 1, 2) == local.diff("a", 1, 2)
        assert remote.trained_on("5b708b085f0d6edb") == local.trained_on("5b708b085f0d6edb")
        assert remote.trained_on("../../tokens") == []
        assert remote.verify() == local.verify() == []
        assert remote.load_artifact("a", alias="production") == b"one"
        for call in (
            lambda r: r.get("a", 9),
            lambda r: r.get("zz"),
            lambda r: r.get("a", alias="canary"),
            lambda r: r.versions("../tokens"),
        ):
            with pytest.raises(ModelNotFoundError) as here:
                call(local)
            with pytest.raises(ModelNotFoundError) as there:
                call(remote)
            assert str(there.value) == str(here.value)
            assert (there.value.name, there.value.version) == (here.value.name, here.value.version)


def test_a_database_that_cannot_answer_is_a_503_that_names_nothing(
    start_api: StartApi, registry_url: str
) -> None:
    if registry_url.startswith("sqlite"):
        pytest.skip("a SQLite file cannot go away under an open server in a portable way")
    api = start_api()
    with api.remote("viewer") as viewer:
        name = sa.engine.make_url(registry_url).database
        engine = sa.create_engine(registry_url.rsplit("/", 1)[0] + "/postgres")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        engine.dispose()
        answer = httpx.get(
            f"{api.url}/v1/registry/models",
            headers={"authorization": f"Bearer {api.tokens['viewer']}"},
            timeout=PATIENCE,
        )
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert issubclass(getattr(exceptions, body["error"]), RegistryUnavailableError)
        assert answer.headers["retry-after"]
        for secret in (str(name), "127.0.0.1", "postgres"):
            assert secret not in body["detail"]
        with pytest.raises(RegistryUnavailableError, match="cannot answer now"):
            viewer.models()


# -------------------------------------------------------------------------- CLI


def test_the_cli_end_to_end_through_the_api(
    api: Api, cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPHASE_REGISTRY_URL", api.url)

    def as_(role: str, *args: str) -> Any:
        monkeypatch.setenv("MODELPHASE_TOKEN_FILE", str(api.token_file(role)))
        result = cli(*args)
        assert result.code == 0, result.stderr
        return result

    model = api.files / "model.bin"
    model.write_bytes(b"cli model")
    registered = as_("trainer", "models", "register", "web", "--artifact", str(model))
    assert registered.last_line == "1"
    listed = json.loads(as_("viewer", "models", "list", "--json").stdout)
    assert [(m["name"], m["latest_version"]) for m in listed] == [("web", 1)]
    with RemoteRegistry(api.url, token=api.tokens["trainer"]) as trainer:
        trainer_id = trainer.principal.token_id
    with RemoteRegistry(api.url, token=api.tokens["deployer"]) as deployer:
        deployer_id = deployer.principal.token_id
    assert trainer_id is not None
    assert deployer_id is not None
    shown = as_("viewer", "models", "show", "web").stdout
    assert trainer_id in shown, "show names the token that registered the version"
    assert (
        json.loads(as_("viewer", "models", "show", "web", "--json").stdout)["version"][
            "created_by_token"
        ]
        == trainer_id
    )
    moved = as_("deployer", "models", "promote", "web", "-v", "1", "-a", "production")
    assert "web@production: - -> 1 by ci-deployer" in moved.stderr
    history = as_("viewer", "models", "history", "web")
    assert deployer_id in history.stdout, "history names the token that moved the alias"
    refused = cli("models", "promote", "web", "-v", "1", "-a", "canary")  # still the viewer
    assert refused.code == 1
    assert refused.stderr.startswith("error: moving an alias needs the deployer role")

    made = as_("admin", "tokens", "create", "--name", "grafana", "--role", "viewer")
    secret = made.last_line
    assert secret.startswith("mp_")
    listed_tokens = json.loads(as_("admin", "tokens", "list", "--json").stdout)
    grafana = next(t for t in listed_tokens if t["name"] == "grafana")
    assert secret not in as_("admin", "tokens", "list").stdout
    as_("admin", "tokens", "revoke", grafana["id"])
    monkeypatch.delenv("MODELPHASE_TOKEN_FILE")
    with_secret = cli("models", "--token", secret, "list")
    assert with_secret.code == 1
    assert "no valid token" in with_secret.stderr
    assert secret not in with_secret.stderr
    file_flag = cli("models", "--token-file", str(api.token_file("viewer")), "list", "--json")
    assert file_flag.code == 0, file_flag.stderr
    boot = cli("tokens", "bootstrap", "--name", "ops")
    assert boot.code == 1
    assert "run `modelphase tokens bootstrap` where the database's credentials are" in (boot.stderr)


@pytest.fixture(scope="module")
def trained() -> Any:
    """A small training run of the hourly forecaster (made once: about a second)."""
    from modelphase.spec import parse_spec
    from modelphase.train import train
    from test_train import SPEC, make_panel

    run = train(parse_spec(SPEC), make_panel(n=2, days=12), n_jobs=1)
    assert run.passed, run.gates
    return run


def _register_and_promote(api: Api, run: Any) -> int:
    """The trainer registers the run through the API; the deployer promotes it."""
    from modelphase.train import register_run

    with api.remote("trainer") as trainer:
        version = register_run(run, trainer)
    with api.remote("deployer") as deployer:
        deployer.promote("web-load", version.version, "production")
    return version.version


def test_forecast_with_a_model_registered_through_the_api(
    api: Api, trained: Any, cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`modelphase forecast --model NAME@production` reads the model through the API,
    as a viewer with a token file."""
    _register_and_promote(api, trained)
    monkeypatch.setenv("MODELPHASE_REGISTRY_URL", api.url)
    monkeypatch.setenv("MODELPHASE_TOKEN_FILE", str(api.token_file("viewer")))
    out = tmp_path / "fc.csv"
    done = cli("forecast", "--model", "web-load@production", "--h", "6", "-o", str(out))
    assert done.code == 0, done.stderr
    table = pd.read_csv(out)
    assert len(table) == 6 * 2
    assert table["yhat"].notna().all()
    assert set(table["unique_id"]) == set(trained.panel.ids)


def test_the_model_server_serves_from_the_api(api: Api, trained: Any, tmp_path: Path) -> None:
    """`modelphase serve` over a RemoteRegistry: it loads versions and artifacts, and
    checks its own callers' tokens, through the API."""
    from modelphase.serve import ServeConfig, create_app

    version = _register_and_promote(api, trained)
    with api.remote("viewer") as viewer:
        app = create_app(viewer, ServeConfig(home=tmp_path / "serve", reload_interval=60.0))
        with _Server(app) as served:
            wait_for(
                lambda: httpx.get(f"{served.url}/readyz", timeout=5.0).status_code == 200,
                what="the model server to load the model",
            )
            ask = {"series": list(trained.panel.ids), "h": 6}
            url = f"{served.url}/v1/models/web-load/forecast"
            headers = {"authorization": f"Bearer {api.tokens['viewer']}"}
            answer = httpx.post(url, json=ask, headers=headers, timeout=PATIENCE)
            assert answer.status_code == 200, answer.text
            assert answer.json()["version"] == version
            unknown = {"authorization": "Bearer mp_" + "y" * 43}
            bad = httpx.post(url, json=ask, headers=unknown, timeout=PATIENCE)
            assert bad.status_code == 401, "callers' tokens are checked through the API"


def test_open_registry_picks_by_url(api: Api, registry_url: str) -> None:
    with open_registry(api.url, token=api.tokens["viewer"]) as remote:
        assert isinstance(remote, RemoteRegistry)
    with open_registry(registry_url, token=api.tokens["viewer"]) as local:
        assert isinstance(local, Registry)
        assert local.principal.name == "ci-viewer"


# ---------------------------------------------------------- the real command


def test_registry_serve_runs_and_bootstrap_works_once(
    cli: RunCli, registry_url: str, tmp_path: Path
) -> None:
    """`modelphase tokens bootstrap` where the database is, then `modelphase registry
    serve` as a real process, stopped by SIGTERM."""
    fresh = registry_url
    if not registry_url.startswith("sqlite"):  # the fixture bootstrapped this one
        fresh = registry_url.rsplit("/", 1)[0] + f"/fresh_{os.getpid()}_{time.time_ns()}"
        engine = sa.create_engine(registry_url.rsplit("/", 1)[0] + "/postgres")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{fresh.rsplit("/", 1)[1]}"'))
        engine.dispose()
    first = cli("tokens", "--registry", fresh, "bootstrap", "--name", "ops")
    assert first.code == 0, first.stderr
    secret = first.last_line
    assert secret.startswith("mp_")
    again = cli("tokens", "--registry", fresh, "bootstrap", "--name", "ops")
    assert again.code == 1
    assert "already has an admin token" in again.stderr
    remote = cli("tokens", "--registry", "http://127.0.0.1:9", "bootstrap", "--name", "x")
    assert remote.code == 1
    assert "where the database's credentials are" in remote.stderr

    port = free_port()
    env = {**os.environ, "MODELPHASE_HOME": str(tmp_path / "server-home")}
    env.pop("MODELPHASE_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelphase", "registry", "serve", "--port", str(port),
         "--registry", fresh, "--artifacts", str(tmp_path / "blobs")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, proc.communicate()[1]
            return _healthy(url)

        wait_for(up, what="modelphase registry serve to answer", timeout=60.0)
        with RemoteRegistry(url, token=secret) as ops:
            assert (ops.principal.name, ops.principal.role.label) == ("ops", "admin")
            assert ops.register("m", b"served").version == 1
        docs = httpx.get(f"{url}/docs", timeout=PATIENCE)
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert secret not in stderr
    refused = subprocess.run(
        [sys.executable, "-m", "modelphase", "registry", "serve", "--registry", url],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "this command is the HTTP API" in refused.stderr


def test_the_openapi_document_lists_the_routes(api: Api) -> None:
    doc = httpx.get(f"{api.url}/openapi.json", timeout=PATIENCE).json()
    assert {p: set(ops) for p, ops in doc["paths"].items()} == ROUTES
    schemes = doc["components"]["securitySchemes"]
    assert any(s.get("scheme", "").lower() == "bearer" for s in schemes.values())
    promote = doc["paths"]["/v1/registry/models/{name}/aliases/{alias}/promote"]["post"]
    assert {"401", "403", "404", "409", "413", "422", "503"} <= set(promote["responses"])
    upload = doc["paths"]["/v1/registry/artifacts/{sha256}"]["put"]
    assert "application/octet-stream" in upload["requestBody"]["content"]


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
