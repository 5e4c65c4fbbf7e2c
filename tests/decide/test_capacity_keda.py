"""``modelphase capacity keda``: the ScaledObject validated against KEDA's published CRD
schema (tests/data/keda), the HPA against Kubernetes' own schemas (kubernetes-validate),
the PromQL evaluated by the real promtool, the escaping under hypothesis, the CLI."""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from modelphase.decide.capacity.clamp import Clamp
from modelphase.decide.capacity.keda import (
    Autoscaling,
    check_query,
    dump_manifests,
    header,
    horizontal_pod_autoscaler,
    manifests,
    plan_query,
    promql_string,
    reactive_query,
    scaled_object,
)
from modelphase.exceptions import ValidationError
from support.cli import RunCli
from support.prometheus import find_binaries

CRD = Path(__file__).parents[1] / "data" / "keda" / "keda.sh_scaledobjects.yaml"
DEMAND = 'sum(rate(http_requests_total{job="checkout"}[1m]))'
#: a Kubernetes quantity (the CRD's own pattern for quantities)
QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?"
    r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def spec(**changes: Any) -> Autoscaling:
    settings: dict[str, Any] = {
        "service": "checkout",
        "deployment": "checkout",
        "namespace": "shop",
        "demand_query": DEMAND,
        "capacity": 50.0,
        "bounds": Clamp(margin=0.2, max_factor=3.0, min_replicas=2, max_replicas=40),
    }
    settings.update(changes)
    return Autoscaling(**settings)


# ---------------------------------------------------------------- the published CRD schema


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever it names the fields: the API
    server prunes them silently (a structural schema), which hides a misspelt field."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def crd_validator() -> jsonschema.Draft7Validator:
    crd = yaml.safe_load(CRD.read_text(encoding="utf-8"))
    assert crd["spec"]["names"]["kind"] == "ScaledObject"
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = _strict(version["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _problems(validator: jsonschema.Draft7Validator, doc: dict[str, Any]) -> list[str]:
    """Schema errors, plus what the CRD's CEL rule and KEDA's admission webhook check."""
    found = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    body = doc.get("spec", {})
    low, high = body.get("minReplicaCount"), body.get("maxReplicaCount", 100)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        found.append("CEL: minReplicaCount must be less than or equal to maxReplicaCount")
    averaged = any(  # KEDA >= 2.17's webhook: fallback needs one such trigger
        t.get("type") not in ("cpu", "memory") and t.get("metricType") == "AverageValue"
        for t in body.get("triggers", [])
    )
    if "fallback" in body and not averaged:
        found.append("webhook: fallback needs a non-cpu/memory AverageValue trigger")
    for t in body.get("triggers", []):
        if t.get("type") == "prometheus":
            meta = t.get("metadata", {})
            missing = {"serverAddress", "query", "threshold"} - set(meta)
            if missing:
                found.append(f"prometheus trigger without {sorted(missing)}")
            elif not float(meta["threshold"]) > 0:
                found.append("prometheus trigger with a threshold <= 0")
    return found


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"namespace": None, "name": "checkout-predictive", "tolerance": 0.02},
        {"cpu_utilisation": 75, "fallback_replicas": 6},
        {"demand_query": None, "capacity": None, "cpu_utilisation": 70},
        {"fallback": False, "stabilise": 0, "bounds": Clamp(min_replicas=0, max_replicas=3)},
    ],
)
def test_the_scaled_object_validates_against_keda_s_crd(
    crd_validator: jsonschema.Draft7Validator, changes: dict[str, Any]
) -> None:
    doc = scaled_object(spec(**changes))
    assert _problems(crd_validator, doc) == []
    # what survives the YAML is what was validated
    (back,) = yaml.safe_load_all(dump_manifests([doc]))
    assert back == doc
    assert _problems(crd_validator, back) == []


BEHAVIOR = ("spec", "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown")


