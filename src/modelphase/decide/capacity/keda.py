"""KEDA and HPA manifests that scale a Deployment on modelphase's capacity plan
(``modelphase capacity keda``). Pure: settings in, manifests (dicts) and YAML text out.

The server exports the plan as Prometheus gauges (``modelphase_capacity_recommended_replicas
{service="S"}``: the replicas to run now, start-up delay and clamp already applied);
Prometheus scrapes them; KEDA's ``prometheus`` scaler (or, without KEDA, the HPA through
prometheus-adapter's external metrics) reads them back, and the HPA scales.

**Why AverageValue with a target of 1.** For an External metric with an ``AverageValue``
target the HPA asks for ``ceil(value / target)`` replicas whatever runs now (its ratio
``value / (target x current)`` times ``current``), so a metric whose value *is* a replica
count, with a target of 1, puts the Deployment at that count. A ``Value`` target would
multiply by the current replicas instead. The HPA keeps the count unchanged while the
ratio is within its tolerance (10% by default): at 20 replicas a plan of 21 waits until
it is 23; ``tolerance`` sets ``behavior.*.tolerance`` (Kubernetes >= 1.33, behind the
``HPAConfigurableTolerance`` feature gate) where that matters.

**The clamp, in the cluster** (:mod:`.clamp` applies it in the server; the manifest
applies it again so that it holds when the server is down or wrong):

- the peak cap lives in the plan trigger's PromQL: ``min(plan, ceil(max_factor x
  ceil(max_over_time(demand[1h]) / capacity)))``, the demand query the user's;
- the reactive floor is a second trigger, the demand per replica with a target of
  ``capacity / (1 - margin)``: the HPA runs the largest of its triggers' answers, so it
  never goes below ``ceil((1 - margin) x demand / capacity)`` (at most the server's
  floor, ``ceil((1 - margin) x ceil(demand / capacity))``), whatever the plan says;
- an optional CPU trigger adds the classic reactive HPA on top.

**When modelphase is down.** Prometheus marks the plan's series stale at the first
failed scrape, so the plan query falls back in PromQL to the full reactive answer
(``... or on() ceil(demand / capacity)``): the Deployment scales like a reactive HPA.
When Prometheus itself does not answer (or neither series exists), the scaler fails and
after ``failure_threshold`` polls KEDA's ``fallback`` holds ``max(current replicas,
fallback_replicas)`` (``behavior: currentReplicasIfHigher``, KEDA >= 2.17): nothing is
scaled down blind. Older KEDA drops that field and goes to ``fallback_replicas`` itself.

**Safe by construction.** Names are checked as Kubernetes names (RFC 1123 labels and
subdomains), the service is quoted as a PromQL string, the demand query is refused
unless its brackets balance outside string literals and it has no comment (a ``#``
would swallow the closing brackets written after it), the Prometheus address may carry
no credentials (use a TriggerAuthentication), and the YAML is written by PyYAML's safe
dumper.

>>> spec = Autoscaling(service="checkout", deployment="checkout",
...                    demand_query='sum(rate(http_requests_total{job="checkout"}[1m]))',
...                    capacity=50.0)
>>> so = scaled_object(spec)
>>> [t["name"] for t in so["spec"]["triggers"]], so["spec"]["triggers"][1]["metadata"]["threshold"]
(['modelphase-plan', 'modelphase-reactive'], '62.5')
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from modelphase.decide.capacity.clamp import Clamp
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, format_duration
from modelphase.limits import MAX_QUERY_CHARS

__all__ = [
    "CAPACITY_METRIC",
    "FORECAST_METRIC",
    "KINDS",
    "RECOMMENDED_METRIC",
    "Autoscaling",
    "check_query",
    "dump_manifests",
    "header",
    "horizontal_pod_autoscaler",
    "manifests",
    "plan_query",
    "promql_string",
    "reactive_query",
    "scaled_object",
]

#: the gauges the server exports (every one labelled ``service``)
RECOMMENDED_METRIC = "modelphase_capacity_recommended_replicas"
FORECAST_METRIC = "modelphase_capacity_demand_forecast"
CAPACITY_METRIC = "modelphase_capacity_replica_capacity"
#: what ``modelphase capacity keda`` can write
KINDS = ("scaledobject", "hpa", "both")
DEFAULT_PROMETHEUS = "http://prometheus:9090"

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_MANAGED = {"app.kubernetes.io/managed-by": "modelphase"}
_CLOSE = {")": "(", "]": "[", "}": "{"}


def _k8s_name(value: object, option: str, *, subdomain: bool = False) -> str:
    """``value`` if it is an RFC 1123 label (namespaces, most names: ``a-z``, ``0-9``
    and ``-``, at most 63, alphanumeric ends) or, with ``subdomain``, labels joined by
    ``.`` (Deployment names, at most 253)."""
    size, what = (
        (253, "subdomain: a-z, 0-9, '-', '.'") if subdomain else (63, "label: a-z, 0-9, '-'")
    )
    parts = value.split(".") if isinstance(value, str) and subdomain else [value]
    if (
        not isinstance(value, str)
        or len(value) > size
        or not all(isinstance(p, str) and _LABEL.fullmatch(p) for p in parts)
    ):
        raise ValidationError(
            f"{option}: expected a Kubernetes name (RFC 1123 {what}; at most {size}, "
            f"alphanumeric ends), got {repr(value)[:80]}",
            hint=f"pass the name as kubectl shows it, e.g. {option} checkout-api",
        )
    return value


def promql_string(value: str) -> str:
    r"""``value`` as a double-quoted PromQL string literal (Go's escapes): ``\``, ``"``
    and control characters escaped, so that no value can end the string early.

    >>> print(promql_string('say "hi"'))
    "say \"hi\""
    """
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _code(text: str) -> tuple[list[tuple[int, str]], str]:
    """The characters of ``text`` outside PromQL string literals (``"..."``, ``'...'``
    with backslash escapes, raw ```...```), with their positions, and the quote of a
    string still open at the end ("" when none is)."""
    code: list[tuple[int, str]] = []
    quote, escaped = "", False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote != "`":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
        else:
            code.append((i, ch))
    return code, quote


def check_query(query: object, option: str = "--demand-query") -> str:
    """A PromQL expression that can be wrapped in brackets safely, stripped: at most
    ``MAX_QUERY_CHARS``, no control characters but newlines and tabs, brackets that
    balance outside string literals, no unterminated string, no ``#`` comment."""
    if not isinstance(query, str) or not query.strip():
        raise ValidationError(
            f"{option}: expected a PromQL expression, got {query!r}",
            hint=f"pass e.g. {option} 'sum(rate(http_requests_total{{job=\"api\"}}[1m]))'",
        )
    text = query.strip()
    if len(text) > MAX_QUERY_CHARS:
        raise ValidationError(
            f"{option}: expected at most {MAX_QUERY_CHARS:,} characters, got {len(text):,}"
        )
    for i, ch in enumerate(text):
        if (ord(ch) < 0x20 and ch not in "\n\t") or ord(ch) == 0x7F:
            raise ValidationError(f"{option}: expected no control characters, got one at {i}")
    code, quote = _code(text)
    stack: list[str] = []
    for i, ch in code:
        if ch == "#":
            raise ValidationError(
                f"{option}: expected no comment, got '#' at {i}",
                hint="remove the comment (it would swallow the brackets written after it)",
            )
        if ch in "([{":
            stack.append(ch)
        elif ch in _CLOSE and (not stack or stack.pop() != _CLOSE[ch]):
            raise ValidationError(
                f"{option}: expected balanced brackets, got an unmatched {ch!r} at {i}",
                hint="check the query with promtool or in the Prometheus UI",
            )
    if quote or stack:
        what = f"an unterminated {quote}string" if quote else f"an unclosed {stack[-1]!r}"
        raise ValidationError(
            f"{option}: expected a complete expression, got {what}",
            hint="check the query with promtool or in the Prometheus UI",
        )
    return text


def _num(x: float) -> str:
    """A number as PromQL reads it: ``50`` rather than ``50.0``."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _milli(x: float) -> str:
    """A Kubernetes quantity at KEDA's precision (thousandths): ``62.5``."""
    return f"{round(x, 3):.3f}".rstrip("0").rstrip(".")


def _whole(value: object, option: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(
            f"{option}: expected a whole number in [{low}, {high}], got {value!r}"
        )
    return value


@dataclass(frozen=True)
class Autoscaling:
    """What the manifests say: the plan's ``service`` (the ``service`` label of the
    server's metrics), the ``deployment`` to scale (in ``namespace``, or the one
    ``kubectl`` applies to), the ``name`` of the ScaledObject/HPA (the Deployment's by
    default), where Prometheus answers, the ``demand_query`` (one PromQL expression of
    the demand, summed into one series) and the ``capacity`` one replica holds, the
    clamp's ``bounds``, the peak's window and step, the scale-down stabilisation and
    polling (seconds), KEDA's fallback, an optional CPU ``cpu_utilisation`` target (%),
    the external metric name prometheus-adapter serves the demand under
    (``hpa_demand_metric``, for the plain HPA), and an HPA ``tolerance``."""

    service: str
    deployment: str
    namespace: str | None = None
    name: str | None = None
    prometheus_address: str = DEFAULT_PROMETHEUS
    demand_query: str | None = None
    capacity: float | None = None
    bounds: Clamp = field(default_factory=Clamp)
    peak_window: int = 3600
    peak_step: int = 60
    stabilise: int = 300
    polling_interval: int = 30
    fallback: bool = True
    fallback_replicas: int | None = None
    failure_threshold: int = 3
    cpu_utilisation: int | None = None
    hpa_demand_metric: str | None = None
    tolerance: float | None = None

    def __post_init__(self) -> None:
        _k8s_name(self.service, "--service")
        _k8s_name(self.deployment, "--deployment", subdomain=True)
        if self.namespace is not None:
            _k8s_name(self.namespace, "--namespace")
        if self.name is None and len(self.deployment) > 63:
            raise ValidationError(
                f"--deployment: a name of {len(self.deployment)} characters cannot name the "
                "ScaledObject (KEDA labels its HPA with it: at most 63)",
                hint="pass a shorter --name",
            )
        _k8s_name(self.object_name, "--name")
        _check_address(self.prometheus_address)
        if not isinstance(self.bounds, Clamp):
            raise ValidationError(f"expected the bounds as a Clamp, got {self.bounds!r}")
        if (self.demand_query is None) != (self.capacity is None):
            raise ValidationError(
                "expected --demand-query and --capacity together (the reactive floor and the "
                "peak cap are the demand over the capacity per replica), got only one",
                hint="pass both, e.g. --demand-query 'sum(rate(...[1m]))' --capacity 50",
            )
        if self.demand_query is not None:
            object.__setattr__(self, "demand_query", check_query(self.demand_query))
            self._check_capacity()
        if self.demand_query is None and self.cpu_utilisation is None:
            raise ValidationError(
                "expected a reactive trigger (--demand-query with --capacity, or "
                "--cpu-utilisation), got neither",
                hint="without one nothing scales the Deployment when modelphase is down",
            )
        _whole(self.peak_window, "--peak-window (s)", 60, 7 * 86_400)
        _whole(self.peak_step, "--peak-step (s)", 1, self.peak_window)
        _whole(self.stabilise, "--stabilise (s)", 0, 3600)
        _whole(self.polling_interval, "--polling-interval (s)", 1, 3600)
        _whole(self.failure_threshold, "--failure-threshold", 1, 1000)
        if self.fallback_replicas is not None:
            _whole(self.fallback_replicas, "--fallback-replicas", 0, self.bounds.max_replicas)
        if self.cpu_utilisation is not None:
            _whole(self.cpu_utilisation, "--cpu-utilisation (%)", 1, 1000)
        metric = self.hpa_demand_metric
        if metric is not None and not (len(metric) <= 253 and _METRIC.fullmatch(metric)):
            raise ValidationError(
                f"--hpa-demand-metric: expected a metric name, got {metric[:80]!r}",
                hint="pass the external metric name prometheus-adapter serves the demand as",
            )
        t = self.tolerance
        if t is not None and not (isinstance(t, int | float) and math.isfinite(t) and 0 <= t < 1):
            raise ValidationError(
                f"--tolerance: expected a share in [0, 1), got {t!r}",
                hint="pass e.g. --tolerance 0.02, or leave it out for the cluster's (0.1)",
            )

    def _check_capacity(self) -> None:
        c = self.capacity
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c) or c <= 0:
            raise ValidationError(
                f"--capacity: expected the demand one replica holds (> 0), got {c!r}",
                hint="pass e.g. --capacity 50 for 50 requests/s per replica",
            )
        if c / (1 - self.bounds.margin) < 0.001:
            raise ValidationError(
                f"--capacity: expected at least 0.001 x (1 - margin) (KEDA reads targets in "
                f"thousandths), got {c:g}",
                hint="express the demand in smaller units (requests/min rather than /s)",
            )

    @property
    def object_name(self) -> str:
        """The ScaledObject's (and the plain HPA's) name."""
        return self.name if self.name is not None else self.deployment

    @property
    def reactive_target(self) -> float:
        """The reactive trigger's target per replica: ``capacity / (1 - margin)``."""
        assert self.capacity is not None
        return self.capacity / (1 - self.bounds.margin)


def _check_address(address: object) -> None:
    ok = isinstance(address, str) and 0 < len(address) <= 2048
    parts = urlsplit(address) if ok and isinstance(address, str) else None
    if (
        parts is None
        or not isinstance(address, str)
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or any(ch.isspace() or ord(ch) < 0x20 or ch in "\"'<>\\" for ch in address)
    ):
        raise ValidationError(
            f"--prometheus-address: expected an http(s) URL of Prometheus, got {address!r:.80}",
            hint="pass e.g. --prometheus-address http://prometheus.monitoring:9090",
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "--prometheus-address: expected no credentials in the URL, got a user name",
            hint="put them in a KEDA TriggerAuthentication and reference it from the triggers",
        )


def _summed(query: str) -> bool:
    """Whether ``query`` (a checked one) is one ``sum(...)`` call from its first
    character to its last."""
    if not query.startswith("sum("):
        return False
    depth = 0
    for i, ch in _code(query)[0]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(query) - 1
    return False


def _demand(spec: Autoscaling) -> str:
    """The demand query as one series: summed, unless it is a ``sum(...)`` already."""
    assert spec.demand_query is not None
    query = spec.demand_query
    return query if _summed(query) else f"sum({query})"


def plan_query(spec: Autoscaling) -> str:
    """The plan trigger's PromQL: the plan (the largest answer over the server's
    replicas), at most ``max_factor`` times the replicas of the peak demand over
    ``peak_window``; the full reactive answer when there is no plan."""
    plan = f"max({RECOMMENDED_METRIC}{{service={promql_string(spec.service)}}})"
    if spec.demand_query is None or spec.capacity is None:
        return plan
    demand, capacity = _demand(spec), _num(spec.capacity)
    window = format_duration(spec.peak_window * NS_PER_SECOND)
    step = format_duration(spec.peak_step * NS_PER_SECOND)
    peak = f"ceil(max_over_time(({demand})[{window}:{step}]) / {capacity})"
    cap = f"ceil({_num(spec.bounds.max_factor)} * {peak})"
    return (
        "(\n"
        "  min(\n"
        f"    {plan}\n"
        "    or\n"
        f'    label_replace({cap}, "modelphase_bound", "peak_cap", "", "")\n'
        "  )\n"
        f"  and on() {plan}\n"
        ")\n"
        f"or on() ceil({demand} / {capacity})"
    )


def reactive_query(spec: Autoscaling) -> str:
    """The reactive trigger's PromQL: the demand, summed into one series."""
    if spec.demand_query is None:
        raise ValidationError("expected a demand query for the reactive trigger, got none")
    return _demand(spec)


def _behavior(spec: Autoscaling) -> dict[str, Any]:
    down: dict[str, Any] = {"stabilizationWindowSeconds": spec.stabilise}
    behavior: dict[str, Any] = {"scaleDown": down}
    if spec.tolerance is not None:
        down["tolerance"] = _milli(spec.tolerance) or "0"
        behavior["scaleUp"] = {"tolerance": down["tolerance"]}
    return behavior


def _metadata(spec: Autoscaling) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": spec.object_name}
    if spec.namespace is not None:
        meta["namespace"] = spec.namespace
    meta["labels"] = dict(_MANAGED)
    return meta


def _target_ref(spec: Autoscaling) -> dict[str, str]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.deployment}


