"""What a monitor pass reports: per model, its verdict, why, what was done and the
numbers; over every model, the exit code of ``modelphase monitor run --once``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ACTED", "DEGRADED", "HEALTHY", "ModelReport", "MonitorReport"]

#: exit codes of ``modelphase monitor run --once``
HEALTHY, DEGRADED, ACTED = 0, 3, 5


@dataclass
class ModelReport:
    """One model's pass: its verdict, why, what was done, and the numbers."""

    name: str
    version: int | None
    phase: str
    verdict: str  # healthy, degraded, unknown
    reasons: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MonitorReport:
    """A pass over every model; :attr:`exit_code` is the command's."""

    models: list[ModelReport]
    holder: str
    lease: bool
    seconds: float = 0.0
    note: str = ""

    @property
    def acted(self) -> bool:
        return any(m.actions for m in self.models)

    @property
    def degraded(self) -> bool:
        return any(m.verdict == "degraded" for m in self.models)

    @property
    def exit_code(self) -> int:
        return ACTED if self.acted else DEGRADED if self.degraded else HEALTHY

    def to_dict(self) -> dict[str, Any]:
        status = {ACTED: "acted", DEGRADED: "degraded", HEALTHY: "healthy"}[self.exit_code]
        return {
            "status": status,
            "exit_code": self.exit_code,
            "holder": self.holder,
            "lease": self.lease,
            "note": self.note,
            "seconds": round(self.seconds, 3),
            "models": [m.to_dict() for m in self.models],
        }