def _broken(path: tuple[Any, ...], value: Any, delete: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(scaled_object(spec(cpu_utilisation=70)))
    node = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "delete", "needle"),
    [
        (("spec", "triggers"), None, True, "'triggers' is a required property"),
        (("spec", "triggers"), [], False, "should be non-empty"),
        (("spec", "maxReplicaCount"), 0, False, "less than the minimum"),
        (("spec", "minReplicaCount"), "2", False, "is not of type 'integer'"),
        (("spec", "minReplicaCount"), 41, False, "CEL"),
        (("spec", "fallback", "behavior"), "currentReplicasIfHigh", False, "is not one of"),
        (("spec", "fallback", "replicas"), None, True, "'replicas' is a required property"),
        (("spec", "fallbak"), {}, False, "Additional properties are not allowed"),
        (("spec", "triggers", 0, "metadata", "threshold"), 1, False, "is not of type 'string'"),
        (("spec", "triggers", 0, "type"), "", False, "should be non-empty"),
        (("spec", "scaleTargetRef", "name"), None, True, "'name' is a required property"),
        ((*BEHAVIOR, "stabilizationWindowSeconds"), 7200, False, "greater than the maximum"),
        (("spec", "triggers", 0, "metricType"), "Value", False, "webhook"),
        (("spec", "triggers", 1, "metadata", "threshold"), "0", False, "threshold <= 0"),
    ],
)
def test_a_broken_scaled_object_fails_validation(
    crd_validator: jsonschema.Draft7Validator,
    path: tuple[Any, ...],
    value: Any,
    delete: bool,
    needle: str,
) -> None:
    doc = _broken(path, value, delete)
    if needle == "webhook":  # every AverageValue trigger changed: no fallback possible
        doc["spec"]["triggers"][1]["metricType"] = "Value"
    problems = _problems(crd_validator, doc)
    assert any(needle in p for p in problems), problems


# ---------------------------------------------------------------- the plain HPA


def _validate_hpa(doc: dict[str, Any]) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    kv.validate(doc, "1.37", strict=True)
    for metric in doc["spec"]["metrics"]:  # kubernetes-validate does not check quantities
        target = (metric.get("external") or metric.get("resource"))["target"]
        for key in ("averageValue", "value"):
            if key in target:
                assert QUANTITY.match(str(target[key])), target
    for rules in doc["spec"].get("behavior", {}).values():
        if "tolerance" in rules:
            assert QUANTITY.match(rules["tolerance"]), rules


@pytest.mark.parametrize(
    "changes",
    [
        {"hpa_demand_metric": "checkout_requests_per_second"},
        {"cpu_utilisation": 70, "tolerance": 0.05, "namespace": None},
        {"hpa_demand_metric": "checkout:rps", "cpu_utilisation": 60, "capacity": 12.345678},
    ],
)
def test_the_hpa_validates_against_the_kubernetes_schema(changes: dict[str, Any]) -> None:
    doc = horizontal_pod_autoscaler(spec(**changes))
    _validate_hpa(doc)
    (plan, *reactive) = doc["spec"]["metrics"]
    assert plan["external"]["metric"]["selector"] == {"matchLabels": {"service": "checkout"}}
    assert plan["external"]["target"] == {"type": "AverageValue", "averageValue": "1"}
    assert reactive


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "maxReplicas"), "40"),
        (("spec", "metrics", 0, "external", "target", "averageValu"), "1"),
        (("spec", "metrics", 0, "type"), 3),
        (("spec", "scaleTargetRef"), {"kind": "Deployment"}),
    ],
)
def test_a_broken_hpa_fails_validation(path: tuple[Any, ...], value: Any) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    doc = horizontal_pod_autoscaler(spec(hpa_demand_metric="rps"))
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(kv.ValidationError):
        kv.validate(doc, "1.37", strict=True)


def test_the_hpa_needs_what_a_plain_hpa_can_read() -> None:
    with pytest.raises(ValidationError, match="reactive metric for the plain HPA"):
        horizontal_pod_autoscaler(spec())
    with pytest.raises(ValidationError, match="at least 1 for a plain HPA"):
        horizontal_pod_autoscaler(spec(cpu_utilisation=70, bounds=Clamp(min_replicas=0)))


# ------------------------------------------------- the HPA arithmetic the triggers rely on


