"""What the monitor keeps in the registry database: each model's rollout state, the
lease that lets one monitor act at a time, and the health verdicts.

The state of a model is one row written by compare-and-set on its ``revision``: a
monitor that read an old state cannot overwrite a newer one. A move the monitor is about
to make is written into the state first (``pending``) and cleared once it is done; the
moves themselves are idempotent (promoting to the version an alias holds changes
nothing, unsetting an unset alias changes nothing), so a monitor killed between the two
finishes the move on its next pass and never makes it twice.

The lease is a row with a holder and an expiry: :meth:`MonitorStore.acquire` takes it
when it is free, expired or already ours, in one write transaction, so two monitors on
one registry never both hold it. The times are the registry's clock (injectable).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from modelphase.exceptions import StateConflictError
from modelphase.registry.auth import Role, require
from modelphase.registry.records import format_us
from modelphase.registry.registry import Registry
from modelphase.registry.schema import health, monitor_leases, monitor_state

__all__ = ["PHASES", "HealthRecord", "MonitorState", "MonitorStore"]

#: the phases of a model's rollout
PHASES = ("idle", "retraining", "shadow", "canary")


@dataclass(frozen=True)
class MonitorState:
    """A model's rollout: ``phase`` (:data:`PHASES`), the candidate ``version`` and the
    canary ``step`` it is at, ``since_us`` (when the phase or step began), ``data``
    (plain JSON: the trigger, a pending move, the last verdict) and ``revision``."""

    name: str
    phase: str = "idle"
    version: int | None = None
    step: int = 0
    since_us: int = 0
    updated_at_us: int = 0
    revision: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["since"] = format_us(self.since_us) if self.since_us else None
        return out


@dataclass(frozen=True)
class HealthRecord:
    """One verdict on a model's production version."""

    name: str
    version: int | None
    at: str
    verdict: str
    actor: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CONFLICT = (
    "{}: the monitor's state was written by another monitor since it was read. Fix: "
    "nothing; the next pass reads it again"
)


