"""What the server serves: for every model with a ``production`` alias, the versions its
``production``, ``canary`` and ``shadow`` aliases point to, loaded and ready.

:meth:`ModelTable.refresh` reads the registry's aliases, loads what is new (its
artifact verified by content hash before it is read; artifacts are data, never code),
keeps what is unchanged, and then replaces the whole table in one assignment: a request
that started on the old table finishes on it, the next one sees the new table, and none
waits or fails while a version loads. A version that fails to load is reported and its
alias keeps serving what it served before. :class:`Reloader` refreshes in a background
thread every few seconds, which is how an alias move takes effect without a restart.

The canary's share of traffic is the one the rollout set on its alias (the monitor's
canary steps); without one, its version's canary plan's: ``share`` (0-1), else
``traffic`` (percent), else the first of ``steps`` (percent), else 10%. The
latency budget is the spec's ``latency_budget``, or one fitted to the model's refit time
(:func:`latency_budget`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelphase.frame import parse_duration
from modelphase.registry import ModelRegistry, ModelVersion
from modelphase.serve.inputs import InputCheck
from modelphase.serve.predictors import FORECAST, SCORE, ForecastPredictor, Predictor, load
from modelphase.serve.resilience import CircuitBreaker

__all__ = ["ALIASES", "ModelTable", "Reloader", "Route", "Served"]

log = logging.getLogger("modelphase.serve")

ALIASES = ("production", "canary", "shadow")
DEFAULT_BUDGET_S = 0.05
#: a budget fitted to the model is this many times its measured refit time...
REFIT_MARGIN = 4.0
#: ...and at most this long
MAX_FITTED_BUDGET_S = 5.0
DEFAULT_CANARY_SHARE = 0.10


@dataclass
class Served:
    """One loaded version."""

    name: str
    version: int
    flavor: str
    predictor: Predictor
    budget_s: float
    canary_share: float
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    #: the breaker of its heavy requests (long histories): a version that overruns its
    #: budget on them keeps answering the rest
    heavy_breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    loaded_at: float = field(default_factory=time.time)
    #: the checks of a request's values (the spec's target.expect, the training ranges)
    inputs: InputCheck = field(default_factory=lambda: InputCheck(None, None))


@dataclass(frozen=True)
class Route:
    """The versions behind one model name, by alias."""

    name: str
    production: Served
    canary: Served | None = None
    shadow: Served | None = None
    #: the share the rollout set on the canary alias (None: the canary plan's)
    share: float | None = None

    @property
    def canary_share(self) -> float:
        if self.canary is None:
            return 0.0
        return self.share if self.share is not None else self.canary.canary_share

    def by_alias(self) -> dict[str, Served]:
        out = {"production": self.production}
        if self.canary is not None:
            out["canary"] = self.canary
        if self.shadow is not None:
            out["shadow"] = self.shadow
        return out


def canary_share(plan: Mapping[str, Any] | None) -> float:
    """The share of traffic a canary version gets from its plan (see the module)."""
    if not plan:
        return DEFAULT_CANARY_SHARE
    try:
        if "share" in plan:
            value = float(plan["share"])
        elif "traffic" in plan:
            value = float(plan["traffic"]) / 100.0
        elif plan.get("steps"):
            value = float(plan["steps"][0]) / 100.0
        else:
            return DEFAULT_CANARY_SHARE
    except (TypeError, ValueError):
        return DEFAULT_CANARY_SHARE
    return min(1.0, max(0.0, value))


def latency_budget(version: ModelVersion) -> float:
    """The spec's ``latency_budget``; unset, one that fits the model: ``REFIT_MARGIN``
    times the refit time training measured (its ``refit_p95_ms``), at least
    ``DEFAULT_BUDGET_S`` and at most ``MAX_FITTED_BUDGET_S``."""
    text = (version.spec or {}).get("latency_budget")
    if text:
        try:
            return parse_duration(str(text)) / 1e9
        except ValueError:
            return DEFAULT_BUDGET_S
    refit = (version.metrics or {}).get("refit_p95_ms")
    return fitted_budget(refit if isinstance(refit, int | float) else None)


def fitted_budget(refit_ms: float | None) -> float:
    """Seconds: ``REFIT_MARGIN`` times a measured refit time, within
    [``DEFAULT_BUDGET_S``, ``MAX_FITTED_BUDGET_S``]; the default without one."""
    if refit_ms is None or not refit_ms > 0:
        return DEFAULT_BUDGET_S
    return min(MAX_FITTED_BUDGET_S, max(DEFAULT_BUDGET_S, REFIT_MARGIN * refit_ms / 1000.0))


class ModelTable:
    """The routes the server answers from, refreshed from a registry."""

    def __init__(
        self, registry: ModelRegistry, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.registry = registry
        self.clock = clock  # the breakers' clock
        self.routes: dict[str, Route] = {}
        self.ready = False
        self.errors: dict[str, str] = {}  # "name vN" -> why it failed to load
        self.refreshes = 0
        self.failed_refreshes = 0
        self._loaded: dict[tuple[str, int], Served] = {}
        self._lock = threading.Lock()  # one refresh at a time

    def refresh(self) -> list[str]:
        """Bring the table up to the registry's aliases; return what changed."""
        with self._lock:
            try:
                changes = self._refresh()
            except Exception as exc:  # the registry is down: keep serving what we have
                self.failed_refreshes += 1
                log.warning("refreshing the served models failed: %s", exc)
                return []
            self.refreshes += 1
            self.ready = True
            return changes

    def _refresh(self) -> list[str]:
        routes: dict[str, Route] = {}
        loaded: dict[tuple[str, int], Served] = {}
        errors: dict[str, str] = {}
        for summary in self.registry.models():
            held = {a: summary.aliases[a] for a in ALIASES if a in summary.aliases}
            if "production" not in held:
                continue
            served: dict[str, Served] = {}
            old = self.routes.get(summary.name)
            for alias, version in held.items():
                key = (summary.name, version)
                item = loaded.get(key) or self._loaded.get(key)
                if item is None:
                    try:
                        item = self._load(summary.name, version)
                    except Exception as exc:
                        errors[f"{summary.name} v{version}"] = str(exc)
                        log.warning("could not load %s v%s: %s", summary.name, version, exc)
                        previous = old.by_alias().get(alias) if old is not None else None
                        if previous is None:
                            continue
                        item = previous
                loaded[(item.name, item.version)] = item
                served[alias] = item
            if "production" in served:
                routes[summary.name] = Route(
                    summary.name,
                    served["production"],
                    served.get("canary"),
                    served.get("shadow"),
                    summary.shares.get("canary"),
                )
        changes = _changes(self.routes, routes)
        self._loaded, self.errors = loaded, errors
        self.routes = routes  # one assignment: requests see the old table or the new one
        return changes

    def _load(self, name: str, version: int) -> Served:
        found = self.registry.get(name, version)
        if found.flavor not in (FORECAST, SCORE):
            raise ValueError(f"flavor {found.flavor!r} is not served")
        predictor = load(found, self.registry.load_artifact(name, version))
        return Served(
            name,
            version,
            found.flavor,
            predictor,
            latency_budget(found),
            canary_share(found.canary_plan),
            breaker=CircuitBreaker(clock=self.clock),
            heavy_breaker=CircuitBreaker(clock=self.clock),
            inputs=input_check(found, predictor),
        )


