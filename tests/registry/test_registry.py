"""The registry's Python API, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelphase.config import get_settings
from modelphase.exceptions import (
    AccessError,
    AliasConflictError,
    AuthenticationError,
    GateFailedError,
    IntegrityError,
    ModelNotFoundError,
    PermissionDeniedError,
    RegistryUnavailableError,
    SchemaVersionError,
    ValidationError,
)
from modelphase.registry import LOCAL_ADMIN, UNSET, Principal, Registry, Role
from modelphase.registry.registry import TOKEN_CHECK_SECONDS

T0 = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: float = 1) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def reg(registry_url: str, tmp_path: Path, clock: Clock) -> Iterator[Registry]:
    with Registry(registry_url, artifacts=tmp_path / "artifacts", clock=clock) as r:
        yield r


def dump(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every registry table, to show that a refused action changed nothing."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = ["models", "model_versions", "aliases", "alias_events", "tokens"]
            return {
                n: sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {n}")))
                for n in names
            }
    finally:
        engine.dispose()


def test_versions_are_numbered_per_name_and_immutable(reg: Registry) -> None:
    a1 = reg.register("a", b"one", params={"season_length": 24}, owners=["sre"])
    a2 = reg.register("a", b"two", metrics={"mase": 0.8}, dataset_id="5b708b085f0d6edb")
    b1 = reg.register("b", b"one")
    assert (a1.version, a2.version, b1.version) == (1, 2, 1)
    assert a1.artifact_digest == b1.artifact_digest, "same bytes, one blob"
    assert reg.get("a").version == 2
    assert reg.get("a", 1).params == {"season_length": 24}
    assert reg.get("a", 1).owners == ["sre"]
    assert reg.get("a", 2).dataset_id == "5b708b085f0d6edb"
    assert reg.get("a", 1).created_by == "local-admin" or reg.get("a", 1).created_by
    assert [m.name for m in reg.models()] == ["a", "b"]
    assert [v.version for v in reg.versions("a")] == [1, 2]
    assert reg.load_artifact("a", 1) == b"one"


def test_unknown_names_and_versions(reg: Registry) -> None:
    reg.register("a", b"x")
    with pytest.raises(ModelNotFoundError, match="no model 'zz'"):
        reg.get("zz")
    with pytest.raises(ModelNotFoundError, match="no version 7"):
        reg.get("a", 7)
    with pytest.raises(ModelNotFoundError, match="a@production is not set"):
        reg.get("a", alias="production")
    with pytest.raises(ValidationError, match="model name"):
        reg.register("bad name!", b"x")
    with pytest.raises(ValidationError, match="plain JSON"):
        reg.register("a", b"x", metrics={"mase": float("nan")})


def test_promote_is_compare_and_set(reg: Registry, registry_url: str) -> None:
    for data in (b"1", b"2", b"3"):
        reg.register("m", data)
    first = reg.promote("m", 1, "production", expect=None, reason="launch")
    assert (first.from_version, first.to_version, first.reason) == (None, 1, "launch")
    before = dump(registry_url)
    with pytest.raises(AliasConflictError, match="holds version 1") as info:
        reg.promote("m", 2, "production", expect=None)
    assert (info.value.expected, info.value.actual) == (None, 1)
    with pytest.raises(AliasConflictError):
        reg.promote("m", 3, "production", expect=2)
    assert dump(registry_url) == before, "a refused move changes nothing"
    second = reg.promote("m", 2, "production", expect=1)
    assert second.from_version == 1
    assert reg.promote("m", 2, "production", expect=2).id == second.id, "no-op"
    assert reg.promote("m", 3, "canary").to_version == 3, "without expect: unconditional"
    assert reg.live("m") == {"canary": 3, "production": 2}


def test_failed_gates_block_promotion_unless_an_admin_forces(
    reg: Registry, registry_url: str, tmp_path: Path, clock: Clock
) -> None:
    gates = [{"name": "mase_vs_naive", "passed": False, "value": 1.3, "threshold": 0.9}]
    reg.register("m", b"bad", gates=gates)
    reg.register("m", b"good", gates=[{"name": "mase_vs_naive", "passed": True}])
    assert reg.get("m", 1).gates_passed is False
    assert reg.get("m", 2).gates_passed is True
    before = dump(registry_url)
    with pytest.raises(GateFailedError, match="mase_vs_naive") as info:
        reg.promote("m", 1, "production", expect=None)
    assert info.value.gates == ["mase_vs_naive"]
    _, secret = reg.create_token("ci", Role.DEPLOYER)
    before = dump(registry_url)
    with (
        Registry(registry_url, artifacts=tmp_path / "artifacts", token=secret) as deployer,
        pytest.raises(PermissionDeniedError, match="admin"),
    ):
        deployer.promote("m", 1, "production", force=True)
    assert dump(registry_url) == before
    event = reg.promote("m", 1, "production", force=True, reason="incident hotfix")
    assert event.forced
    assert reg.history("m")[-1].forced


def test_rollback_walks_back_and_is_audited(reg: Registry, clock: Clock) -> None:
    for data in (b"1", b"2", b"3"):
        reg.register("m", data)
    with pytest.raises(ModelNotFoundError, match="not set"):
        reg.rollback("m")
    reg.promote("m", 1, "production", expect=None)
    with pytest.raises(ModelNotFoundError, match="nothing to roll back"):
        reg.rollback("m")
    clock.tick()
    reg.promote("m", 2, "production", expect=1)
    clock.tick()
    reg.promote("m", 3, "production", expect=2)
    clock.tick()
    back = reg.rollback("m", reason="p99 up")
    assert (back.action, back.from_version, back.to_version, back.reason) == (
        "rollback",
        3,
        2,
        "p99 up",
    )
    clock.tick()
    assert reg.rollback("m").to_version == 1, "a second rollback goes further back"
    assert [e.action for e in reg.history("m")] == [
        "promote",
        "promote",
        "promote",
        "rollback",
        "rollback",
    ]


def test_live_answers_for_any_past_time(reg: Registry, clock: Clock) -> None:
    for data in (b"1", b"2", b"3"):
        reg.register("m", data)
    t_before = clock.now - timedelta(seconds=1)
    reg.promote("m", 1, "production", expect=None)
    t1 = clock.tick(60)
    reg.promote("m", 2, "canary", expect=None)
    t2 = clock.tick(60)
    reg.promote("m", 2, "production", expect=1)
    reg.promote("m", 3, "canary", expect=2)
    t3 = clock.tick(60)
    reg.rollback("m")
    assert reg.live("m", t_before) == {}
    assert reg.live("m", t1 - timedelta(seconds=30)) == {"production": 1}
    assert reg.live("m", t2 - timedelta(seconds=1)) == {"canary": 2, "production": 1}
    assert reg.live("m", t2) == {"canary": 3, "production": 2}
    assert reg.live("m", t3) == {"canary": 3, "production": 1}
    assert reg.live("m") == reg.live("m", t3)
    assert [e.alias for e in reg.history("m", "canary")] == ["canary", "canary"]


def test_lineage_and_diff(reg: Registry) -> None:
    reg.register("m", b"1", params={"a": 1, "nested": {"k": 1}}, dataset_id="aa00", spec={"h": 24})
    reg.register("m", b"2", params={"a": 2, "nested": {"k": 1}}, dataset_id="bb11", spec={"h": 48})
    reg.register("other", b"3", dataset_id="aa00")
    assert [(v.name, v.version) for v in reg.trained_on("aa00")] == [("m", 1), ("other", 1)]
    changes = reg.diff("m", 1, 2)
    assert changes["params"] == {"a": [1, 2]}
    assert changes["data"] == {"dataset_id": ["aa00", "bb11"]}
    assert changes["spec"] == {"h": [24, 48]}
    assert "artifact" in changes["model"]


def test_roles_gate_every_write(reg: Registry, registry_url: str, tmp_path: Path) -> None:
    reg.register("m", b"1")
    secrets = {role: reg.create_token(role.label, role)[1] for role in Role}

    def as_role(role: Role) -> Registry:
        return Registry(registry_url, artifacts=tmp_path / "artifacts", token=secrets[role])

    with as_role(Role.VIEWER) as viewer:
        assert viewer.get("m").version == 1
        assert viewer.principal.role is Role.VIEWER
        with pytest.raises(PermissionDeniedError, match="trainer"):
            viewer.register("m", b"2")
    with as_role(Role.TRAINER) as trainer:
        assert trainer.register("m", b"2").created_by == "trainer"
        with pytest.raises(PermissionDeniedError, match="deployer"):
            trainer.promote("m", 2, "production")
    with as_role(Role.DEPLOYER) as deployer:
        assert deployer.promote("m", 2, "production").actor == "deployer"
        with pytest.raises(PermissionDeniedError, match="admin"):
            deployer.create_token("x", Role.VIEWER)
        with pytest.raises(PermissionDeniedError):
            deployer.tokens()
    with as_role(Role.ADMIN) as admin:
        assert {t.name for t in admin.tokens()} >= {r.label for r in Role}


def test_tokens_are_hashed_revocable_and_never_shown(
    reg: Registry, registry_url: str, tmp_path: Path
) -> None:
    info, secret = reg.create_token("ci", Role.TRAINER)
    assert secret.startswith("mp_")
    rows = dump(registry_url)["tokens"]
    assert all(secret not in str(row) for row in rows), "only the hash is stored"
    reg.revoke_token(info.id)
    with pytest.raises(AuthenticationError, match="unknown or revoked") as revoked:
        Registry(registry_url, artifacts=tmp_path / "a", token=secret)
    with pytest.raises(AuthenticationError, match="unknown or revoked") as unknown:
        Registry(registry_url, artifacts=tmp_path / "a", token="mp_" + "x" * 43)
    with pytest.raises(AuthenticationError, match="not a modelphase token"):
        Registry(registry_url, artifacts=tmp_path / "a", token="hunter2")
    assert str(revoked.value) == str(unknown.value), "a caller can't tell revoked from unknown"
    for exc in (revoked.value, unknown.value):
        assert secret not in str(exc)
        assert info.id not in str(exc)
    assert next(t for t in reg.tokens() if t.id == info.id).revoked_at is not None
    with pytest.raises(ModelNotFoundError, match="no token"):
        reg.revoke_token("nope")


def test_a_shared_registry_never_grants_admin_without_a_token(
    registry_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if registry_url.startswith("sqlite"):
        with Registry(registry_url, artifacts=tmp_path / "a") as local:
            local.create_token("root", Role.ADMIN)
        with Registry(registry_url, artifacts=tmp_path / "a") as local:
            assert local.principal == LOCAL_ADMIN, "embedded use keeps its local admin"
        return
    monkeypatch.delenv("MODELPHASE_TOKEN")
    get_settings.cache_clear()
    with pytest.raises(AuthenticationError, match=r"needs a token.*tokens bootstrap"):
        Registry(registry_url, artifacts=tmp_path / "a")


@pytest.mark.postgres
def test_bootstrap_makes_the_first_admin_once_and_only_explicitly(
    postgres_server: object, tmp_path: Path, home: Path
) -> None:
    url = str(postgres_server.create_database())  # type: ignore[attr-defined]
    with pytest.raises(AuthenticationError, match="needs a token"):
        Registry(url, artifacts=tmp_path / "a")  # a fresh registry: no implicit admin
    info, secret = Registry.bootstrap_admin(url, "root")
    assert (info.role, info.created_by) == ("admin", "bootstrap")
    with pytest.raises(AccessError, match="already has an admin"):
        Registry.bootstrap_admin(url, "again")
    with Registry(url, artifacts=tmp_path / "a", token=secret) as admin:
        assert admin.principal.role is Role.ADMIN
        assert [t.name for t in admin.tokens()] == ["root"]
        # with the last admin revoked (were it allowed) bootstrap would open again: refused
        with pytest.raises(AccessError, match="last live admin"):
            admin.revoke_token(info.id)
    with pytest.raises(AuthenticationError, match="needs a token"):
        Registry(url, artifacts=tmp_path / "a")


def test_the_last_admin_token_cannot_be_revoked(reg: Registry) -> None:
    alice, _ = reg.create_token("alice", Role.ADMIN)
    bob, _ = reg.create_token("bob", Role.ADMIN)
    keep = reg.principal.token_id or bob.id  # a shared registry's session is an admin token
    for t in reg.tokens():
        if t.role == "admin" and t.id != keep:
            reg.revoke_token(t.id)  # while another admin is left: fine
    with pytest.raises(AccessError, match="last live admin"):
        reg.revoke_token(keep)
    assert next(t for t in reg.tokens() if t.id == keep).revoked_at is None
    assert next(t for t in reg.tokens() if t.id == alice.id).revoked_at is not None
    viewer, _ = reg.create_token("v", Role.VIEWER)
    assert reg.revoke_token(viewer.id).revoked_at is not None  # other roles: no such rule


def test_revocation_reaches_a_session_already_open(
    reg: Registry, registry_url: str, tmp_path: Path
) -> None:
    info, secret = reg.create_token("ci", Role.TRAINER)
    ticks = [0.0]
    with Registry(
        registry_url, artifacts=tmp_path / "artifacts", token=secret, monotonic=lambda: ticks[0]
    ) as session:
        assert session.register("m", b"1").created_by_token == info.id
        reg.revoke_token(info.id)
        ticks[0] = TOKEN_CHECK_SECONDS - 0.01
        session.register("m", b"2")  # within the stated cache time: still trusted
        ticks[0] = TOKEN_CHECK_SECONDS
        with pytest.raises(AuthenticationError, match="unknown or revoked"):
            session.register("m", b"3")
    assert [v.version for v in reg.versions("m")] == [1, 2]


def test_versions_and_alias_moves_record_the_token(
    reg: Registry, registry_url: str, tmp_path: Path
) -> None:
    trainer, t_secret = reg.create_token("ci-train", Role.TRAINER)
    deployer, d_secret = reg.create_token("ci-deploy", Role.DEPLOYER)
    with Registry(registry_url, artifacts=tmp_path / "artifacts", token=t_secret) as t:
        v = t.register("m", b"1")
    with Registry(registry_url, artifacts=tmp_path / "artifacts", token=d_secret) as d:
        event = d.promote("m", 1, "production")
    assert (v.created_by, v.created_by_token) == ("ci-train", trainer.id)
    assert reg.get("m").created_by_token == trainer.id
    assert (event.actor, event.actor_token) == ("ci-deploy", deployer.id)
    assert reg.history("m")[-1].actor_token == deployer.id


def test_a_view_acts_as_the_principal_it_was_given(reg: Registry) -> None:
    reg.register("m", b"1")
    viewer = reg.acting(Principal("dash", Role.VIEWER, "t1"))
    assert viewer.get("m").version == 1
    with pytest.raises(PermissionDeniedError, match="trainer"):
        viewer.register("m", b"2")
    viewer.close()
    assert reg.get("m").version == 1, "closing a view leaves the registry open"


def test_artifacts_are_verified_before_use(reg: Registry) -> None:
    v = reg.register("m", b"x" * 1000)
    path = Path(reg.artifacts.path(v.artifact_digest))
    path.write_bytes(b"x" * 999)
    with pytest.raises(IntegrityError, match="fails its sha256"):
        reg.load_artifact("m")
    assert [(b.version, p.split(" ")[0]) for b, p in reg.verify()] == [(1, "sha256")]
    path.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        reg.load_artifact("m")
    assert reg.verify("m")[0][1] == "missing"


def test_schema_newer_than_the_code_is_refused(registry_url: str, tmp_path: Path) -> None:
    Registry(registry_url, artifacts=tmp_path / "a").close()
    engine = sa.create_engine(registry_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="9999"):
        Registry(registry_url, artifacts=tmp_path / "a")


def test_migrations_build_exactly_the_declared_schema(registry_url: str, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from modelphase.registry.schema import metadata

    Registry(registry_url, artifacts=tmp_path / "a").close()
    engine = sa.create_engine(registry_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()


def test_unreachable_database(tmp_path: Path) -> None:
    with pytest.raises(RegistryUnavailableError, match="cannot reach") as info:
        Registry("postgresql+psycopg://mp:s3cret@127.0.0.1:1/registry", artifacts=tmp_path / "a")
    assert "s3cret" not in str(info.value)
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(RegistryUnavailableError, match="cannot create"):
        Registry(f"sqlite:///{tmp_path}/a-file/registry.db", artifacts=tmp_path / "a")


def test_unset_is_the_default_expectation() -> None:
    assert repr(UNSET) == "UNSET"
