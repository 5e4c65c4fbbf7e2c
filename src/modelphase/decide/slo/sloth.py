"""Sloth's ``prometheus/v1`` SLO files, read as Sloth reads them.

The fields are Sloth's (``version``, ``service``, ``labels``, ``slos`` with ``name``,
``objective`` as a percentage, ``sli.events`` or ``sli.raw``, ``alerting`` with
``page_alert`` and ``ticket_alert``), plus what newer Sloth versions added: ``description``,
``infoLabels``, ``interval`` (rule group intervals), ``for`` on an alert (Sloth's
``alert_for`` plugin), and the older spelling ``errorRatioQuery``. Unknown fields are
ignored, as Sloth ignores them, with a note each; SLO plugins are not run (a note), and
an SLI plugin is an error (its query is Go code modelphase cannot run).

>>> found = parse_sloth({
...     "version": "prometheus/v1", "service": "api", "labels": {"team": "a"},
...     "slos": [{"name": "availability", "objective": 99.9,
...               "sli": {"events": {"error_query": "sum(rate(e[{{.window}}]))",
...                                  "total_query": "sum(rate(t[{{.window}}]))"}},
...               "alerting": {"name": "ApiAvailability",
...                            "page_alert": {"labels": {"severity": "critical"}},
...                            "ticket_alert": {"disable": True}}}]}, "slo.yaml")
>>> slo = found.slos[0]
>>> slo.id, slo.labels, slo.page.labels, slo.ticket.disabled
('api-availability', {'team': 'a'}, {'severity': 'critical'}, True)
"""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic import AliasChoices, Field, field_validator, model_validator

from modelphase.decide.slo._errors import (
    Problem,
    check_labels,
    from_pydantic,
    raise_problems,
    strip_unknown,
)
from modelphase.decide.slo._fields import (
    MAX_SLOS,
    LabelValue,
    Name,
    Query,
    Strict,
    duration_seconds,
)
from modelphase.decide.slo.model import SLI, SLO, AlertMeta, SloFile

__all__ = ["SLOTH_VERSION", "parse_sloth"]

SLOTH_VERSION = "prometheus/v1"
Labels = dict[str, LabelValue] | None


class _Events(Strict):
    error_query: Query
    total_query: Query


class _Raw(Strict):
    error_ratio_query: Query = Field(
        validation_alias=AliasChoices("error_ratio_query", "errorRatioQuery")
    )


class _Plugin(Strict):
    id: str = ""
    options: dict[str, Any] | None = None


class _SLI(Strict):
    events: _Events | None = None
    raw: _Raw | None = None
    plugin: _Plugin | None = None

    @model_validator(mode="after")
    def _one(self) -> _SLI:
        if self.plugin is not None:
            raise ValueError(
                f"expected sli.events or sli.raw, got the SLI plugin {self.plugin.id!r}. "
                "Fix: write the plugin's query as sli.raw.error_ratio_query (modelphase "
                "does not run Sloth's Go plugins)"
            )
        given = [k for k in ("events", "raw") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"expected exactly one of events or raw, got {' and '.join(given) or 'neither'}"
                ". Fix: keep one SLI type"
            )
        return self


class _Alert(Strict):
    disable: bool = False
    labels: Labels = None
    annotations: Labels = None
    for_: str | None = Field(default=None, alias="for")

    @field_validator("for_")
    @classmethod
    def _for(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value, zero=True)
        return value


class _Alerting(Strict):
    name: str = ""
    labels: Labels = None
    annotations: Labels = None
    page_alert: _Alert = Field(default_factory=_Alert)
    ticket_alert: _Alert = Field(default_factory=_Alert)


class _Interval(Strict):
    all: str | None = None
    slierror: str | None = None
    metadata: str | None = None
    alert: str | None = None

    @field_validator("all", "slierror", "metadata", "alert")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)
        return value


class _SLO(Strict):
    name: Name
    objective: float = Field(allow_inf_nan=False)
    description: str = ""
    labels: Labels = None
    info_labels: Labels = Field(default=None, alias="infoLabels")
    sli: _SLI
    alerting: _Alerting = Field(default_factory=_Alerting)
    interval: _Interval | None = None
    plugins: Any = None

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: float) -> float:
        if not 0 < value < 100:
            raise ValueError(
                f"expected a percentage strictly between 0 and 100 (Sloth's objective: "
                f"99.9 means 99.9%), got {value:g}. Fix: write the objective as a "
                "percentage below 100, e.g. 99.9"
            )
        return value


