"""The SLO model both file formats (Sloth ``prometheus/v1``, OpenSLO ``openslo/v1``) map
to, and that the rule and test generators read.

The objective is kept as Sloth keeps it, a percentage (99.9), so that the numbers in
the generated rules are Sloth's to the last digit:

>>> slo = SLO(
...     service="myservice",
...     name="requests-availability",
...     objective=99.9,
...     sli=SLI(error_query="sum(rate(e[{{.window}}]))", total_query="sum(rate(t[{{.window}}]))"),
...     page=AlertMeta(name="MyServiceHighErrorRate", labels={"severity": "page"}),
...     ticket=AlertMeta(name="MyServiceHighErrorRate", labels={"severity": "ticket"}),
... )
>>> slo.id, slo.objective_ratio, slo.error_budget
('myservice-requests-availability', 0.9990000000000001, 0.0009999999999999432)
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SLI", "SLO", "AlertMeta", "SloFile"]


@dataclass(frozen=True)
class SLI:
    """How bad the service was over a window, as PromQL with ``{{.window}}`` in it.

    Events: ``error_query / total_query`` (bad and all events, usually rates). Raw:
    ``error_ratio_query``, already a ratio of bad events; ``total_query`` may still be
    given (OpenSLO's good/total become a raw ratio and keep their total), and only
    then can the low-traffic guard count events.
    """

    error_query: str | None = None
    total_query: str | None = None
    error_ratio_query: str | None = None

    @property
    def kind(self) -> str:
        """``events`` or ``raw``."""
        return "raw" if self.error_ratio_query is not None else "events"


@dataclass(frozen=True)
class AlertMeta:
    """One of an SLO's two alerts (page or ticket): its name, labels and annotations
    (the SLO's ``alerting`` ones merged with the alert's own), ``for`` in seconds."""

    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    for_seconds: int = 0
    disabled: bool = False


@dataclass(frozen=True)
class SLO:
    """A service level objective: the SLI, the objective (a percentage, as Sloth writes
    it), the labels every rule gets, and the page and ticket alerts.

    ``period`` (seconds) is the SLO's own period when its file gives one (OpenSLO's
    ``timeWindow``); None means the caller's default (``--period``). ``intervals``
    maps Sloth's rule groups (``slierror``, ``metadata``, ``alert``) to the seconds
    between their evaluations, when the file sets them.
    """

    service: str
    name: str
    objective: float
    sli: SLI
    page: AlertMeta = field(default_factory=AlertMeta)
    ticket: AlertMeta = field(default_factory=AlertMeta)
    labels: dict[str, str] = field(default_factory=dict)
    info_labels: dict[str, str] = field(default_factory=dict)
    description: str = ""
    period: int | None = None
    intervals: dict[str, int] = field(default_factory=dict)
    spec: str = "prometheus/v1"

    @property
    def id(self) -> str:
        """``<service>-<name>``: Sloth's ``sloth_id``, unique within a rule file."""
        return f"{self.service}-{self.name}"

    @property
    def objective_ratio(self) -> float:
        """The objective as a ratio (99.9 -> 0.999), computed as Sloth does."""
        return self.objective / 100

    @property
    def error_budget(self) -> float:
        """The error budget as a ratio (99.9 -> 0.001), computed as Sloth does."""
        return (100 - self.objective) / 100

    @property
    def id_labels(self) -> dict[str, str]:
        """The labels that name the SLO in every rule: ``sloth_id``, ``sloth_service``,
        ``sloth_slo``."""
        return {"sloth_id": self.id, "sloth_service": self.service, "sloth_slo": self.name}


@dataclass(frozen=True)
class SloFile:
    """What a file held: its SLOs, its format (``prometheus/v1`` or ``openslo/v1``) and
    notes about what was read differently from the letter of the file (fields ignored,
    labels renamed), for a person to read."""

    slos: tuple[SLO, ...]
    spec: str
    notes: tuple[str, ...] = ()
