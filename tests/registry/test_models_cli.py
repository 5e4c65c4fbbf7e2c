"""``modelphase models ...`` and ``modelphase tokens ...`` as people and scripts use them,
on SQLite and on a real PostgreSQL.

Every refused command is checked the same way: exit 1, one ``error:`` line on stderr,
and no change to any registry table nor to the artifacts folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelphase.exceptions import IntegrityError
from modelphase.registry import HEAD, Registry
from support.cli import CliResult, RunCli

TABLES = ("models", "model_versions", "aliases", "alias_events", "tokens")
EVENT_FIELDS = {
    "id",
    "name",
    "alias",
    "action",
    "from_version",
    "to_version",
    "actor",
    "at",
    "reason",
    "forced",
    "actor_token",
    "share",
    "evidence",
}
FAILED_GATE = '[{"name":"mase","passed":false}]'
_ADMIN = object()  # "use the admin's credentials": none on SQLite, the root token on PostgreSQL


class Models:
    """The CLI against one registry, with the checks every test shares."""

    def __init__(self, cli: RunCli, url: str, home: Path, files: Path) -> None:
        self.cli, self.url, self.home, self.files = cli, url, home, files
        self.shared = not url.startswith("sqlite")
        self.admin: str | None = None
        files.mkdir()

    def run(self, group: str, *args: str, token: Any = _ADMIN) -> CliResult:
        secret = self.admin if token is _ADMIN else token
        options = ["--registry", self.url, *(["--token", secret] if secret else [])]
        return self.cli(group, *options, *args)

    def ok(self, group: str, *args: str, token: Any = _ADMIN) -> CliResult:
        result = self.run(group, *args, token=token)
        assert result.code == 0, result.stderr
        return result

    def json(self, group: str, *args: str, token: Any = _ADMIN) -> Any:
        return json.loads(self.ok(group, *args, "--json", token=token).stdout)

    def artifact(self, content: bytes) -> Path:
        path = self.files / f"{hashlib.sha256(content).hexdigest()[:12]}.bin"
        path.write_bytes(content)
        return path

    def register(self, name: str, content: bytes, *extra: str, token: Any = _ADMIN) -> int:
        path = self.artifact(content)
        result = self.ok("models", "register", name, "--artifact", str(path), *extra, token=token)
        assert f"registered {name} version {result.last_line}" in result.stderr
        return int(result.last_line)

    def refused(self, group: str, *args: str, match: str, token: Any = _ADMIN) -> CliResult:
        """Run a command that must fail cleanly and leave everything as it was."""
        before = self.state()
        result = self.run(group, *args, token=token)
        assert result.code == 1, (result.stdout, result.stderr)
        assert result.stderr.startswith("error: "), result.stderr
        assert result.stderr.count("\n") == 1, f"one line, got {result.stderr!r}"
        assert re.search(match, result.stderr), result.stderr
        assert result.stdout == ""
        assert self.state() == before, f"{group} {args} changed the registry"
        return result

    def state(self) -> dict[str, Any]:
        """Every row of every registry table, and every file of the artifact store."""
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                rows = {
                    t: sorted(
                        (tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}"))), key=repr
                    )
                    for t in TABLES
                }
        finally:
            engine.dispose()
        store = self.home / "artifacts"
        blobs = {
            str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(store.rglob("*"))
            if p.is_file()
        }
        return {"tables": rows, "artifacts": blobs}

    def blob(self, name: str, version: int) -> Path:
        digest = self.json("models", "show", name, "--version", str(version))["version"]
        path = self.home / "artifacts" / "sha256" / digest["artifact_digest"][:2]
        return path / digest["artifact_digest"]

    def tokens_by_role(self) -> dict[str, str]:
        """A root admin token (the admin's credentials from now on on PostgreSQL, where
        a shared registry with tokens has no local admin) and one token per lower role."""
        root = self.ok("tokens", "create", "--name", "root", "--role", "admin").last_line
        if self.shared:
            self.admin = root
        made = {"admin": root}
        for role in ("viewer", "trainer", "deployer"):
            created = self.ok("tokens", "create", "--name", f"ci-{role}", "--role", role)
            made[role] = created.last_line
        return made


@pytest.fixture
def mp(cli: RunCli, registry_url: str, home: Path, tmp_path: Path) -> Models:
    return Models(cli, registry_url, home, tmp_path / "files")


def ingest_dataset(mp: Models, rows: int = 2) -> str:
    path = mp.files / f"telemetry-{rows}.csv"
    lines = [f"2024-01-01T00:{5 * i:02d}:00Z,{i}" for i in range(rows)]
    path.write_text("timestamp,value\n" + "\n".join(lines) + "\n")
    result = mp.cli("ingest", "csv", str(path))
    assert result.code == 0, result.stderr
    return result.last_line


def at(event: dict[str, Any], microseconds: int = 0) -> str:
    when = datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
    return (when + timedelta(microseconds=microseconds)).isoformat()


# ------------------------------------------------------------------------ happy paths


def test_register_list_show_and_diff(mp: Models) -> None:
    dataset = ingest_dataset(mp)
    lineage = ("--dataset", dataset[:6], "--params", '{"season_length": 24}')
    v1 = mp.register(
        "latency", b"model one", *lineage, "--metrics", '{"mase": 0.8}', "--owner", "sre",
        "--owner", "ml",
    )  # fmt: skip
    v2 = mp.register("latency", b"model two", "--params", '{"season_length": 48}')
    other = mp.register("errors", b"model one")
    assert (v1, v2, other) == (1, 2, 1)
    first = mp.json("models", "show", "latency", "--version", "1")["version"]
    assert first["flavor"] == "external"
    assert first["dataset_id"] == dataset, "a prefix is stored as the full id"
    assert first["params"] == {"season_length": 24}
    assert first["metrics"] == {"mase": 0.8}
    assert first["owners"] == ["sre", "ml"]
    assert first["artifact_digest"] == hashlib.sha256(b"model one").hexdigest()
    assert first["artifact_size"] == len(b"model one")
    assert first["created_by"] == ("bootstrap-admin" if mp.shared else "local-admin")
    latest = mp.json("models", "show", "latency")
    assert (latest["version"]["version"], latest["aliases"]) == (2, {})
    assert mp.blob("errors", 1) == mp.blob("latency", 1), "same bytes, one blob"
    as_json = mp.ok(
        "models", "register", "latency", "--artifact", str(mp.artifact(b"3")), "--json"
    ).stdout
    assert json.loads(as_json)["version"] == 3

    listed = mp.json("models", "list")
    assert [(m["name"], m["latest_version"]) for m in listed] == [("errors", 1), ("latency", 3)]
    assert set(listed[0]) == {"name", "latest_version", "aliases", "owners", "created_at", "shares"}
    mp.ok("models", "promote", "latency", "--version", "1", "--alias", "production")
    assert mp.json("models", "list")[1]["aliases"] == {"production": 1}
    table = mp.ok("models", "list").stdout
    assert "latency" in table
    assert "production=1" in table
    shown = mp.ok("models", "show", "latency", "--alias", "production").stdout
    assert first["artifact_digest"] in shown
    assert "versions of latency" in shown
    by_alias = mp.json("models", "show", "latency", "--alias", "production")
    assert by_alias["version"]["version"] == 1
    assert by_alias["aliases"] == {"production": 1}

    changes = mp.json("models", "diff", "latency", "1", "2")
    assert changes["params"] == {"season_length": [24, 48]}
    assert changes["metrics"] == {"mase": [0.8, None]}
    assert changes["data"] == {"dataset_id": [dataset, None]}
    assert "artifact" in changes["model"]
    assert mp.json("models", "diff", "latency", "2", "2") == {}
    assert "no differences" in mp.ok("models", "diff", "latency", "2", "2").stdout
    assert "season_length" in mp.ok("models", "diff", "latency", "1", "2").stdout


def test_lineage_by_version_and_by_dataset(mp: Models) -> None:
    dataset = ingest_dataset(mp)
    mp.register("latency", b"1", "--dataset", dataset, "--params", '{"h": 24}')
    mp.register("latency", b"2")
    mp.register("errors", b"3", "--dataset", dataset[:8])
    record = mp.json("models", "lineage", "latency", "--version", "1")
    assert record["dataset_id"] == dataset
    assert record["dataset"]["id"] == dataset
    assert record["params"] == {"h": 24}
    assert record["artifact_digest"] == hashlib.sha256(b"1").hexdigest()
    assert record["code_version"].startswith("modelphase ")
    latest = mp.json("models", "lineage", "latency")
    assert (latest["version"], latest["dataset_id"], latest["dataset"]) == (2, None, None)
    assert "csv" in mp.ok("models", "lineage", "latency", "--version", "1").stdout

    trained = mp.json("models", "lineage", "--dataset", dataset[:6])
    assert trained["dataset_id"] == dataset
    assert [(v["name"], v["version"]) for v in trained["versions"]] == [
        ("errors", 1),
        ("latency", 1),
    ]
    assert "errors" in mp.ok("models", "lineage", "--dataset", dataset).stdout
    elsewhere = mp.json("models", "lineage", "--dataset", "ab" * 8)
    assert elsewhere == {"dataset_id": "ab" * 8, "versions": []}, "not in this home: no versions"


def test_promote_history_and_rollback(mp: Models) -> None:
    for content in (b"1", b"2", b"3"):
        mp.register("m", content)
    launch = ("--expect", "none", "--reason", "launch")
    first = mp.json("models", "promote", "m", "--version", "1", "--alias", "production", *launch)
    assert (first["from_version"], first["to_version"], first["reason"]) == (None, 1, "launch")
    moved = mp.ok("models", "promote", "m", "-v", "2", "-a", "production", "--expect", "1")
    assert "m@production: 1 -> 2" in moved.stderr
    again = mp.json("models", "promote", "m", "--version", "2", "--alias", "production")
    assert again["to_version"] == 2
    mp.ok("models", "promote", "m", "--version", "3", "--alias", "production", "--expect", "2")
    back = mp.json("models", "rollback", "m", "--reason", "p99 up")
    assert (back["action"], back["from_version"], back["to_version"]) == ("rollback", 3, 2)
    assert back["reason"] == "p99 up"
    assert "m@production: 2 -> 1" in mp.ok("models", "rollback", "m").stderr

    history = mp.json("models", "history", "m")
    assert all(set(e) == EVENT_FIELDS for e in history)
    assert [(e["action"], e["from_version"], e["to_version"]) for e in history] == [
        ("promote", None, 1),
        ("promote", 1, 2),
        ("promote", 2, 3),
        ("rollback", 3, 2),
        ("rollback", 2, 1),
    ], "promoting to the version the alias holds records nothing"
    assert {e["actor"] for e in history} == {"bootstrap-admin" if mp.shared else "local-admin"}
    assert [e["forced"] for e in history] == [False] * 5
    assert history[0]["reason"] == "launch"
    assert len({e["id"] for e in history}) == 5
    assert mp.json("models", "history", "m", "--alias", "canary") == []
    assert "p99 up" in mp.ok("models", "history", "m").stdout


def test_live_answers_for_times_between_moves(mp: Models) -> None:
    for content in (b"1", b"2", b"3"):
        mp.register("m", content)
    assert mp.json("models", "live", "m") == {}
    steps = [
        ("production", "1", "none"),
        ("canary", "2", "none"),
        ("production", "2", "1"),
        ("canary", "3", "2"),
    ]
    for alias, version, expect in steps:
        mp.ok("models", "promote", "m", "-v", version, "-a", alias, "--expect", expect)
    mp.ok("models", "rollback", "m")
    e = mp.json("models", "history", "m")
    assert [x["at"] for x in e] == sorted({x["at"] for x in e}), "distinct, increasing times"

    def live(when: str) -> Any:
        return mp.json("models", "live", "m", "--at", when)

    assert live(at(e[0], -1)) == {}, "before any promotion"
    assert live("now-1d") == {}
    assert live("86400") == {}, "Unix seconds"
    assert live(at(e[0])) == {"production": 1}
    assert live(at(e[2], -1)) == {"canary": 2, "production": 1}
    assert live(at(e[3])) == {"canary": 3, "production": 2}
    assert live(at(e[4], -1)) == {"canary": 3, "production": 2}
    assert live(at(e[4])) == {"canary": 3, "production": 1}
    assert live(at(e[4], 3_600_000_000)) == live("now") == mp.json("models", "live", "m")
    assert "production" in mp.ok("models", "live", "m", "--at", at(e[1])).stdout


def test_tokens_create_list_revoke(mp: Models) -> None:
    made = mp.ok("tokens", "create", "--name", "root", "--role", "admin")
    secret = made.last_line
    assert secret.startswith("mp_")
    assert re.search(r"created token [0-9a-f]+ for root with role admin", made.stderr)
    if mp.shared:
        mp.admin = secret
    record = mp.json("tokens", "create", "--name", "ci", "--role", "trainer")
    assert record["token"].startswith("mp_")
    assert (record["name"], record["role"]) == ("ci", "trainer")
    assert record["created_by"] == ("root" if mp.shared else "local-admin")
    assert record["revoked_at"] is None

    listed = mp.ok("tokens", "list")
    as_json = mp.json("tokens", "list")
    bootstrap = [("bootstrap-admin", "admin")] if mp.shared else []
    assert [(t["name"], t["role"]) for t in as_json] == [
        *bootstrap,
        ("root", "admin"),
        ("ci", "trainer"),
    ]
    assert all("token" not in t for t in as_json)
    assert record["id"] in listed.stdout
    for secret_text in (secret, record["token"]):
        assert secret_text not in listed.stdout + listed.stderr
        assert secret_text not in json.dumps(as_json)
        assert all(secret_text not in str(row) for row in mp.state()["tables"]["tokens"])

    assert mp.register("m", b"1", token=record["token"]) == 1
    assert mp.json("models", "show", "m")["version"]["created_by"] == "ci"
    revoked = mp.ok("tokens", "revoke", record["id"])
    assert f"revoked token {record['id']} (ci)" in revoked.stderr
    assert mp.json("tokens", "list")[-1]["revoked_at"] is not None
    result = mp.refused(
        "models", "list", match=r"not valid for this registry \(unknown or revoked\)",
        token=record["token"],
    )  # fmt: skip
    assert record["token"] not in result.stderr
    assert record["id"] not in result.stderr, "the 401 tells nothing about the token"
    register = ("register", "m", "--artifact", str(mp.artifact(b"2")))
    mp.refused("models", *register, match="revoked", token=record["token"])
    mp.ok("tokens", "revoke", record["id"])  # revoking twice is harmless


def test_environment_variables_name_the_registry_and_token(
    mp: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = mp.tokens_by_role()
    mp.register("m", b"1")
    monkeypatch.setenv("MODELPHASE_REGISTRY_URL", mp.url)
    monkeypatch.setenv("MODELPHASE_TOKEN", made["viewer"])
    listed = mp.cli("models", "list", "--json")
    assert listed.code == 0, listed.stderr
    assert [m["name"] for m in json.loads(listed.stdout)] == ["m"]
    denied = mp.cli("models", "register", "m", "--artifact", str(mp.artifact(b"2")))
    assert denied.code == 1
    assert "needs the trainer role" in denied.stderr
    monkeypatch.setenv("MODELPHASE_TOKEN", made["deployer"])
    moved = mp.cli("models", "promote", "m", "--version", "1", "--alias", "production", "--json")
    assert json.loads(moved.stdout)["actor"] == "ci-deployer"


# ------------------------------------------------------------------------- bad input


def test_unknown_model_name(mp: Models) -> None:
    mp.register("m", b"1")
    missing = "no model 'nope' in the registry"
    for args in (
        ("show", "nope"),
        ("history", "nope"),
        ("live", "nope"),
        ("promote", "nope", "--version", "1", "--alias", "production"),
        ("rollback", "nope"),
        ("diff", "nope", "1", "2"),
        ("lineage", "nope"),
        ("verify", "nope"),
    ):
        mp.refused("models", *args, match=missing)


def test_unknown_version(mp: Models) -> None:
    mp.register("m", b"1")
    mp.register("m", b"2")
    no_such = r"m has no version 9 \(versions 1\.\.2\)"
    for args in (
        ("show", "m", "--version", "9"),
        ("promote", "m", "--version", "9", "--alias", "production"),
        ("promote", "m", "--version", "9", "--alias", "production", "--expect", "none"),
        ("diff", "m", "1", "9"),
        ("lineage", "m", "--version", "9"),
    ):
        mp.refused("models", *args, match=no_such)
    mp.refused("models", "show", "m", "--alias", "production", match="m@production is not set")
    mp.refused("models", "rollback", "m", match="m@production is not set")
    mp.ok("models", "promote", "m", "--version", "1", "--alias", "production")
    mp.refused("models", "rollback", "m", match="held no version before 1")


def test_failed_gates_block_promotion_unless_an_admin_forces(mp: Models) -> None:
    made = mp.tokens_by_role()
    assert mp.register("m", b"bad", "--gates", FAILED_GATE) == 1
    assert mp.json("models", "show", "m")["version"]["gates_passed"] is False
    args = ("promote", "m", "--version", "1", "--alias", "production")
    mp.refused("models", *args, match=r"m version 1 failed its gates \(mase\).*--force")
    mp.refused("models", *args, "--expect", "none", match="failed its gates")
    mp.refused(
        "models",
        *args,
        "--force",
        match="needs the admin role; ci-deployer is deployer",
        token=made["deployer"],
    )
    forced = mp.json("models", *args, "--force", "--reason", "hotfix")
    assert forced["forced"] is True
    assert mp.json("models", "live", "m") == {"production": 1}
    event = mp.json("models", "history", "m")[-1]
    assert (event["forced"], event["reason"], event["to_version"]) == (True, "hotfix", 1)
    assert event["actor"] == ("root" if mp.shared else "local-admin")
    assert "(forced)" in mp.ok("models", "history", "m").stdout


def test_stale_expect_is_refused(mp: Models) -> None:
    for content in (b"1", b"2", b"3"):
        mp.register("m", content)
    mp.ok("models", "promote", "m", "--version", "1", "--alias", "production", "--expect", "none")
    args = ("promote", "m", "--version", "2", "--alias", "production")
    retry = r"m@production holds version 1, not {} as expected.*--expect 1"
    mp.refused("models", *args, "--expect", "none", match=retry.format("nothing"))
    mp.refused("models", *args, "--expect", "3", match=retry.format("version 3"))
    canary = ("promote", "m", "--version", "2", "--alias", "canary", "--expect", "1")
    mp.refused("models", *canary, match=r"m@canary holds nothing, not version 1.*--expect none")
    mp.refused("models", *args, "--expect", "soon", match="--expect: expected a version number")
    mp.ok("models", *args, "--expect", "1")


def test_roles_too_low_are_refused(mp: Models) -> None:
    made = mp.tokens_by_role()
    mp.register("m", b"1")
    viewer, trainer, deployer = made["viewer"], made["trainer"], made["deployer"]
    assert mp.json("models", "list", token=viewer)[0]["name"] == "m"
    register = ("register", "m", "--artifact", str(mp.artifact(b"2")))
    too_low = "registering a model version needs the trainer role; ci-viewer is viewer"
    mp.refused("models", *register, token=viewer, match=too_low)
    assert mp.register("m", b"2", token=trainer) == 2
    promote = ("promote", "m", "--version", "2", "--alias", "production")
    mp.refused("models", *promote, token=trainer, match="moving an alias needs the deployer role")
    mp.refused("models", "rollback", "m", token=viewer, match="needs the deployer role")
    mp.ok("models", *promote, token=deployer)
    for args in (("create", "--name", "x", "--role", "viewer"), ("list",), ("revoke", "abc")):
        mp.refused("tokens", *args, token=deployer, match="managing tokens needs the admin role")
    boss = "expected a role among viewer, trainer, deployer, admin, got 'boss'"
    mp.refused("tokens", "create", "--name", "x", "--role", "boss", match=boss)
    mp.refused("tokens", "create", "--name", " ", "--role", "viewer", match="token name")
    mp.refused("tokens", "revoke", "0123", match="no token '0123'")


@pytest.mark.parametrize(
    ("token", "match"),
    [
        ("hunter2-not-a-token", "not a modelphase token"),
        ("mp_" + "x" * 43, "not valid for this registry \\(unknown or revoked\\)"),
    ],
    ids=["malformed", "unknown"],
)
def test_unknown_or_malformed_token_is_refused_and_never_shown(
    mp: Models, monkeypatch: pytest.MonkeyPatch, token: str, match: str
) -> None:
    mp.tokens_by_role()
    mp.register("m", b"1")
    for group, args in (
        ("models", ("list",)),
        ("models", ("register", "m", "--artifact", str(mp.artifact(b"2")))),
        ("models", ("promote", "m", "--version", "1", "--alias", "production")),
        ("tokens", ("list",)),
    ):
        result = mp.refused(group, *args, token=token, match=match)
        assert token not in result.stderr
    monkeypatch.setenv("MODELPHASE_TOKEN", token)
    result = mp.refused("models", "list", token=None, match=match)
    assert token not in result.stdout + result.stderr


def test_corrupted_artifacts_are_found_and_never_loaded(mp: Models) -> None:
    mp.register("m", b"one" * 100)
    mp.register("m", b"two" * 100)
    mp.register("n", b"three" * 100)
    assert "all artifacts match their sha256" in mp.ok("models", "verify").stderr
    one, two, three = mp.blob("m", 1), mp.blob("m", 2), mp.blob("n", 1)
    one.write_bytes(one.read_bytes()[:-1])  # truncated
    data = bytearray(two.read_bytes())
    data[10] ^= 0x01
    two.write_bytes(bytes(data))  # one bit flipped
    three.unlink()  # deleted

    before = mp.state()
    result = mp.run("models", "verify")
    assert result.code == 1
    assert "broken: m version 1: sha256 mismatch" in result.stderr
    assert "broken: m version 2: sha256 mismatch" in result.stderr
    assert "broken: n version 1: missing" in result.stderr
    broken = json.loads(mp.run("models", "verify", "--json").stdout)
    assert [(b["name"], b["version"], b["problem"].split(" (")[0]) for b in broken] == [
        ("m", 1, "sha256 mismatch"),
        ("m", 2, "sha256 mismatch"),
        ("n", 1, "missing"),
    ]
    only_n = mp.run("models", "verify", "n")
    assert (only_n.code, only_n.stderr.count("broken:")) == (1, 1)
    assert mp.state() == before, "verify repairs and deletes nothing"
    shown = mp.json("models", "show", "m", "--version", "1")["version"]
    assert shown["artifact_digest"] == hashlib.sha256(b"one" * 100).hexdigest()
    assert mp.ok("models", "lineage", "n").stdout

    with Registry(mp.url, artifacts=mp.home / "artifacts", token=mp.admin) as reg:
        for name, version, problem in (
            ("m", 1, "fails its sha256"),
            ("m", 2, "fails its sha256"),
            ("n", 1, "is missing"),
        ):
            with pytest.raises(IntegrityError, match=problem):
                reg.load_artifact(name, version)

    assert mp.register("m", b"two" * 100) == 3, "the fix the error suggests: register again"
    assert mp.register("n", b"three" * 100) == 2
    healed = json.loads(mp.run("models", "verify", "--json").stdout)
    assert [(b["name"], b["version"]) for b in healed] == [("m", 1)]


def test_unreachable_database_is_refused_without_its_password(
    mp: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    mp.register("m", b"1")
    url = "postgresql+psycopg://u:s3cretpw@127.0.0.1:1/x"
    artifact = str(mp.artifact(b"2"))
    for args in (
        ("models", "list"),
        ("models", "register", "m", "--artifact", artifact),
        ("tokens", "list"),
    ):
        result = mp.cli(args[0], "--registry", url, *args[1:])
        assert result.code == 1
        assert result.stderr.startswith("error: cannot reach the registry database")
        assert result.stderr.count("\n") == 1
        assert "u:***@127.0.0.1:1/x" in result.stderr
        assert "s3cretpw" not in result.stdout + result.stderr
    monkeypatch.setenv("MODELPHASE_REGISTRY_URL", url)
    before = mp.state()
    result = mp.cli("models", "register", "m", "--artifact", artifact)
    assert result.code == 1
    assert "s3cretpw" not in result.stdout + result.stderr
    assert mp.state() == before
    monkeypatch.delenv("MODELPHASE_REGISTRY_URL")
    not_a_folder = mp.files / "a-file"
    not_a_folder.write_text("x")
    bad = mp.cli("models", "--registry", f"sqlite:///{not_a_folder}/r.db", "list")
    assert bad.code == 1
    assert bad.stderr.startswith("error: cannot create the registry database")


def test_schema_newer_than_the_code_is_refused(mp: Models) -> None:
    mp.register("m", b"1")
    engine = sa.create_engine(mp.url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    newer = rf"schema revision '9999', newer than this modelphase knows \(up to '{HEAD}'\)"
    mp.refused("models", "list", match=newer)
    mp.refused("models", "register", "m", "--artifact", str(mp.artifact(b"2")), match=newer)
    mp.refused("models", "promote", "m", "--version", "1", "--alias", "production", match=newer)
    mp.refused("tokens", "create", "--name", "x", "--role", "viewer", match=newer)


def test_malformed_params_metrics_and_gates(mp: Models) -> None:
    mp.register("m", b"1")
    path = str(mp.artifact(b"2"))
    for option, value, match in (
        ("--params", "{season_length: 24}", r"--params: expected JSON, got '\{season_length"),
        ("--params", "[24]", "--params: expected a JSON object"),
        ("--metrics", '{"mase": 0.8', "--metrics: expected JSON"),
        ("--metrics", '"fast"', "--metrics: expected a JSON object"),
        ("--metrics", '{"mase": NaN}', "metrics: expected plain JSON"),
        ("--gates", '{"name": "mase"}', "--gates: expected a JSON list of objects"),
        ("--gates", '[{"name": "mase"}]', "expected each gate as an object with 'name'"),
        ("--tag", "team", "--tag: expected KEY=VALUE"),
    ):
        mp.refused("models", "register", "m", "--artifact", path, option, value, match=match)
    mp.refused("models", "register", "bad name!", "--artifact", path, match="model name")


def test_missing_artifact_file_and_unknown_dataset(mp: Models) -> None:
    mp.register("m", b"1")
    ingest_dataset(mp)
    missing = mp.files / "nope.bin"
    not_a_file = f"expected an artifact file, got {re.escape(str(missing))}"
    mp.refused("models", "register", "m", "--artifact", str(missing), match=not_a_file)
    mp.refused("models", "register", "m", "--artifact", str(mp.files), match="not a file")
    register = ("register", "m", "--artifact", str(mp.artifact(b"2")))
    mp.refused("models", *register, "--dataset", "ffff0000", match="no dataset 'ffff0000'")
    mp.refused("models", *register, "--dataset", "train-1", match="expected a dataset id")
    mp.refused("models", "lineage", "--dataset", "train-1", match="expected a dataset id")
    mp.refused("models", "lineage", "--dataset", "", match="expected a dataset id")
    mp.refused("models", "lineage", match="expected a model NAME or --dataset ID")
    mp.refused("models", "live", "m", "--at", "2024-05-01T12:00:00", match="with a zone")


def test_ambiguous_dataset_prefix(mp: Models) -> None:
    seen: dict[str, str] = {}
    for rows in range(2, 19):  # 17 ids: two share a first hex digit
        dataset = ingest_dataset(mp, rows=rows)
        if dataset[0] in seen:
            break
        seen[dataset[0]] = dataset
    prefix = dataset[0]
    assert seen[prefix] != dataset
    mp.register("m", b"1")
    path = str(mp.artifact(b"2"))
    ambiguous = f"the prefix '{prefix}' matches 2 datasets"
    mp.refused("models", "register", "m", "--artifact", path, "--dataset", prefix, match=ambiguous)
    mp.refused("models", "lineage", "--dataset", prefix, match=ambiguous)


def test_bad_alias_name(mp: Models) -> None:
    mp.register("m", b"1")
    expected = "expected an alias of lower-case letters"
    for alias in ("Production", "prod uction", "", "-canary", "a" * 101):
        mp.refused("models", "promote", "m", "--version", "1", "--alias", alias, match=expected)
    mp.refused("models", "rollback", "m", "--alias", "Prod!", match=expected)
    mp.refused("models", "show", "m", "--alias", "Prod!", match=expected)
    mp.refused("models", "history", "m", "--alias", "Prod!", match=expected)


def test_register_records_spec_and_canary_plan(
    cli: RunCli, home: Path, tmp_path: Path, registry_url: str
) -> None:
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"weights")
    spec = tmp_path / "spec.json"
    spec.write_text('{"kind": "forecast", "h": 24}')
    result = cli(
        "models", "--registry", registry_url, "register", "m", "--artifact", str(artifact),
        "--spec", str(spec), "--canary-plan", '{"steps": [5, 50, 100]}',
    )  # fmt: skip
    assert result.code == 0, result.stderr
    shown = json.loads(cli("models", "--registry", registry_url, "show", "m", "--json").stdout)
    assert shown["version"]["spec"] == {"h": 24, "kind": "forecast"}
    assert shown["version"]["canary_plan"] == {"steps": [5, 50, 100]}
    bad = cli(
        "models", "--registry", registry_url, "register", "m", "--artifact", str(artifact),
        "--spec", str(tmp_path / "missing.json"),
    )  # fmt: skip
    assert bad.code == 1
    assert "--spec" in bad.stderr