def _prometheus(spec: Autoscaling, name: str, query: str, target: str, nulls: str) -> Any:
    meta = {"serverAddress": spec.prometheus_address, "query": query, "threshold": target}
    meta["ignoreNullValues"] = nulls
    return {"type": "prometheus", "name": name, "metricType": "AverageValue", "metadata": meta}


def _external(name: str, average: str, labels: dict[str, str] | None = None) -> Any:
    metric: dict[str, Any] = {"name": name}
    if labels:
        metric["selector"] = {"matchLabels": labels}
    target = {"type": "AverageValue", "averageValue": average}
    return {"type": "External", "external": {"metric": metric, "target": target}}


def scaled_object(spec: Autoscaling) -> dict[str, Any]:
    """The KEDA ``ScaledObject`` (``keda.sh/v1alpha1``): the plan trigger, the reactive
    trigger(s), the replica bounds, the scale-down stabilisation and the fallback. The
    plan trigger errs on an empty answer (``ignoreNullValues: "false"``: no plan and no
    demand, so the fallback applies); the reactive one reads no series as no demand."""
    triggers = [_prometheus(spec, "modelphase-plan", plan_query(spec), "1", "false")]
    if spec.demand_query is not None:
        target = _milli(spec.reactive_target)
        triggers.append(
            _prometheus(spec, "modelphase-reactive", reactive_query(spec), target, "true")
        )
    if spec.cpu_utilisation is not None:
        cpu = {"value": str(spec.cpu_utilisation)}
        triggers.append(
            {"type": "cpu", "name": "cpu", "metricType": "Utilization", "metadata": cpu}
        )
    body: dict[str, Any] = {
        "scaleTargetRef": _target_ref(spec),
        "pollingInterval": spec.polling_interval,
        "minReplicaCount": spec.bounds.min_replicas,
        "maxReplicaCount": spec.bounds.max_replicas,
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior(spec)}},
        "triggers": triggers,
    }
    if spec.fallback:
        replicas = spec.fallback_replicas
        replicas = max(1, spec.bounds.min_replicas) if replicas is None else replicas
        body["fallback"] = {
            "failureThreshold": spec.failure_threshold,
            "replicas": replicas,
            "behavior": "currentReplicasIfHigher",
        }
    meta = _metadata(spec)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta,
        "spec": body,
    }


