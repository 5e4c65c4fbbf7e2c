"""Recorded incidents and their confirmed root causes, as files under the home folder.

``<home>/triage/incidents/<id>.json`` is what triage answered during the incident
(``modelphase triage ... --incident ID``): when, from what, and the ranking's top.
``<home>/triage/confirmed/<id>.json`` is the postmortem's finding (``modelphase triage
confirm ID --service S``): one file per incident, so confirming again replaces the
finding. Every write is atomic (a temporary file, synced, renamed): a crash leaves the
previous file. Files are plain JSON a person can read and a ticket system can write.

A confirmation may name an incident that triage never recorded (the incident was
handled before modelphase was in use): the finding still teaches the base rate.
Reading the confirmations skips, with a warning, any file that does not parse, so one
bad file never stops triage; at most :data:`MAX_CONFIRMATIONS` of the newest are read.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from modelphase.config import get_settings
from modelphase.decide.triage_feedback import Confirmation, check_incident_id
from modelphase.exceptions import ValidationError
from modelphase.files import write_atomic

__all__ = ["MAX_CONFIRMATIONS", "MAX_NOTE_CHARS", "IncidentStore"]

#: confirmations read for feedback (the newest)
MAX_CONFIRMATIONS = 10_000
#: characters of a confirmation's note
MAX_NOTE_CHARS = 2_000
#: bytes of one stored file that is read back
_MAX_FILE_BYTES = 4_000_000


class IncidentStore:
    """The incidents and confirmations in ``root`` (``<home>/triage`` unless given)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else get_settings().home / "triage"

    def _incident(self, incident: str) -> Path:
        return self.root / "incidents" / f"{check_incident_id(incident)}.json"

    def _confirmed(self, incident: str) -> Path:
        return self.root / "confirmed" / f"{check_incident_id(incident)}.json"

    def record(self, incident: str, payload: dict[str, Any]) -> Path:
        """Store what triage answered for ``incident`` (replacing an earlier answer)."""
        path = self._incident(incident)
        body = {"incident": incident, **payload}
        write_atomic(path, json.dumps(body, indent=1, allow_nan=False) + "\n")
        return path

    def incident(self, incident: str) -> dict[str, Any]:
        """The recorded answer for ``incident``; :class:`ValidationError` if none."""
        path = self._incident(incident)
        if not path.is_file():
            raise ValidationError(
                f"incident {incident!r}: not recorded in {self.root}",
                hint="run triage with --incident ID to record one (or confirm it anyway)",
            )
        return _read(path)

    def confirm(self, confirmation: Confirmation) -> Path:
        """Store (or replace) the postmortem's finding for its incident."""
        check_incident_id(confirmation.incident)
        if not confirmation.service.strip():
            raise ValidationError(
                "the confirmed root cause: expected a service name, got an empty one",
                hint="pass --service NAME as triage ranked it",
            )
        if len(confirmation.note) > MAX_NOTE_CHARS:
            raise ValidationError(
                f"--note: expected at most {MAX_NOTE_CHARS:,} characters, got "
                f"{len(confirmation.note):,}",
                hint="link the postmortem instead of pasting it",
            )
        path = self._confirmed(confirmation.incident)
        write_atomic(path, json.dumps(asdict(confirmation), indent=1, allow_nan=False) + "\n")
        return path

    def confirmations(self) -> tuple[list[Confirmation], list[str]]:
        """The stored confirmations (the newest :data:`MAX_CONFIRMATIONS`, oldest first)
        and a warning for each file skipped."""
        folder = self.root / "confirmed"
        if not folder.is_dir():
            return [], []
        found: list[Confirmation] = []
        warnings: list[str] = []
        for path in sorted(folder.glob("*.json")):
            try:
                found.append(_confirmation(_read(path)))
            except (ValidationError, OSError, TypeError, KeyError) as exc:
                warnings.append(f"skipped {path.name}: {str(exc).splitlines()[0]}")
        found.sort(key=lambda c: (c.confirmed_at or 0.0, c.incident))
        return found[-MAX_CONFIRMATIONS:], warnings

    def incidents(self) -> list[dict[str, Any]]:
        """Every recorded incident's answer, by time of the incident."""
        folder = self.root / "incidents"
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.json")):
            try:
                out.append(_read(path))
            except (ValidationError, OSError):
                continue
        return sorted(out, key=lambda d: (float(d.get("at") or 0.0), str(d.get("incident"))))


def _read(path: Path) -> dict[str, Any]:
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise ValidationError(f"{path.name}: larger than {_MAX_FILE_BYTES:,} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path.name}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path.name}: expected a JSON object")
    return data


def _confirmation(data: dict[str, Any]) -> Confirmation:
    at = data.get("confirmed_at")
    if at is not None and not (isinstance(at, int | float) and math.isfinite(at)):
        raise ValidationError("confirmed_at: expected Unix seconds")
    metric = data.get("metric")
    return Confirmation(
        incident=check_incident_id(str(data["incident"])),
        service=str(data["service"]),
        metric=None if metric is None else str(metric),
        confirmed_at=None if at is None else float(at),
        note=str(data.get("note", "")),
    )
