"""The model registry: versions, artifacts, aliases with an audited history, tokens.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     reg = Registry(f"sqlite:///{d}/r.db", artifacts=f"{d}/a")
...     v = reg.register("latency", b"model bytes", params={"season_length": 24})
...     e = reg.promote("latency", v.version, "production", expect=None)
...     reg.live("latency"), reg.load_artifact("latency", alias="production")
({'production': 1}, b'model bytes')
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from modelphase.config import get_settings
from modelphase.exceptions import (
    AccessError,
    AliasConflictError,
    AuthenticationError,
    GateFailedError,
    IntegrityError,
    ModelNotFoundError,
    ValidationError,
)
from modelphase.registry import auth
from modelphase.registry._rows import (
    epoch_us,
    event_of,
    token_of,
    version_metadata,
    version_of,
    which,
)
from modelphase.registry.artifacts import ArtifactStore, check_digest, sha256_of
from modelphase.registry.auth import LOCAL_ADMIN, Principal, Role, require
from modelphase.registry.protocol import UNSET, Unset
from modelphase.registry.records import (
    AliasEvent,
    ModelSummary,
    ModelVersion,
    TokenInfo,
    check_alias,
    diff_versions,
    dumps,
    format_us,
    live_at,
)
from modelphase.registry.schema import alias_events, aliases, models, tokens, versions
from modelphase.registry.store import Database

__all__ = ["DATABASE_ADMIN", "TOKEN_CHECK_SECONDS", "UNSET", "Registry", "Unset"]


Clock = Callable[[], datetime]

#: Who acts through the database's own credentials (``database_admin=True``).
DATABASE_ADMIN: Final = Principal("database-admin", Role.ADMIN)

#: How long a token check is trusted before the token is looked up again (seconds): a
#: revoked token stops working in an open session within this time.
TOKEN_CHECK_SECONDS: Final = 2.0


class Registry:
    """A registry at a database URL with an artifact store; acts as one principal.

    ``url`` and ``artifacts`` default to the settings (SQLite and a folder in the home).
    Without a token, an embedded (SQLite) registry acts as its local admin: whoever can
    write the file can change anything anyway. A shared (PostgreSQL) one needs a token;
    its first admin token is made by :meth:`bootstrap_admin`, never implicitly; a process
    that holds the database's credentials (the registry's HTTP server) may say
    ``database_admin=True`` to act as :data:`DATABASE_ADMIN`, explicitly. A token
    is looked up again before an operation once its last check is older than
    :data:`TOKEN_CHECK_SECONDS` (``monotonic`` is the clock of that cache), so a
    revocation reaches sessions already open.

    Direct database access is admin access: the roles hold against callers who only
    have a token (the registry HTTP API, ``modelphase registry serve``), not against
    someone who has the database's credentials.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        artifacts: str | Path | None = None,
        token: str | None = None,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        database_admin: bool = False,
    ) -> None:
        settings = get_settings()
        self.db = Database(url or settings.registry)
        self._owns_db = True
        try:
            self.db.ensure_schema()
            self.artifacts = ArtifactStore(artifacts or settings.artifacts)
            self._clock = clock or (lambda: datetime.now(UTC))
            self._monotonic = monotonic
            self._token = None if database_admin else (token or settings.token)
            self._principal = DATABASE_ADMIN if database_admin else self._authenticate(self._token)
            self._checked = monotonic()
        except BaseException:
            self.db.dispose()
            raise

    @property
    def principal(self) -> Principal:
        """Who this session acts as; its token is checked again when the last check is
        older than :data:`TOKEN_CHECK_SECONDS` (an :class:`AuthenticationError` once it
        is revoked)."""
        if self._token is not None:
            now = self._monotonic()
            if now - self._checked >= TOKEN_CHECK_SECONDS:
                self._principal = self.authenticate(self._token)
                self._checked = now
        return self._principal

    def acting(self, principal: Principal) -> Registry:
        """A view of this registry (same database and artifacts) acting as
        ``principal``, for a server that has checked its caller's token itself. Closing
        the view leaves this registry open."""
        view = copy.copy(self)
        view._token = None
        view._principal = principal
        view._owns_db = False
        return view

    @classmethod
    def bootstrap_admin(
        cls,
        url: str | None = None,
        name: str = "admin",
        *,
        clock: Clock | None = None,
    ) -> tuple[TokenInfo, str]:
        """The first admin token of a registry, made with direct database access (which
        is admin access) and only while it has no live admin token."""
        settings = get_settings()
        db = Database(url or settings.registry)
        try:
            db.ensure_schema()
            now = epoch_us((clock or (lambda: datetime.now(UTC)))())
            with db.write() as conn:
                admins = _live_admins(conn)
                if admins:
                    raise AccessError(
                        f"this registry already has an admin token ({admins[0]}); "
                        "bootstrap makes only the first. Fix: ask an admin for a token "
                        "(`modelphase tokens create`)"
                    )
                return _insert_token(conn, name, Role.ADMIN, "bootstrap", now)
        finally:
            db.dispose()

    def close(self) -> None:
        if self._owns_db:
            self.db.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ versions

    def register(
        self,
        name: str,
        artifact: bytes | Path,
        *,
        flavor: str = "external",
        model_class: str = "",
        params: Mapping[str, Any] | None = None,
        spec: Mapping[str, Any] | None = None,
        dataset_id: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        gates: Sequence[Mapping[str, Any]] = (),
        owners: Sequence[str] = (),
        canary_plan: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        code_version: str = "",
        git_commit: str | None = None,
    ) -> ModelVersion:
        """Store the artifact, then write the next version of ``name`` in one
        transaction: a crash leaves a complete version or none."""
        require(self.principal, Role.TRAINER, "registering a model version")
        row = version_metadata(
            name, flavor, model_class, params, spec, dataset_id, metrics, gates, owners,
            canary_plan, tags, code_version, git_commit,
        )  # fmt: skip
        data = Path(artifact).read_bytes() if isinstance(artifact, Path) else bytes(artifact)
        digest = self.artifacts.put(data)
        return self._insert_version(name, digest, len(data), row)

    def put_artifact(self, data: bytes, *, sha256: str | None = None) -> str:
        """Store an artifact's bytes ahead of :meth:`register_stored` (a trainer's
        upload); with ``sha256``, bytes that are not that digest are refused and not
        stored (:class:`IntegrityError`). Returns the digest."""
        require(self.principal, Role.TRAINER, "uploading an artifact")
        if sha256 is not None:
            check_digest(sha256)
            actual = sha256_of(data)
            if actual != sha256:
                raise IntegrityError(
                    f"expected bytes whose sha256 is {sha256[:16]}..., got {len(data):,} "
                    f"bytes whose sha256 is {actual[:16]}...; nothing was stored. Fix: send "
                    "the artifact's bytes to the path named by their own sha256",
                    expected=sha256,
                    actual=actual,
                )
        return self.artifacts.put(data)

    def register_stored(
        self,
        name: str,
        artifact_digest: str,
        *,
        flavor: str = "external",
        model_class: str = "",
        params: Mapping[str, Any] | None = None,
        spec: Mapping[str, Any] | None = None,
        dataset_id: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        gates: Sequence[Mapping[str, Any]] = (),
        owners: Sequence[str] = (),
        canary_plan: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        code_version: str = "",
        git_commit: str | None = None,
    ) -> ModelVersion:
        """:meth:`register` for an artifact already in the store (by
        :meth:`put_artifact`): it is re-hashed first, and a missing or damaged one is an
        :class:`IntegrityError`."""
        require(self.principal, Role.TRAINER, "registering a model version")
        row = version_metadata(
            name, flavor, model_class, params, spec, dataset_id, metrics, gates, owners,
            canary_plan, tags, code_version, git_commit,
        )  # fmt: skip
        check_digest(artifact_digest)
        if not self.artifacts.exists(artifact_digest):
            raise IntegrityError(
                f"no artifact with sha256 {artifact_digest[:16]}... has been uploaded. Fix: "
                "upload its bytes first (PUT /v1/registry/artifacts/SHA256)",
                expected=artifact_digest,
                actual="",
            )
        size = len(self.artifacts.get(artifact_digest))
        return self._insert_version(name, artifact_digest, size, row)

    def _insert_version(
        self, name: str, digest: str, size: int, row: dict[str, Any]
    ) -> ModelVersion:
        row = {
            **row,
            "created_by": self.principal.name,
            "created_by_token": self.principal.token_id,
        }
        now = self._now_us()
        with self.db.write() as conn:
            conn.execute(_insert_ignore(conn, name, now, self.principal.name))
            version = conn.execute(
                sa.update(models)
                .where(models.c.name == name)
                .values(latest_version=models.c.latest_version + 1)
                .returning(models.c.latest_version)
            ).scalar_one()
            conn.execute(
                sa.insert(versions).values(
                    name=name,
                    version=version,
                    artifact_digest=digest,
                    artifact_size=size,
                    created_at_us=now,
                    **row,
                )
            )
            return version_of(self._version_row(conn, name, version))

    def get(
        self, name: str, version: int | None = None, *, alias: str | None = None
    ) -> ModelVersion:
        """A version by number, by alias, or the latest."""
        require(self.principal, Role.VIEWER, "reading the registry")
        with self.db.read() as conn:
            return version_of(self._resolve(conn, name, version, alias))

    def versions(self, name: str) -> list[ModelVersion]:
        require(self.principal, Role.VIEWER, "reading the registry")
        with self.db.read() as conn:
            self._model_row(conn, name)
            rows = conn.execute(
                sa.select(versions).where(versions.c.name == name).order_by(versions.c.version)
            ).all()
        return [version_of(r) for r in rows]

    def models(self) -> list[ModelSummary]:
        """Every model with its latest version and current aliases."""
        require(self.principal, Role.VIEWER, "reading the registry")
        with self.db.read() as conn:
            rows = conn.execute(sa.select(models).order_by(models.c.name)).all()
            held: dict[str, dict[str, int]] = {}
            shares: dict[str, dict[str, float]] = {}
            for a in conn.execute(sa.select(aliases).order_by(aliases.c.alias)).all():
                held.setdefault(a.name, {})[a.alias] = a.version
                if a.share is not None:
                    shares.setdefault(a.name, {})[a.alias] = float(a.share)
            owners = {
                r.name: json.loads(r.owners)
                for r in conn.execute(
                    sa.select(versions.c.name, versions.c.owners).join(
                        models,
                        (models.c.name == versions.c.name)
                        & (models.c.latest_version == versions.c.version),
                    )
                ).all()
            }
        return [
            ModelSummary(
                r.name,
                r.latest_version,
                held.get(r.name, {}),
                owners.get(r.name, []),
                format_us(r.created_at_us) or "",
                shares.get(r.name, {}),
            )
            for r in rows
        ]

    def load_artifact(
        self, name: str, version: int | None = None, *, alias: str | None = None
    ) -> bytes:
        """The verified artifact bytes of a version (by number, alias or latest)."""
        return self.artifacts.get(self.get(name, version, alias=alias).artifact_digest)

    def verify(self, name: str | None = None) -> list[tuple[ModelVersion, str]]:
        """Re-hash every artifact (of ``name``, or all); return the broken ones."""
        require(self.principal, Role.VIEWER, "reading the registry")
        query = sa.select(versions).order_by(versions.c.name, versions.c.version)
        with self.db.read() as conn:
            if name is not None:
                self._model_row(conn, name)
                query = query.where(versions.c.name == name)
            rows = conn.execute(query).all()
        broken = []
        for row in rows:
            problem = self.artifacts.verify(row.artifact_digest)
            if problem:
                broken.append((version_of(row), problem))
        return broken

    # ------------------------------------------------------------------- lineage

    def trained_on(self, dataset_id: str) -> list[ModelVersion]:
        """The versions trained on a dataset."""
        require(self.principal, Role.VIEWER, "reading the registry")
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(versions)
                .where(versions.c.dataset_id == dataset_id)
                .order_by(versions.c.name, versions.c.version)
            ).all()
        return [version_of(r) for r in rows]

    def diff(self, name: str, a: int, b: int) -> dict[str, dict[str, list[Any]]]:
        """What differs between versions ``a`` and ``b`` of ``name``."""
        return diff_versions(self.get(name, a), self.get(name, b))

    # ------------------------------------------------------------------- aliases

    def promote(
        self,
        name: str,
        version: int,
        alias: str,
        *,
        expect: int | Unset | None = UNSET,
        reason: str = "",
        force: bool = False,
        share: float | None = None,
        evidence: Mapping[str, Any] | None = None,
    ) -> AliasEvent:
        """Point ``alias`` at ``version`` if it still holds ``expect`` (None: unset).

        A version whose gates failed is refused unless ``force`` (admins only), and the
        forced move is marked in the history. Promoting to the version the alias already
        holds changes nothing and returns the event that put it there, unless ``share``
        (a canary's share of traffic, 0-1) changes: that is a ``share`` event. ``evidence``
        (JSON) is kept with the event: what the monitor saw when it moved the alias.
        """
        if share is not None and not 0.0 <= share <= 1.0:
            raise ValidationError(f"share: expected a fraction in [0, 1], got {share}")
        require(self.principal, Role.DEPLOYER, "moving an alias")
        check_alias(alias)
        with self.db.write() as conn:
            self._lock_model(conn, name)
            target = version_of(self._version_row(conn, name, version))
            forced = False
            if target.gates_passed is False:
                if not force:
                    raise GateFailedError(
                        f"{name} version {version} failed its gates "
                        f"({', '.join(target.failed_gates)}); it cannot be promoted. Fix: "
                        "train a version that passes, or --force as an admin (audited)",
                        gates=target.failed_gates,
                    )
                require(self.principal, Role.ADMIN, "forcing a version past failed gates")
                forced = True
            current = self._alias_version(conn, name, alias)
            if not isinstance(expect, Unset) and expect != current:
                raise AliasConflictError(
                    f"{name}@{alias} holds {which(current)}, not {which(expect)} as expected; "
                    "someone moved it meanwhile. Fix: check `modelphase models history "
                    f"{name}` and retry with --expect {current if current else 'none'}",
                    alias=alias,
                    expected=expect,
                    actual=current,
                )
            if current == version:
                if share is None or share == self._alias_share(conn, name, alias):
                    return self._last_event(conn, name, alias)
                action = "share"
            else:
                action = "promote"
            return self._move(
                conn, name, alias, current, version, action, reason, forced, share, evidence
            )

    def rollback(
        self,
        name: str,
        alias: str = "production",
        *,
        reason: str = "",
        evidence: Mapping[str, Any] | None = None,
    ) -> AliasEvent:
        """Move ``alias`` back to the version it held before its current one."""
        require(self.principal, Role.DEPLOYER, "moving an alias")
        check_alias(alias)
        with self.db.write() as conn:
            self._lock_model(conn, name)
            current = self._alias_version(conn, name, alias)
            if current is None:
                raise ModelNotFoundError(
                    f"{name}@{alias} is not set; nothing to roll back", name=name
                )
            came = conn.execute(
                sa.select(alias_events.c.from_version)
                .where(
                    (alias_events.c.name == name)
                    & (alias_events.c.alias == alias)
                    & (alias_events.c.action == "promote")
                    & (alias_events.c.to_version == current)
                )
                .order_by(alias_events.c.at_us.desc(), alias_events.c.id.desc())
                .limit(1)
            ).scalar()
            if came is None:
                raise ModelNotFoundError(
                    f"{name}@{alias} held no version before {current}; nothing to roll back "
                    "to. Fix: promote the version you want with `modelphase models promote`",
                    name=name,
                    version=current,
                )
            return self._move(
                conn, name, alias, current, came, "rollback", reason, False, evidence=evidence
            )

    def unset(
        self,
        name: str,
        alias: str,
        *,
        reason: str = "",
        evidence: Mapping[str, Any] | None = None,
    ) -> AliasEvent | None:
        """Remove ``alias`` (a shadow or canary that is done or rolled back); the event
        has no ``to_version``. None when the alias was not set."""
        require(self.principal, Role.DEPLOYER, "moving an alias")
        check_alias(alias)
        with self.db.write() as conn:
            self._lock_model(conn, name)
            current = self._alias_version(conn, name, alias)
            if current is None:
                return None
            return self._move(
                conn, name, alias, current, None, "unset", reason, False, evidence=evidence
            )

    def history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the aliases of ``name`` (or of one alias), oldest first."""
        require(self.principal, Role.VIEWER, "reading the registry")
        if alias is not None:
            check_alias(alias)
        with self.db.read() as conn:
            self._model_row(conn, name)
            return self._events(conn, name, alias=alias)

    def live(self, name: str, at: datetime | None = None) -> dict[str, int]:
        """Which version each alias of ``name`` pointed to at ``at`` (default: now)."""
        require(self.principal, Role.VIEWER, "reading the registry")
        with self.db.read() as conn:
            self._model_row(conn, name)
            until = epoch_us(at) if at is not None else None
            return live_at(self._events(conn, name, until=until))

    # -------------------------------------------------------------------- tokens

    def create_token(self, name: str, role: Role | str) -> tuple[TokenInfo, str]:
        """A new token: its record and its secret (shown once, stored hashed)."""
        require(self.principal, Role.ADMIN, "managing tokens")
        role = Role.parse(role) if isinstance(role, str) else role
        if not name.strip():
            raise ValidationError("expected a token name (who or what uses it), got ''")
        now = self._now_us()
        with self.db.write() as conn:
            return _insert_token(conn, name, role, self.principal.name, now)

    def tokens(self) -> list[TokenInfo]:
        require(self.principal, Role.ADMIN, "managing tokens")
        with self.db.read() as conn:
            rows = conn.execute(sa.select(tokens).order_by(tokens.c.created_at_us)).all()
        return [token_of(r) for r in rows]

    def revoke_token(self, token_id: str) -> TokenInfo:
        require(self.principal, Role.ADMIN, "managing tokens")
        with self.db.write() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).first()
            if row is None:
                raise ModelNotFoundError(
                    f"no token {token_id!r}. Fix: list them with `modelphase tokens list`",
                    name=token_id,
                )
            live_admin = row.revoked_at_us is None and row.role == Role.ADMIN.label
            if live_admin and _live_admins(conn, lock=True) == [row.id]:
                raise AccessError(
                    f"token {token_id} is the last live admin token; revoking it would "
                    "leave nobody able to manage this registry. Fix: create another "
                    "admin token first (`modelphase tokens create --role admin`)"
                )
            if row.revoked_at_us is None:
                conn.execute(
                    sa.update(tokens)
                    .where(tokens.c.id == token_id)
                    .values(revoked_at_us=self._now_us())
                )
            row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).one()
        return token_of(row)

    # ------------------------------------------------------------------ internals

    def _authenticate(self, token: str | None) -> Principal:
        if token is None:
            if self.db.embedded:
                return LOCAL_ADMIN
            raise AuthenticationError(
                "this shared registry needs a token. Fix: set MODELPHASE_TOKEN or "
                "MODELPHASE_TOKEN_FILE (or pass --token-file); its first admin token is made "
                "with `modelphase tokens bootstrap` by someone with the database's credentials"
            )
        return self.authenticate(token)

    def authenticate(self, token: str) -> Principal:
        """Who a token is (for a server checking its callers); an unknown, malformed or
        revoked token is an :class:`AuthenticationError`. Needs no role."""
        auth.check_format(token)
        hashed = auth.hash_token(token)
        with self.db.read() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.token_hash == hashed)).first()
        if (
            row is None
            or not auth.same_hash(row.token_hash, hashed)
            or row.revoked_at_us is not None
        ):
            # the same words for unknown and revoked: they tell a caller nothing
            raise AuthenticationError(
                "the token is not valid for this registry (unknown or revoked). Fix: check "
                "MODELPHASE_TOKEN or MODELPHASE_TOKEN_FILE, or ask an admin for a new one"
            )
        return Principal(row.name, Role.parse(row.role), row.id)

    def _now_us(self) -> int:
        return epoch_us(self._clock())

    def _move(
        self,
        conn: Connection,
        name: str,
        alias: str,
        current: int | None,
        version: int | None,
        action: str,
        reason: str,
        forced: bool,
        share: float | None = None,
        evidence: Mapping[str, Any] | None = None,
    ) -> AliasEvent:
        now = self._now_us()
        where = (aliases.c.name == name) & (aliases.c.alias == alias)
        if version is None:
            conn.execute(sa.delete(aliases).where(where))
        elif current is None:
            conn.execute(
                sa.insert(aliases).values(
                    name=name, alias=alias, version=version, updated_at_us=now, share=share
                )
            )
        else:
            conn.execute(
                sa.update(aliases)
                .where(where)
                .values(version=version, updated_at_us=now, share=share)
            )
        seen = dict(evidence) if evidence is not None else None
        event_id = conn.execute(
            sa.insert(alias_events)
            .values(
                name=name,
                alias=alias,
                action=action,
                from_version=current,
                to_version=version,
                actor=self.principal.name,
                actor_token=self.principal.token_id,
                at_us=now,
                reason=reason,
                forced=forced,
                share=share,
                evidence=dumps(seen, "evidence") if seen is not None else None,
            )
            .returning(alias_events.c.id)
        ).scalar_one()
        return AliasEvent(
            event_id, name, alias, action, current, version, self.principal.name,
            format_us(now) or "", reason, forced, self.principal.token_id, share, seen,
        )  # fmt: skip

    def _events(
        self, conn: Connection, name: str, *, alias: str | None = None, until: int | None = None
    ) -> list[AliasEvent]:
        query = sa.select(alias_events).where(alias_events.c.name == name)
        if alias is not None:
            query = query.where(alias_events.c.alias == alias)
        if until is not None:
            query = query.where(alias_events.c.at_us <= until)
        rows = conn.execute(query.order_by(alias_events.c.at_us, alias_events.c.id)).all()
        return [event_of(r) for r in rows]

    def _last_event(self, conn: Connection, name: str, alias: str) -> AliasEvent:
        return self._events(conn, name, alias=alias)[-1]

    def _model_row(self, conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(sa.select(models).where(models.c.name == name)).first()
        if row is None:
            raise ModelNotFoundError(
                f"no model {name!r} in the registry. Fix: list them with `modelphase models list`",
                name=name,
            )
        return row

    def _lock_model(self, conn: Connection, name: str) -> None:
        self._model_row(conn, name)
        conn.execute(sa.select(models.c.name).where(models.c.name == name).with_for_update())

    def _version_row(self, conn: Connection, name: str, version: int) -> Row[Any]:
        row = conn.execute(
            sa.select(versions).where((versions.c.name == name) & (versions.c.version == version))
        ).first()
        if row is None:
            latest = self._model_row(conn, name).latest_version
            raise ModelNotFoundError(
                f"{name} has no version {version} (versions 1..{latest}). Fix: see "
                f"`modelphase models show {name}`",
                name=name,
                version=version,
            )
        return row

    def _alias_share(self, conn: Connection, name: str, alias: str) -> float | None:
        return conn.execute(
            sa.select(aliases.c.share).where((aliases.c.name == name) & (aliases.c.alias == alias))
        ).scalar()

    def _alias_version(self, conn: Connection, name: str, alias: str) -> int | None:
        return conn.execute(
            sa.select(aliases.c.version).where(
                (aliases.c.name == name) & (aliases.c.alias == alias)
            )
        ).scalar()

    def _resolve(
        self, conn: Connection, name: str, version: int | None, alias: str | None
    ) -> Row[Any]:
        if alias is not None:
            check_alias(alias)
            held = self._alias_version(conn, name, alias)
            if held is None:
                self._model_row(conn, name)
                raise ModelNotFoundError(
                    f"{name}@{alias} is not set. Fix: promote a version to it with "
                    "`modelphase models promote`",
                    name=name,
                )
            version = held
        if version is None:
            version = self._model_row(conn, name).latest_version
        return self._version_row(conn, name, version)


def _live_admins(conn: Connection, *, lock: bool = False) -> list[str]:
    """The ids of the admin tokens not revoked; ``lock`` holds their rows until the
    transaction ends (two revocations at once cannot both leave the other as the last)."""
    query = (
        sa.select(tokens.c.id)
        .where((tokens.c.role == Role.ADMIN.label) & tokens.c.revoked_at_us.is_(None))
        .order_by(tokens.c.created_at_us)
    )
    return list(conn.execute(query.with_for_update() if lock else query).scalars())


def _insert_token(
    conn: Connection, name: str, role: Role, by: str, now: int
) -> tuple[TokenInfo, str]:
    if not name.strip():
        raise ValidationError("expected a token name (who or what uses it), got ''")
    secret = auth.new_secret()
    token_id = secrets.token_hex(6)
    conn.execute(
        sa.insert(tokens).values(
            id=token_id,
            name=name,
            role=role.label,
            token_hash=auth.hash_token(secret),
            created_by=by,
            created_at_us=now,
        )
    )
    return TokenInfo(token_id, name, role.label, by, format_us(now) or "", None), secret


def _insert_ignore(conn: Connection, name: str, now: int, actor: str) -> Any:
    values = {"name": name, "latest_version": 0, "created_at_us": now, "created_by": actor}
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(models).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(models).values(**values).on_conflict_do_nothing()