def horizontal_pod_autoscaler(spec: Autoscaling) -> dict[str, Any]:
    """The plain ``autoscaling/v2`` HorizontalPodAutoscaler for clusters with
    prometheus-adapter instead of KEDA: the plan as an External metric (AverageValue 1),
    the demand (``hpa_demand_metric``) and/or CPU as the reactive floor. The peak cap
    and the PromQL fallback need PromQL, which a plain HPA cannot run: here only the
    server's clamp caps the plan."""
    if spec.bounds.min_replicas < 1:
        raise ValidationError(
            "--min-replicas: expected at least 1 for a plain HPA (scale to zero needs KEDA), got 0",
            hint="pass --min-replicas 1, or --kind scaledobject",
        )
    if spec.hpa_demand_metric is None and spec.cpu_utilisation is None:
        raise ValidationError(
            "expected a reactive metric for the plain HPA (--hpa-demand-metric with "
            "--capacity, or --cpu-utilisation), got neither",
            hint="an HPA cannot run --demand-query: name the metric prometheus-adapter serves",
        )
    if spec.hpa_demand_metric is not None and spec.capacity is None:
        raise ValidationError(
            "expected --capacity with --hpa-demand-metric (its target per replica), got none"
        )
    metrics = [_external(RECOMMENDED_METRIC, "1", {"service": spec.service})]
    if spec.hpa_demand_metric is not None:
        metrics.append(_external(spec.hpa_demand_metric, _milli(spec.reactive_target)))
    if spec.cpu_utilisation is not None:
        target = {"type": "Utilization", "averageUtilization": spec.cpu_utilisation}
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": target}})
    body = {
        "scaleTargetRef": _target_ref(spec),
        "minReplicas": spec.bounds.min_replicas,
        "maxReplicas": spec.bounds.max_replicas,
        "metrics": metrics,
        "behavior": _behavior(spec),
    }
    meta = _metadata(spec)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": body,
    }