def _hpa(values: list[float], targets: list[float], low: int, high: int) -> int:
    """What the HPA runs for AverageValue External metrics, away from its tolerance:
    the largest ``ceil(value / target)``, within the replica bounds."""
    return min(high, max(low, *(math.ceil(v / t) for v, t in zip(values, targets, strict=True))))


@pytest.mark.parametrize(
    ("plan", "demand", "expected"),
    [
        (12.0, 500.0, 12),  # the plan, above the floor ceil(0.8 x 500 / 50) = 8
        (3.0, 500.0, 8),  # the reactive floor holds
        (3.0, 5000.0, 40),  # max replicas
        (1.0, 10.0, 2),  # min replicas
    ],
)
def test_a_plan_with_target_1_puts_the_deployment_at_that_count(
    plan: float, demand: float, expected: int
) -> None:
    so = scaled_object(spec())
    targets = [float(t["metadata"]["threshold"]) for t in so["spec"]["triggers"]]
    assert targets == [1.0, 62.5]
    assert {t["metricType"] for t in so["spec"]["triggers"]} == {"AverageValue"}
    got = _hpa(
        [plan, demand], targets, so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]
    )
    assert got == expected


# ---------------------------------------------------------------- PromQL, through promtool


@pytest.fixture(scope="module")
def promtool() -> str:
    return find_binaries()[1]


def _promtool_test(
    promtool: str, folder: Path, series: list[dict[str, str]], cases: list[dict[str, Any]]
) -> None:
    tests = {"tests": [{"interval": "1m", "input_series": series, "promql_expr_test": cases}]}
    path = folder / "tests.yaml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
    done = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.prometheus