class _Spec(Strict):
    version: str
    service: Name
    labels: Labels = None
    slos: list[_SLO] = Field(min_length=1, max_length=MAX_SLOS)
    slo_plugins: Any = Field(
        default=None, validation_alias=AliasChoices("slo_plugins", "sloPlugins")
    )


def parse_sloth(data: Any, source: str) -> SloFile:
    """The SLOs of a Sloth ``prometheus/v1`` document (already read from YAML);
    raise :class:`~modelphase.exceptions.SloSpecError` naming every problem."""
    notes: list[str] = []
    version = data.get("version") if isinstance(data, dict) else None
    if version != SLOTH_VERSION:
        raise_problems(
            source,
            [
                Problem(
                    "version",
                    f'"{SLOTH_VERSION}" (Sloth\'s SLO format)',
                    repr(version) if version is not None else "nothing",
                    f'write version: "{SLOTH_VERSION}" (the only Sloth format there is)',
                )
            ],
        )
    try:
        spec = _Spec.model_validate(strip_unknown(data, _Spec, "", notes))
    except pydantic.ValidationError as exc:
        raise_problems(source, from_pydantic(exc), hints=notes)
        raise AssertionError("unreachable") from None
    problems = list(check_labels(spec.labels or {}, "labels"))
    slos = []
    seen: set[str] = set()
    if spec.slo_plugins is not None:
        notes.append("slo_plugins: Sloth's SLO plugins are not run (alert `for` is applied)")
    for i, item in enumerate(spec.slos):
        path = f"slos.{i}"
        if item.name in seen:
            problems.append(
                Problem(f"{path}.name", "a name no other SLO has", repr(item.name), "rename it")
            )
        seen.add(item.name)
        problems.extend(_check(item, path))
        if item.plugins is not None:
            notes.append(f"{path}.plugins: Sloth's SLO plugins are not run")
        if item.objective < 1:
            notes.append(
                f"{path}.objective: {item.objective!r} is read as {item.objective!r}% "
                f"(Sloth writes percentages); for {item.objective * 100:g}% write "
                f"{item.objective * 100:g}"
            )
        slos.append(_slo(spec, item))
    raise_problems(source, problems, hints=notes)
    return SloFile(slos=tuple(slos), spec=SLOTH_VERSION, notes=tuple(notes))


def _check(item: _SLO, path: str) -> list[Problem]:
    alerting = item.alerting
    problems = list(check_labels(item.labels or {}, f"{path}.labels"))
    problems += check_labels(item.info_labels or {}, f"{path}.infoLabels")
    problems += check_labels(alerting.labels or {}, f"{path}.alerting.labels")
    problems += check_labels(
        alerting.annotations or {}, f"{path}.alerting.annotations", annotations=True
    )
    for key in ("page_alert", "ticket_alert"):
        alert: _Alert = getattr(alerting, key)
        where = f"{path}.alerting.{key}"
        problems += check_labels(alert.labels or {}, f"{where}.labels")
        problems += check_labels(alert.annotations or {}, f"{where}.annotations", annotations=True)
    enabled = not (alerting.page_alert.disable and alerting.ticket_alert.disable)
    if enabled and not alerting.name.strip():
        problems.append(
            Problem(
                f"{path}.alerting.name",
                "the alerts' name (an enabled page or ticket alert needs one)",
                "nothing",
                "name the alerts, or set disable: true on page_alert and ticket_alert",
            )
        )
    return problems


def _slo(spec: _Spec, item: _SLO) -> SLO:
    alerting = item.alerting
    intervals = {}
    if item.interval is not None:
        for group in ("slierror", "metadata", "alert"):
            text = getattr(item.interval, group) or item.interval.all
            if text is not None:
                intervals[group] = duration_seconds(text)

    def alert(meta: _Alert) -> AlertMeta:
        return AlertMeta(
            name=alerting.name,
            labels={**(alerting.labels or {}), **(meta.labels or {})},
            annotations={**(alerting.annotations or {}), **(meta.annotations or {})},
            for_seconds=duration_seconds(meta.for_, zero=True) if meta.for_ else 0,
            disabled=meta.disable,
        )

    if item.sli.events is not None:
        sli = SLI(error_query=item.sli.events.error_query, total_query=item.sli.events.total_query)
    else:
        assert item.sli.raw is not None
        sli = SLI(error_ratio_query=item.sli.raw.error_ratio_query)
    return SLO(
        service=spec.service,
        name=item.name,
        objective=item.objective,
        sli=sli,
        page=alert(alerting.page_alert),
        ticket=alert(alerting.ticket_alert),
        labels={**(spec.labels or {}), **(item.labels or {})},
        info_labels=dict(item.info_labels or {}),
        description=item.description,
        intervals=intervals,
        spec=SLOTH_VERSION,
    )