def manifests(spec: Autoscaling, kind: str = "scaledobject") -> list[dict[str, Any]]:
    """The documents for ``kind`` (one of :data:`KINDS`), ScaledObject first."""
    if kind not in KINDS:
        raise ValidationError(f"--kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    docs = []
    if kind in ("scaledobject", "both"):
        docs.append(scaled_object(spec))
    if kind in ("hpa", "both"):
        docs.append(horizontal_pod_autoscaler(spec))
    return docs


def header(spec: Autoscaling, kind: str = "scaledobject") -> list[str]:
    """The comment lines on top of the YAML: what to apply and what must be exported."""
    lines = [
        f"Generated by modelphase capacity keda for service {spec.service!r}.",
        f"Needs: Prometheus scraping the modelphase server's {RECOMMENDED_METRIC}",
        f'{{service="{spec.service}"}} (see docs/autoscaling.md).',
    ]
    if kind in ("scaledobject", "both"):
        lines.append("ScaledObject: needs KEDA >= 2.17 (fallback.behavior); kubectl apply -f it.")
    if kind in ("hpa", "both"):
        lines.append(
            f"HPA: needs prometheus-adapter serving {RECOMMENDED_METRIC} as an external metric."
        )
    if kind == "both":
        lines.append("Apply ONE of the two documents, never both: two autoscalers would fight.")
    return lines


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper; multi-line text (PromQL) as ``|`` blocks, no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump_manifests(docs: Sequence[dict[str, Any]], comments: Sequence[str] = ()) -> str:
    """YAML text of ``docs`` (one document each, ``---`` between), keys in the order
    given, ``comments`` as ``#`` lines on top."""
    body: str = yaml.dump_all(
        list(docs), Dumper=_Dumper, sort_keys=False, explicit_start=True, allow_unicode=True,
        width=1_000_000, indent=2,
    )  # fmt: skip
    return "".join(f"# {line}\n" for line in comments) + body