def input_check(version: ModelVersion, predictor: Predictor) -> InputCheck:
    """The request checks of a version: its spec's ``target.expect`` and, for a
    forecaster, the training range of each series (kept in its artifact's info)."""
    target = (version.spec or {}).get("target") or {}
    expect = target.get("expect") if isinstance(target, Mapping) else None
    ranges = None
    if isinstance(predictor, ForecastPredictor):
        found = predictor.model.info.get("ranges")
        ranges = found if isinstance(found, Mapping) else None
    return InputCheck(expect if isinstance(expect, Mapping) else None, ranges)


def _changes(old: Mapping[str, Route], new: Mapping[str, Route]) -> list[str]:
    out = []
    for name in sorted(set(old) | set(new)):
        before = {a: s.version for a, s in old[name].by_alias().items()} if name in old else {}
        after = {a: s.version for a, s in new[name].by_alias().items()} if name in new else {}
        shares = [r.canary_share if r is not None else 0.0 for r in (old.get(name), new.get(name))]
        if before != after:
            out.append(f"{name}: {before or '-'} -> {after or '-'}")
        elif shares[0] != shares[1]:
            out.append(f"{name}: canary share {shares[0]:.0%} -> {shares[1]:.0%}")
    return out


class Reloader:
    """Refresh a :class:`ModelTable` every ``interval`` seconds in a daemon thread."""

    def __init__(
        self,
        table: ModelTable,
        interval: float = 2.0,
        on_change: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.table = table
        self.interval = interval
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelphase-reload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            changes = self.table.refresh()
            if changes:
                log.info("served models changed: %s", "; ".join(changes))
                if self.on_change is not None:
                    self.on_change(changes)