def test_the_plan_query_caps_falls_back_and_reads_only_its_service(
    promtool: str, tmp_path: Path
) -> None:
    q = plan_query(spec(demand_query='sum(demand{job="checkout"})', capacity=40.0))
    plan = 'modelphase_capacity_recommended_replicas{{service="{}",instance="{}"}}'
    # 50 requests/s over two pods, with a five-minute surge to 300 from 20m
    demand = [
        {"series": f'demand{{job="checkout",pod="p{i}"}}', "values": "25x19 150x4 25x100"}
        for i in (1, 2)
    ]
    series = [
        # two server replicas: the larger answer counts; the plan stops after 60m
        {"series": plan.format("checkout", "a"), "values": "12x60 stale"},
        {"series": plan.format("checkout", "b"), "values": "4x60 stale"},
        {"series": plan.format("other", "a"), "values": "99x120"},
        *demand,
    ]
    cases = [
        # the last hour's peak is 50: ceil(50 / 40) = 2 replicas, x 3: 12 is capped at 6
        {"expr": q, "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 6}]},
        # the surge (ceil(300 / 40) = 8 replicas, x 3 = 24) lifts the cap above the plan
        {"expr": q, "eval_time": "40m", "exp_samples": [{"labels": "{}", "value": 12}]},
        # no plan (the server is down): the full reactive answer, ceil(50 / 40)
        {"expr": q, "eval_time": "70m", "exp_samples": [{"labels": "{}", "value": 2}]},
        {"expr": reactive_query(spec(demand_query='sum(demand{job="checkout"})')),
         "eval_time": "22m", "exp_samples": [{"labels": "{}", "value": 300}]},
    ]  # fmt: skip
    _promtool_test(promtool, tmp_path, series, cases)
    # the surge has left the window by 100m: capped at 6 again
    steady = [{"series": plan.format("checkout", "a"), "values": "12x120"}, *demand]
    _promtool_test(
        promtool, tmp_path, steady,
        [{"expr": q, "eval_time": "100m", "exp_samples": [{"labels": "{}", "value": 6}]}],
    )  # fmt: skip


@pytest.mark.prometheus
@pytest.mark.parametrize(
    "demand",
    [
        DEMAND,
        'sum by (job) (rate(http_requests_total{job="a",path=~"/(x|y)"}[5m]))',
        "rate(http_requests_total[1m])",
        'sum(rate(x{a="})]#"}[1m])) + sum(rate(y[1m]))',
        "label_replace(up, 'a', `b`, 'c', '(.*)')",
    ],
)
def test_promtool_parses_the_queries(promtool: str, tmp_path: Path, demand: str) -> None:
    s = spec(demand_query=demand)
    rules = {
        "groups": [
            {
                "name": "keda",
                "rules": [
                    {"record": "plan", "expr": plan_query(s)},
                    {"record": "reactive", "expr": reactive_query(s)},
                ],
            }
        ]
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


# ---------------------------------------------------------------- escaping


def _unquote(text: str) -> str:
    """A double-quoted PromQL (Go) string literal read back; fails on an unescaped quote
    inside it."""
    assert text[0] == text[-1] == '"'
    out, i, body = [], 0, text[1:-1]
    while i < len(body):
        ch = body[i]
        assert ch != '"', f"an unescaped quote at {i} in {text!r}"
        if ch == "\\":
            nxt = body[i + 1]
            if nxt == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append({"n": "\n", "\\": "\\", '"': '"'}[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@given(st.text(max_size=60))
def test_no_text_escapes_its_promql_string(value: str) -> None:
    quoted = promql_string(value)
    assert _unquote(quoted) == value
    assert "\n" not in quoted


def _made(**changes: Any) -> Autoscaling | ValidationError:
    try:
        return spec(**changes)
    except ValidationError as exc:
        return exc


@given(st.text(max_size=70))
def test_a_service_name_is_a_kubernetes_name_or_refused(value: str) -> None:
    s = _made(service=value)
    if isinstance(s, ValidationError):
        assert "\n" not in str(s)
        assert "--service" in str(s)
        return
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value)
    assert f'modelphase_capacity_recommended_replicas{{service="{value}"}}' in plan_query(s)
    docs = manifests(spec(service=value, cpu_utilisation=5), "both")
    assert list(yaml.safe_load_all(dump_manifests(docs, header(s, "both")))) == docs


@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_names_are_checked_and_the_yaml_round_trips(
    deployment: str, namespace: str, name: str
) -> None:
    s = _made(deployment=deployment, namespace=namespace, name=name or None)
    if isinstance(s, ValidationError):
        assert "\n" not in str(s)
        return
    doc = scaled_object(s)
    assert list(yaml.safe_load_all(dump_manifests([doc]))) == [doc]
    assert doc["metadata"]["namespace"] == namespace


@given(st.text(alphabet=st.sampled_from("()[]{}\"'`\\#ab x=,\n"), max_size=30))
def test_an_accepted_demand_query_cannot_close_the_brackets_around_it(query: str) -> None:
    try:
        checked = check_query(query)
    except ValidationError:
        return
    # wrapped, it still closes exactly where the wrapper does: nothing of it leaks out
    # (an oracle written apart from the code: Go's three string literals, depth count)
    wrapped = f"sum({checked})"
    depth, quote, escaped = 0, "", False
    for i, ch in enumerate(wrapped):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote != "`":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        assert ch != "#"
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            assert depth > 0 or i == len(wrapped) - 1
    assert depth == 0
    assert not quote


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("x) or vector(1e9) or (y", "unmatched ')'"),
        ("sum(rate(x[1m])) # total", "no comment"),
        ('sum(x{a="b})', "unterminated"),
        ("sum(x", "unclosed '('"),
        ("sum(x]", "unmatched ']'"),
        ("sum(x)\x00", "control characters"),
        ("   ", "expected a PromQL expression"),
        ("x" * 20_001, "at most 20,000"),
    ],
)
def test_hostile_demand_queries_are_refused(query: str, needle: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(needle)):
        spec(demand_query=query)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"service": "Checkout"}, "--service"),
        ({"service": "a" * 64}, "--service"),
        ({"deployment": "api_v2"}, "--deployment"),
        ({"deployment": "a" * 64}, "--name"),
        ({"namespace": "shop.eu"}, "--namespace"),
        ({"prometheus_address": "ftp://prometheus"}, "--prometheus-address"),
        ({"prometheus_address": "http://u:p@prometheus:9090"}, "no credentials"),
        ({"prometheus_address": 'http://p:9090/"x'}, "--prometheus-address"),
        ({"capacity": None}, "together"),
        ({"capacity": 0.0}, "--capacity"),
        ({"capacity": float("nan")}, "--capacity"),
        ({"demand_query": None, "capacity": None}, "a reactive trigger"),
        ({"stabilise": 3601}, "--stabilise"),
        ({"fallback_replicas": 41}, "--fallback-replicas"),
        ({"cpu_utilisation": 0}, "--cpu-utilisation"),
        ({"hpa_demand_metric": "rps{a}"}, "--hpa-demand-metric"),
        ({"tolerance": 1.0}, "--tolerance"),
        ({"peak_step": 7200}, "--peak-step"),
    ],
)
def test_bad_settings_are_one_line_errors(changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(**changes)
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_summed_demand_is_not_summed_twice() -> None:
    assert reactive_query(spec()) == DEMAND
    assert reactive_query(spec(demand_query="rate(x[1m])")) == "sum(rate(x[1m]))"
    assert reactive_query(spec(demand_query="sum(a) + sum(b)")) == "sum(sum(a) + sum(b))"


def test_without_a_demand_query_the_plan_is_read_as_it_is() -> None:
    s = spec(demand_query=None, capacity=None, cpu_utilisation=70)
    assert plan_query(s) == 'max(modelphase_capacity_recommended_replicas{service="checkout"})'
    triggers = scaled_object(s)["spec"]["triggers"]
    assert [t["type"] for t in triggers] == ["prometheus", "cpu"]


# ---------------------------------------------------------------- the command


def test_the_command_writes_the_scaled_object(cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "keda.yaml"
    result = cli(
        "capacity", "keda", "--service", "checkout", "--deployment", "checkout",
        "--namespace", "shop", "--demand-query", DEMAND, "--capacity", "50",
        "--max-replicas", "40", "--stabilise", "10m", "--out", str(out),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "wrote" in result.stderr
    assert "modelphase-plan" in result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Generated by modelphase capacity keda")
    (doc,) = yaml.safe_load_all(text)
    assert doc == scaled_object(spec(bounds=Clamp(min_replicas=1, max_replicas=40), stabilise=600))
    assert [p.name for p in tmp_path.iterdir()] == ["keda.yaml"]  # no temporary left


def test_the_command_writes_both_and_json(cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "both.yaml"
    result = cli(
        "capacity", "keda", "--service", "checkout", "--deployment", "checkout",
        "--demand-query", DEMAND, "--capacity", "50", "--hpa-demand-metric", "checkout_rps",
        "--kind", "both", "-o", str(out), "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert "Apply ONE of the two documents" in text
    kinds = [d["kind"] for d in yaml.safe_load_all(text)]
    assert kinds == ["ScaledObject", "HorizontalPodAutoscaler"]
    summary = json.loads(result.stdout)
    assert [d["kind"] for d in summary["documents"]] == kinds


def test_the_command_prints_without_an_output(cli: RunCli) -> None:
    result = cli(
        "capacity", "keda", "--service", "checkout", "--deployment", "checkout",
        "--cpu-utilisation", "70", "--kind", "hpa",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    (doc,) = yaml.safe_load_all(result.stdout)
    assert doc["kind"] == "HorizontalPodAutoscaler"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--service", "Checkout", "--cpu-utilisation", "70"], "--service"),
        (["--service", "c", "--demand-query", "x)", "--capacity", "1"], "--demand-query"),
        (["--service", "c", "--cpu-utilisation", "70", "--stabilise", "soon"], "--stabilise"),
        (["--service", "c", "--cpu-utilisation", "70", "--margin", "1"], "--margin"),
        (["--service", "c", "--cpu-utilisation", "70", "--kind", "helm"], "--kind"),
    ],
)
def test_the_command_refuses_bad_input_in_one_line(
    cli: RunCli, tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "keda.yaml"
    result = cli("capacity", "keda", "--deployment", "d", *args, "-o", str(out))
    assert result.code == 1
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_the_help_says_what_to_apply_and_what_to_export(cli: RunCli) -> None:
    result = cli("capacity", "keda", "--help")
    assert result.code == 0
    text = " ".join(result.stdout.split())
    assert "modelphase_capacity_recommended_replicas" in text
    assert "kubectl apply" in text
    assert "--demand-query" in text