class MonitorStore:
    """The monitor's tables of a :class:`Registry` (its database, principal and clock).
    Reading needs a viewer token, writing a deployer's."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.db = registry.db

    # ------------------------------------------------------------------ state

    def state(self, name: str) -> MonitorState:
        """The model's state (idle at revision 0 when the monitor never wrote one)."""
        require(self.registry.principal, Role.VIEWER, "reading the registry")
        with self.db.read() as conn:
            row = conn.execute(sa.select(monitor_state).where(monitor_state.c.name == name)).first()
        return _state(row) if row is not None else MonitorState(name)

    def states(self) -> list[MonitorState]:
        require(self.registry.principal, Role.VIEWER, "reading the registry")
        with self.db.read() as conn:
            rows = conn.execute(sa.select(monitor_state).order_by(monitor_state.c.name)).all()
        return [_state(r) for r in rows]

    def save(self, state: MonitorState) -> MonitorState:
        """Write ``state`` if the stored one is still at ``state.revision``; return it at
        its new revision. Raises :class:`StateConflictError` otherwise."""
        require(self.registry.principal, Role.DEPLOYER, "writing the monitor's state")
        if state.phase not in PHASES:
            raise ValueError(f"phase: expected one of {', '.join(PHASES)}, got {state.phase!r}")
        now = self.registry._now_us()
        since = state.since_us or now
        values = {
            "phase": state.phase,
            "version": state.version,
            "step": state.step,
            "since_us": since,
            "updated_at_us": now,
            "revision": state.revision + 1,
            "data": json.dumps(state.data, sort_keys=True, allow_nan=False),
        }
        with self.db.write() as conn:
            if state.revision == 0:
                exists = conn.execute(
                    sa.select(monitor_state.c.revision).where(monitor_state.c.name == state.name)
                ).scalar()
                if exists is not None:
                    raise StateConflictError(_CONFLICT.format(state.name))
                conn.execute(sa.insert(monitor_state).values(name=state.name, **values))
            else:
                done = conn.execute(
                    sa.update(monitor_state)
                    .where(
                        (monitor_state.c.name == state.name)
                        & (monitor_state.c.revision == state.revision)
                    )
                    .values(**values)
                )
                if done.rowcount != 1:
                    raise StateConflictError(_CONFLICT.format(state.name))
        return MonitorState(
            state.name, state.phase, state.version, state.step, since, now,
            state.revision + 1, dict(state.data),
        )  # fmt: skip

    # ------------------------------------------------------------------ lease

    def acquire(self, holder: str, ttl_s: float, lease: str = "monitor") -> bool:
        """Take or renew ``lease`` for ``ttl_s`` seconds if it is free, expired or
        ``holder``'s already; False when another holder has it."""
        require(self.registry.principal, Role.DEPLOYER, "taking the monitor's lease")
        now = self.registry._now_us()
        until = now + int(ttl_s * 1e6)
        try:
            with self.db.write() as conn:
                row = conn.execute(
                    sa.select(monitor_leases)
                    .where(monitor_leases.c.lease == lease)
                    .with_for_update()
                ).first()
                if row is None:
                    conn.execute(
                        sa.insert(monitor_leases).values(
                            lease=lease, holder=holder, acquired_at_us=now, expires_at_us=until
                        )
                    )
                    return True
                if row.holder != holder and row.expires_at_us > now:
                    return False
                acquired = row.acquired_at_us if row.holder == holder else now
                conn.execute(
                    sa.update(monitor_leases)
                    .where(monitor_leases.c.lease == lease)
                    .values(holder=holder, acquired_at_us=acquired, expires_at_us=until)
                )
                return True
        except IntegrityError:  # another monitor inserted it first (PostgreSQL)
            return False

    def release(self, holder: str, lease: str = "monitor") -> None:
        """Give ``lease`` up if ``holder`` has it."""
        require(self.registry.principal, Role.DEPLOYER, "releasing the monitor's lease")
        with self.db.write() as conn:
            conn.execute(
                sa.delete(monitor_leases).where(
                    (monitor_leases.c.lease == lease) & (monitor_leases.c.holder == holder)
                )
            )

    def lease(self, lease: str = "monitor") -> dict[str, Any] | None:
        """Who holds ``lease`` and until when (None: nobody ever took it)."""
        require(self.registry.principal, Role.VIEWER, "reading the registry")
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(monitor_leases).where(monitor_leases.c.lease == lease)
            ).first()
        if row is None:
            return None
        return {
            "holder": row.holder,
            "acquired_at": format_us(row.acquired_at_us),
            "expires_at": format_us(row.expires_at_us),
            "expired": row.expires_at_us <= self.registry._now_us(),
        }

    # ----------------------------------------------------------------- health

    def record_health(
        self, name: str, version: int | None, verdict: str, evidence: dict[str, Any]
    ) -> HealthRecord:
        require(self.registry.principal, Role.DEPLOYER, "recording a health verdict")
        now = self.registry._now_us()
        text = json.dumps(evidence, sort_keys=True, allow_nan=False, default=str)
        with self.db.write() as conn:
            conn.execute(
                sa.insert(health).values(
                    name=name,
                    version=version,
                    at_us=now,
                    verdict=verdict,
                    actor=self.registry.principal.name,
                    evidence=text,
                )
            )
        return HealthRecord(
            name, version, format_us(now) or "", verdict, self.registry.principal.name,
            json.loads(text),
        )  # fmt: skip

    def health(self, name: str, limit: int = 20) -> list[HealthRecord]:
        """The latest ``limit`` verdicts on ``name``, newest first."""
        require(self.registry.principal, Role.VIEWER, "reading the registry")
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(health)
                .where(health.c.name == name)
                .order_by(health.c.at_us.desc(), health.c.id.desc())
                .limit(max(1, min(int(limit), 1000)))
            ).all()
        return [_health(r) for r in rows]


def _state(row: Any) -> MonitorState:
    return MonitorState(
        row.name,
        row.phase,
        row.version,
        int(row.step),
        int(row.since_us),
        int(row.updated_at_us),
        int(row.revision),
        json.loads(row.data),
    )


def _health(row: Any) -> HealthRecord:
    return HealthRecord(
        row.name,
        row.version,
        format_us(row.at_us) or "",
        row.verdict,
        row.actor,
        json.loads(row.evidence),
    )
