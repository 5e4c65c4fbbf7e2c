"""SLO files to Prometheus rules and promtool tests (``modelphase slo rules``).

Parsing (Sloth's prometheus/v1 as Sloth's examples write it, OpenSLO v1, every kind of
bad input), window scaling, Sloth's exact rule text, and the rules and generated tests
run through the real promtool, including a broken rule set the tests must catch.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelphase.decide.slo import (
    SLOTH,
    WORKBOOK,
    AlertWindows,
    SloFile,
    SloPlan,
    alert_expr,
    dump_yaml,
    parse_slos,
    parse_windows,
    plan_rules,
    promtool_tests,
    rule_groups,
)
from modelphase.decide.slo.windows import Tier
from modelphase.exceptions import SloSpecError
from support.cli import RunCli
from support.prometheus import find_binaries

DAY = 86_400

ERROR_QUERY = (
    'sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))'
)
# A service in the shape of Sloth's examples/getting-started.yml.
GETTING_STARTED = """\
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
  repo: "myorg/myservice"
  tier: "2"
slos:
  # We allow failing (5xx and 429) 1 request every 1000 requests (99.9%).
  - name: "requests-availability"
    objective: 99.9
    description: "Availability of the HTTP request responses."
    sli:
      events:
        error_query: ERROR_QUERY
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      labels:
        category: "availability"
      annotations:
        summary: "High error rate on 'myservice' requests responses"
      page_alert:
        labels:
          severity: pageteam
          routing_key: myteam
      ticket_alert:
        labels:
          severity: "slack"
          slack_channel: "#alerts-myteam"
""".replace("ERROR_QUERY", ERROR_QUERY)

# Sloth's raw SLI (examples/raw-home-wifi.yml), in its older errorRatioQuery spelling,
# and a second SLO with alerts off (examples/no-alerts.yml).
RAW_AND_NO_ALERTS = """\
version: "prometheus/v1"
service: "home-wifi"
labels:
  cluster: "valhalla"
  component: "ubiquiti"
slos:
  - name: "wifi-client-satisfaction"
    objective: 95
    sli:
      raw:
        errorRatioQuery: |
          1 - (
            sum(sum_over_time(unifipoller_client_satisfaction_ratio[{{.window}}]))
            /
            sum(count_over_time(unifipoller_client_satisfaction_ratio[{{.window}}]))
          )
    alerting:
      name: WifiClientSatisfaction
      page_alert:
        labels:
          severity: home
      ticket_alert:
        labels:
          severity: warning
  - name: "wifi-quiet"
    objective: 99
    sli:
      raw:
        error_ratio_query: 1 - avg_over_time(unifipoller_device_uptime_ratio[{{.window}}])
    alerting:
      page_alert:
        disable: true
      ticket_alert:
        disable: true
"""

# Fields newer Sloth versions read: infoLabels, interval, `for` (the alert_for
# plugin), the plugin chain; and a disabled ticket alert (examples/kubernetes-apiserver.yml).
NEWER_SLOTH = """\
version: "prometheus/v1"
service: "k8s-apiserver"
labels: {cluster: valhalla}
slo_plugins:
  chain:
    - id: "sloth.dev/contrib/alert_for/v1"
slos:
  - name: "requests-latency"
    objective: 99
    infoLabels: {runbook: latency}
    interval: {all: 30s, alert: 1m}
    sli:
      events:
        error_query: |
          (
            sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{ .window }}]))
            -
            sum(rate(apiserver_request_duration_seconds_bucket{le="0.4"}[{{ .window }}]))
          )
        total_query: sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{.window}}]))
    alerting:
      name: K8sApiserverLatencyAlert
      labels: {category: latency}
      annotations:
        runbook: "https://runbooks.example/{{$labels.sloth_slo}}"
      page_alert:
        for: 5m
        labels: {severity: critical}
      ticket_alert:
        disable: true
"""

OPENSLO = """\
apiVersion: openslo/v1
kind: Service
metadata: {name: web}
spec: {description: The web front end}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: web-availability
  labels: {team: [a, b], app.kubernetes.io/part-of: shop}
spec:
  service: web
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  indicator:
    metadata: {name: web-good-requests}
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec: {query: 'sum(http_requests_total{job="web",code!~"5.."})'}
        total:
          metricSource:
            type: Prometheus
            spec: {query: 'http_requests_total{job="web"}'}
  objectives:
    - displayName: Good
      target: 0.995
"""


def _slos(text: str) -> SloFile:
    return parse_slos(text, "slo.yaml")


def _plans(text: str, windows: Any = WORKBOOK, **kwargs: Any) -> list[SloPlan]:
    plans, _ = plan_rules(_slos(text).slos, windows, **kwargs)
    return plans


def _groups(plans: list[SloPlan]) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in rule_groups(plans)["groups"]}


# --------------------------------------------------------------------------- parsing


def test_sloth_getting_started_reads_as_sloth_does() -> None:
    found = _slos(GETTING_STARTED)
    assert found.spec == "prometheus/v1"
    assert found.notes == ()
    (slo,) = found.slos
    assert slo.id == "myservice-requests-availability"
    assert slo.objective == 99.9
    assert slo.labels == {"owner": "myteam", "repo": "myorg/myservice", "tier": "2"}
    assert slo.page.name == slo.ticket.name == "MyServiceHighErrorRate"
    assert slo.page.labels == {
        "category": "availability",
        "severity": "pageteam",
        "routing_key": "myteam",
    }
    assert slo.ticket.annotations == {
        "summary": "High error rate on 'myservice' requests responses"
    }
    assert slo.sli.total_query is not None
    assert "{{.window}}" in slo.sli.total_query


def test_sloth_raw_sli_both_spellings_and_disabled_alerts() -> None:
    wifi, quiet = _slos(RAW_AND_NO_ALERTS).slos
    assert wifi.sli.kind == quiet.sli.kind == "raw"
    assert wifi.sli.error_ratio_query is not None
    assert "sum_over_time" in wifi.sli.error_ratio_query
    assert quiet.page.disabled
    assert quiet.ticket.disabled
    assert quiet.page.name == ""  # no name needed when both alerts are off
    groups = _groups(_plans(RAW_AND_NO_ALERTS))
    assert "sloth-slo-alerts-home-wifi-wifi-quiet" not in groups
    assert "sloth-slo-alerts-home-wifi-wifi-client-satisfaction" in groups


def test_newer_sloth_fields_and_plugins_become_rules_or_notes() -> None:
    found = _slos(NEWER_SLOTH)
    (slo,) = found.slos
    assert slo.page.for_seconds == 300
    assert slo.ticket.disabled
    assert slo.info_labels == {"runbook": "latency"}
    assert slo.intervals == {"slierror": 30, "metadata": 30, "alert": 60}
    assert any(n.startswith("slo_plugins:") for n in found.notes)
    groups = _groups(_plans(NEWER_SLOTH))
    alerts = groups["sloth-slo-alerts-k8s-apiserver-requests-latency"]
    assert alerts["interval"] == "1m"
    assert [r["for"] for r in alerts["rules"]] == ["5m"]
    info = groups["sloth-slo-meta-recordings-k8s-apiserver-requests-latency"]["rules"][-1]
    assert info["labels"]["runbook"] == "latency"
    sli = groups["sloth-slo-sli-recordings-k8s-apiserver-requests-latency"]["rules"][0]
    assert "[5m]" in sli["expr"]
    assert "{{" not in sli["expr"]


def test_unknown_fields_are_ignored_with_a_note() -> None:
    text = GETTING_STARTED.replace("    description:", "    descripton:")
    found = _slos(text)
    assert found.notes == ("slos.0.descripton: unknown field, ignored; check its spelling",)


def test_several_sloth_documents_in_one_file() -> None:
    other = GETTING_STARTED.replace('service: "myservice"', 'service: "other"')
    found = _slos(f"{GETTING_STARTED}---\n{other}")
    assert [s.id for s in found.slos] == [
        "myservice-requests-availability",
        "other-requests-availability",
    ]
    with pytest.raises(SloSpecError, match="unique across the documents"):
        _slos(f"{GETTING_STARTED}---\n{GETTING_STARTED}")


def test_openslo_maps_to_the_same_model() -> None:
    found = _slos(OPENSLO)
    assert found.spec == "openslo/v1"
    assert found.notes[0] == "documents.0.kind: Service is not an SLO, skipped"
    (slo,) = found.slos
    assert slo.id == "web-web-availability"
    assert slo.objective == pytest.approx(99.5)
    assert slo.period == 28 * DAY
    assert slo.labels == {"team": "a,b", "app_kubernetes_io_part_of": "shop"}
    assert slo.page.name == "WebAvailabilityErrorBudgetBurn"
    assert slo.page.labels == {"severity": "critical"}
    assert slo.ticket.labels == {"severity": "warning"}
    # good/total: a raw error ratio that keeps the total for the low-traffic guard
    assert slo.sli.error_ratio_query == (
        '1 - (\n(sum(rate(http_requests_total{job="web",code!~"5.."}[{{.window}}])))\n/\n'
        '(sum(rate(http_requests_total{job="web"}[{{.window}}])))\n)'
    )
    assert slo.sli.total_query == 'sum(rate(http_requests_total{job="web"}[{{.window}}]))'
    (plan,) = _plans(OPENSLO, period=90 * DAY)
    assert plan.period == 28 * DAY  # the document's timeWindow wins over --period


def test_openslo_bad_total_raw_ref_and_several_objectives() -> None:
    text = """\
- apiVersion: openslo/v1
  kind: SLI
  metadata: {name: errors}
  spec:
    ratioMetric:
      counter: false
      bad: {metricSource: {type: prometheus, spec: {query: 'sum(rate(e[{{.window}}]))'}}}
      total: {metricSource: {spec: {query: queue_jobs}}}
- apiVersion: openslo/v1
  kind: SLO
  metadata: {name: jobs}
  spec:
    service: worker
    indicatorRef: errors
    objectives: [{target: 0.99}, {targetPercent: 99.9}]
- apiVersion: openslo/v1
  kind: SLO
  metadata: {name: ratio}
  spec:
    service: worker
    indicator:
      spec:
        ratioMetric:
          rawType: success
          raw: {metricSource: {type: Prometheus, spec: {query: job_success_ratio}}}
    objectives: [{target: 0.9}]
"""
    jobs0, jobs1, ratio = _slos(text).slos
    assert [jobs0.name, jobs1.name] == ["jobs-0", "jobs-1"]
    assert jobs1.objective == 99.9
    assert jobs0.sli.error_query == "sum(rate(e[{{.window}}]))"
    assert jobs0.sli.total_query == "avg_over_time((queue_jobs)[{{.window}}:])"
    assert ratio.sli.error_ratio_query == "1 - (avg_over_time((job_success_ratio)[{{.window}}:]))"
    assert ratio.period is None


BAD_INPUTS = {
    "objective 0": (
        GETTING_STARTED.replace("objective: 99.9", "objective: 0"),
        "slos.0.objective: expected a percentage strictly between 0 and 100",
    ),
    "objective 100": (
        GETTING_STARTED.replace("objective: 99.9", "objective: 100"),
        "slos.0.objective: expected a percentage strictly between 0 and 100",
    ),
    "objective 120": (
        GETTING_STARTED.replace("objective: 99.9", "objective: 120"),
        "got 120. Fix: write the objective as a percentage below 100",
    ),
    "objective as text": (
        GETTING_STARTED.replace("objective: 99.9", 'objective: "99.9"'),
        "slos.0.objective: expected a number, got '99.9'",
    ),
    "unknown version": (
        GETTING_STARTED.replace('"prometheus/v1"', '"prometheus/v2"'),
        "version: expected \"prometheus/v1\" (Sloth's SLO format), got 'prometheus/v2'",
    ),
    "no version": (
        GETTING_STARTED.replace('version: "prometheus/v1"\n', ""),
        "version: expected a Sloth file",
    ),
    "missing service": (
        GETTING_STARTED.replace('service: "myservice"\n', ""),
        "service: expected a value (it is required), got nothing. Fix: add service",
    ),
    "missing sli": (
        GETTING_STARTED.replace("    sli:\n      events:", "    sloo:\n      events:"),
        "slos.0.sli: expected a value (it is required), got nothing. Fix: add slos.0.sli; "
        "check the spelling of the unknown field(s) slos.0.sloo",
    ),
    "missing total query": (
        GETTING_STARTED.replace("        total_query:", "        totl_query:"),
        "slos.0.sli.events.total_query: expected a value (it is required)",
    ),
    "missing alert name": (
        GETTING_STARTED.replace("      name: MyServiceHighErrorRate\n", ""),
        "slos.0.alerting.name: expected the alerts' name",
    ),
    "no slos": (
        'version: "prometheus/v1"\nservice: a\nslos: []\n',
        "slos: expected",
    ),
    "both sli kinds": (
        GETTING_STARTED.replace(
            "    sli:\n", "    sli:\n      raw: {error_ratio_query: 'x[{{.window}}]'}\n"
        ),
        "slos.0.sli: expected exactly one of events or raw, got events and raw",
    ),
    "sli plugin": (
        GETTING_STARTED.replace(
            "    sli:\n      events:", "    sli:\n      plugin: {id: sloth-common/x}\n      evnts:"
        ),
        "got the SLI plugin 'sloth-common/x'",
    ),
    "other template": (
        GETTING_STARTED.replace("[{{.window}}]))\n        total", "[{{.windw}}]))\n        total"),
        "slos.0.sli.events.error_query: expected PromQL whose only template is {{.window}}",
    ),
    "bad label name": (
        GETTING_STARTED.replace('  tier: "2"', '  tier-name: "2"'),
        "labels.tier-name: expected a Prometheus label name",
    ),
    "duplicate slo": (
        GETTING_STARTED + GETTING_STARTED[GETTING_STARTED.index("  # We allow") :],
        "slos.1.name: expected a name no other SLO has",
    ),
    "not yaml": ("version: [prometheus/v1\n", "expected valid YAML"),
    "empty": ("# nothing\n", "(file): expected a Sloth file"),
    "kubernetes crd": (
        "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nspec: {}\n",
        "Sloth's Kubernetes resource",
    ),
    "openslo v1alpha": (
        OPENSLO.replace("openslo/v1\nkind: SLO", "openslo/v1alpha\nkind: SLO"),
        "documents.1.apiVersion: expected \"openslo/v1\", got 'openslo/v1alpha'",
    ),
    "openslo target 1.2": (
        OPENSLO.replace("target: 0.995", "target: 1.2"),
        "spec.objectives.0.target: expected a ratio strictly between 0 and 1, got 1.2",
    ),
    "openslo target 0": (
        OPENSLO.replace("target: 0.995", "target: 0"),
        "spec.objectives.0.target: expected a ratio strictly between 0 and 1, got 0",
    ),
    "openslo timeslices": (
        OPENSLO.replace("budgetingMethod: Occurrences", "budgetingMethod: Timeslices"),
        "spec.budgetingMethod: expected Occurrences",
    ),
    "openslo datadog": (
        OPENSLO.replace(
            "type: Prometheus\n            spec: {query: 'http",
            "type: Datadog\n            spec: {query: 'http",
        ),
        "total.metricSource.type: expected Prometheus, got 'Datadog'",
    ),
    "openslo counter as any query": (
        OPENSLO.replace("'http_requests_total{job=\"web\"}'", "'increase(x[1h]) / 2'"),
        "expected a counter as a selector or sum(selector), or a query with [{{.window}}]",
    ),
    "openslo no counter flag": (
        OPENSLO.replace("        counter: true\n", ""),
        "ratioMetric.counter: expected true or false",
    ),
    "openslo bad window": (
        OPENSLO.replace("duration: 28d", "duration: 4 weeks"),
        "spec.timeWindow.0.duration: expected a duration shorthand such as 28d",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_error(case: str) -> None:
    text, expected = BAD_INPUTS[case]
    with pytest.raises(SloSpecError) as caught:
        _slos(text)
    message = str(caught.value)
    assert message.startswith("slo.yaml: ")
    assert expected in message
    assert "\n" not in message
    assert "expected" in message
    assert " got " in message
    assert "Fix: " in message or case in ("not yaml", "empty")


def test_alias_bomb_is_refused_before_it_expands() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(SloSpecError, match="expected YAML within the limits"):
        _slos("\n".join(lines) + "\n")


def test_sloth_objective_below_one_is_a_percentage_with_a_note() -> None:
    found = _slos(GETTING_STARTED.replace("objective: 99.9", "objective: 0.999"))
    assert found.slos[0].objective == 0.999
    assert "is read as 0.999%" in found.notes[0]


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        # (long, short) in minutes: page quick, page slow, ticket
        (30, [(60, 5), (360, 30), (4320, 360)]),
        (28, [(56, 5), (336, 28), (4032, 336)]),
        (7, [(14, 1), (84, 7), (1008, 84)]),
        (90, [(180, 15), (1080, 90), (12960, 1080)]),
    ],
)
def test_windows_scale_with_the_period_and_keep_their_factors(
    days: int, expected: list[tuple[int, int]]
) -> None:
    scaled = WORKBOOK.for_period(days * DAY)
    assert [(t.long // 60, t.short // 60) for t in scaled.tiers] == expected
    assert [t.factor for t in scaled.tiers] == [14.4, 6.0, 1.0]
    assert [t.budget_percent for t in scaled.tiers] == [2, 5, 10]
    # the budget share each tier lets burn stays the same (to the rounding)
    for tier in scaled.tiers:
        share = tier.factor * tier.long / scaled.period * 100
        assert share == pytest.approx(tier.budget_percent, rel=0.1)


def test_sloth_windows_have_a_second_ticket_tier() -> None:
    assert [t.key for t in SLOTH.tiers] == [
        "page-quick",
        "page-slow",
        "ticket-quick",
        "ticket-slow",
    ]
    assert [(t.factor, t.long // 3600, t.short // 3600) for t in SLOTH.of("ticket")] == [
        (3.0, 24, 2),
        (1.0, 72, 6),
    ]


def test_short_periods_round_windows_to_at_least_a_minute() -> None:
    scaled = WORKBOOK.for_period(3600)
    assert min(scaled.windows) == 60
    assert all(t.long % 60 == 0 for t in scaled.tiers)


CUSTOM_WINDOWS = """\
apiVersion: sloth.slok.dev/v1
kind: AlertWindows
spec:
  sloPeriod: 30d
  page:
    quick: {errorBudgetPercent: 1, shortWindow: 2m, longWindow: 30m}
    slow: {errorBudgetPercent: 2, shortWindow: 15m, longWindow: 3h}
  ticket:
    quick: {errorBudgetPercent: 5, shortWindow: 1h, longWindow: 12h}
    slow: {errorBudgetPercent: 5, shortWindow: 3h, longWindow: 36h}
"""


def test_custom_windows_from_a_sloth_alert_windows_file() -> None:
    windows = parse_windows(CUSTOM_WINDOWS, "windows.yaml")
    assert [round(t.factor, 6) for t in windows.tiers] == [14.4, 4.8, 3.0, 1.0]
    assert windows.for_period(30 * DAY) == windows


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            CUSTOM_WINDOWS.replace("sloPeriod: 30d", "sloPeriod: 1d"),
            "longWindow: expected at most sloPeriod (1d), got 36h",
        ),
        (
            CUSTOM_WINDOWS.replace("shortWindow: 2m", "shortWindow: 2h"),
            "shortWindow: expected at most the long window",
        ),
        (
            CUSTOM_WINDOWS.replace("kind: AlertWindows", "kind: Windows"),
            "kind: expected a Sloth AlertWindows",
        ),
        (
            CUSTOM_WINDOWS.replace("errorBudgetPercent: 1,", "errorBudgetPercent: 0,"),
            "errorBudgetPercent: expected a number above 0, got 0",
        ),
    ],
)
def test_bad_windows_files(text: str, expected: str) -> None:
    with pytest.raises(SloSpecError, match="Fix: ") as caught:
        parse_windows(text, "windows.yaml")
    assert expected in str(caught.value)


def test_a_period_shorter_than_the_longest_window_is_an_error() -> None:
    windows = parse_windows(CUSTOM_WINDOWS.replace("sloPeriod: 30d", "sloPeriod: 36h"), "w.yaml")
    assert windows.for_period(36 * 3600).period == 36 * 3600
    # the same windows with a hand-written longest window over its period
    too_long = Tier("ticket", "slow", 5, 40 * 3600, 3 * 3600, 1.0)
    broken = AlertWindows(windows.name, 36 * 3600, (*windows.tiers[:-1], too_long))
    with pytest.raises(SloSpecError) as caught:
        broken.for_period(36 * 3600)
    message = str(caught.value)
    assert (
        "--period: expected a period at least as long as the longest alert window (1d16h" in message
    )
    assert "got 1d12h. Fix:" in message
    with pytest.raises(SloSpecError, match="expected a period of whole minutes from 1m"):
        WORKBOOK.for_period(30)


# --------------------------------------------------------------------------- Sloth's rules

FILTER = (
    '{sloth_id="myservice-requests-availability", sloth_service="myservice", '
    'sloth_slo="requests-availability"}'
)


def test_rules_are_named_and_written_as_sloth_writes_them() -> None:
    groups = _groups(_plans(GETTING_STARTED, SLOTH))
    assert list(groups) == [
        "sloth-slo-sli-recordings-myservice-requests-availability",
        "sloth-slo-meta-recordings-myservice-requests-availability",
        "sloth-slo-alerts-myservice-requests-availability",
    ]
    sli = groups["sloth-slo-sli-recordings-myservice-requests-availability"]["rules"]
    assert [r["record"] for r in sli] == [
        f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
    ]
    assert sli[0]["expr"] == (
        '(sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[5m])))'
        '\n/\n(sum(rate(http_request_duration_seconds_count{job="myservice"}[5m])))\n'
    )
    assert sli[0]["labels"] == {
        "owner": "myteam",
        "repo": "myorg/myservice",
        "sloth_id": "myservice-requests-availability",
        "sloth_service": "myservice",
        "sloth_slo": "requests-availability",
        "sloth_window": "5m",
        "tier": "2",
    }
    assert sli[-1] == {
        "record": "slo:sli_error:ratio_rate30d",
        "expr": f"sum_over_time(slo:sli_error:ratio_rate5m{FILTER}[30d])\n"
        "/ ignoring (sloth_window)\n"
        f"count_over_time(slo:sli_error:ratio_rate5m{FILTER}[30d])\n",
        "labels": {"sloth_window": "30d"},
    }
    meta = {
        r["record"]: r
        for r in groups["sloth-slo-meta-recordings-myservice-requests-availability"]["rules"]
    }
    assert meta["slo:objective:ratio"]["expr"] == "vector(0.9990000000000001)"
    assert meta["slo:error_budget:ratio"]["expr"] == "vector(1-0.9990000000000001)"
    assert meta["slo:time_period:days"]["expr"] == "vector(30)"
    assert meta["slo:current_burn_rate:ratio"]["expr"] == (
        f"slo:sli_error:ratio_rate5m{FILTER}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
        f"slo:error_budget:ratio{FILTER}\n"
    )
    assert meta["slo:period_error_budget_remaining:ratio"]["expr"] == (
        f"1 - slo:period_burn_rate:ratio{FILTER}"
    )
    assert meta["sloth_slo_info"]["labels"]["sloth_objective"] == "99.9"
    assert meta["sloth_slo_info"]["labels"]["sloth_spec"] == "prometheus/v1"


def test_alerts_are_named_labelled_and_written_as_sloth_does() -> None:
    groups = _groups(_plans(GETTING_STARTED, SLOTH))
    page, ticket = groups["sloth-slo-alerts-myservice-requests-availability"]["rules"]
    assert page["alert"] == ticket["alert"] == "MyServiceHighErrorRate"
    assert page["labels"] == {
        "category": "availability",
        "routing_key": "myteam",
        "severity": "pageteam",
        "sloth_severity": "page",
    }
    assert ticket["labels"] == {
        "category": "availability",
        "severity": "slack",
        "slack_channel": "#alerts-myteam",
        "sloth_severity": "ticket",
    }
    assert page["annotations"] == {
        "summary": "High error rate on 'myservice' requests responses",
        "title": "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn "
        "rate is too fast.",
    }
    budget = "0.0009999999999999432"
    assert page["expr"] == (
        "(\n"
        f"    (slo:sli_error:ratio_rate5m{FILTER} > (14.4 * {budget}))\n"
        "    and ignoring (sloth_window)\n"
        f"    (slo:sli_error:ratio_rate1h{FILTER} > (14.4 * {budget}))\n"
        ")\n"
        "or ignoring (sloth_window)\n"
        "(\n"
        f"    (slo:sli_error:ratio_rate30m{FILTER} > (6 * {budget}))\n"
        "    and ignoring (sloth_window)\n"
        f"    (slo:sli_error:ratio_rate6h{FILTER} > (6 * {budget}))\n"
        ")\n"
    )
    assert "(3 * " in ticket["expr"]
    assert "(1 * " in ticket["expr"]
    # the Workbook's ticket has one tier: 1x over 3d and 6h
    (workbook,) = _plans(GETTING_STARTED)
    assert alert_expr(workbook, "ticket") == (
        "(\n"
        f"    (slo:sli_error:ratio_rate6h{FILTER} > (1 * {budget}))\n"
        "    and ignoring (sloth_window)\n"
        f"    (slo:sli_error:ratio_rate3d{FILTER} > (1 * {budget}))\n"
        ")\n"
    )


def test_the_low_traffic_guard_counts_events_over_each_long_window() -> None:
    (plan,) = _plans(GETTING_STARTED, min_events=100)
    groups = _groups([plan])
    totals = groups["sloth-slo-sli-total-amount-myservice-requests-availability"]["rules"]
    assert [r["record"] for r in totals] == [
        "slo:sli_total:amount1h",
        "slo:sli_total:amount6h",
        "slo:sli_total:amount3d",
    ]
    assert totals[0]["expr"] == (
        'sum(rate(http_request_duration_seconds_count{job="myservice"}[1h]))'
    )
    assert f"(slo:sli_total:amount1h{FILTER} * 3600 >= 100)" in alert_expr(plan, "page")
    # a raw SLI has no total query: no guard, and a note says so
    plans, notes = plan_rules(_slos(RAW_AND_NO_ALERTS).slos, WORKBOOK, min_events=10)
    assert [p.min_events for p in plans] == [0.0, 0.0]
    assert "no low-traffic guard" in notes[0]


# --------------------------------------------------------------------------- promtool


@pytest.fixture(scope="module")
def promtool() -> str:
    return find_binaries()[1]


def _promtool(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def _write(folder: Path, plans: list[SloPlan]) -> tuple[Path, Path, int]:
    rules, tests = folder / "rules.yaml", folder / "tests.yaml"
    rules.write_text(dump_yaml(rule_groups(plans)))
    made = promtool_tests(plans, ["rules.yaml"])
    tests.write_text(dump_yaml(made.data))
    return rules, tests, made.n_tests


CASES = {
    "sloth windows, 30d": (GETTING_STARTED, SLOTH, 30, 0),
    "workbook, 7d, guard": (GETTING_STARTED, WORKBOOK, 7, 50),
    "newer sloth fields, for and templates": (NEWER_SLOTH, WORKBOOK, 30, 0),
    "raw and no alerts, 90d": (RAW_AND_NO_ALERTS, SLOTH, 90, 0),
    "openslo 28d, guard": (OPENSLO, SLOTH, 30, 1000),
}


@pytest.mark.prometheus
@pytest.mark.parametrize("case", sorted(CASES))
def test_rules_pass_promtool_check_and_generated_tests_pass(
    case: str, promtool: str, tmp_path: Path
) -> None:
    text, windows, days, events = CASES[case]
    plans = _plans(text, windows, period=days * DAY, min_events=events)
    rules, tests, n_tests = _write(tmp_path, plans)
    checked = _promtool(promtool, "check", "rules", str(rules), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # per SLO with alerts: a fast burn (if it pages), a slow burn (if it tickets), a clean
    # period, and with the guard a low-traffic burn
    expected = 0
    for plan in plans:
        severities = {s for s, _ in plan.alerts()}
        if severities:
            expected += 1 + len(severities) + bool(plan.min_events and "page" in severities)
    assert n_tests == expected
    tested = _promtool(promtool, "test", "rules", str(tests), cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_generated_tests_say_what_fires_and_when() -> None:
    made = promtool_tests(_plans(GETTING_STARTED), ["rules.yaml"])
    names = [t["name"] for t in made.data["tests"]]
    assert names[0].endswith("pages 15m after it starts")
    assert "slow burn" in names[1]
    assert names[1].endswith("never pages")
    assert names[2].endswith("fires nothing")
    fast = made.data["tests"][0]["alert_rule_test"]
    assert [c["exp_alerts"] for c in fast[:2]] == [[], []]  # before, and a tick before, the page
    (paged,) = fast[2]["exp_alerts"]
    assert paged["exp_labels"]["sloth_severity"] == "page"
    assert paged["exp_labels"]["sloth_window"] == "5m"
    assert paged["exp_annotations"]["title"] == (
        "(page) myservice requests-availability SLO error budget burn rate is too fast."
    )
    slow = made.data["tests"][1]["alert_rule_test"]
    assert {a["exp_labels"]["sloth_severity"] for c in slow for a in c["exp_alerts"]} == {"ticket"}
    assert all(not c["exp_alerts"] for c in made.data["tests"][2]["alert_rule_test"])


def test_templates_a_test_cannot_predict_leave_that_slo_untested() -> None:
    text = GETTING_STARTED.replace(
        "summary: \"High error rate on 'myservice' requests responses\"",
        "summary: '{{ $value | humanize }} errors'",
    )
    made = promtool_tests(_plans(text), ["rules.yaml"])
    assert made.n_tests == 0
    assert "cannot predict" in made.notes[0]


BREAKAGES = {
    "page factor 10x too low": ("(14.4 * ", "(1.44 * "),
    "page factor 10x too high": ("(14.4 * ", "(144 * "),
    "ticket factor too high": ("(1 * ", "(2 * "),
    "page long window swapped for the short one": (
        "(slo:sli_error:ratio_rate1h{",
        "(slo:sli_error:ratio_rate5m{",
    ),
    "guard dropped": (" * 3600 >= 50)", " * 3600 >= 0)"),
}


@pytest.mark.prometheus
def test_generated_tests_catch_broken_rules(promtool: str, tmp_path: Path) -> None:
    plans = _plans(GETTING_STARTED, min_events=50)
    rules, tests, _ = _write(tmp_path, plans)
    good = rules.read_text()
    failures = {}
    for name, (old, new) in BREAKAGES.items():
        assert old in good, name
        rules.write_text(good.replace(old, new))
        assert _promtool(promtool, "check", "rules", str(rules), cwd=tmp_path).returncode == 0
        done = _promtool(promtool, "test", "rules", str(tests), cwd=tmp_path)
        failures[name] = done.returncode
    assert failures == dict.fromkeys(BREAKAGES, 1)


# --------------------------------------------------------------------------- the command


def test_cli_contract_writes_sloth_compatible_rules(cli: RunCli, tmp_path: Path) -> None:
    slo = tmp_path / "SLO.yaml"
    slo.write_text(GETTING_STARTED)
    out = tmp_path / "RULES.yaml"
    result = cli("slo", "rules", str(slo), "--output", str(out))
    assert result.code == 0, result.stderr
    assert "wrote" in result.stderr
    text = out.read_text()
    assert text.startswith("---\n# Code generated by modelphase")
    rules = yaml.safe_load(text)
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert [
        (a["alert"], a["labels"]["sloth_severity"], a["labels"]["severity"]) for a in alerts
    ] == [
        ("MyServiceHighErrorRate", "page", "pageteam"),
        ("MyServiceHighErrorRate", "ticket", "slack"),
    ]
    records = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    assert {"slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate3d", "sloth_slo_info"} <= records
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left nothing behind
    # without --output the rules go to stdout; --json summarises
    printed = cli("slo", "rules", str(slo), "--windows", "sloth", "--period", "28d")
    assert printed.code == 0, printed.stderr
    assert "slo:sli_error:ratio_rate56m" in printed.stdout
    summary = cli("slo", "rules", str(slo), "-o", str(out), "--json", "--min-events", "10")
    assert summary.code == 0, summary.stderr
    assert '"min_events": 10.0' in summary.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--period", "soon"], "--period: expected a positive duration"),
        (["--period", "90s"], "--period: expected whole minutes"),
        (["--period", "2y"], "--period: expected a period of whole minutes from 1m to 366d"),
        (["--min-events", "-1"], "--min-events: expected a number of events from 0"),
        (["--windows", "fast"], "--windows fast: expected workbook, sloth or a Sloth Alert"),
        (["--tests", "t.yaml"], "--tests: expected --output too"),
    ],
)  # fmt: skip
def test_cli_bad_options_exit_1(
    cli: RunCli, tmp_path: Path, args: list[str], expected: str
) -> None:
    slo = tmp_path / "SLO.yaml"
    slo.write_text(GETTING_STARTED)
    result = cli("slo", "rules", str(slo), *args)
    assert result.code == 1
    assert result.stderr.startswith(f"error: {expected}")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "case", ["objective 0", "objective 100", "objective 120", "unknown version"]
)
def test_cli_bad_slo_file_exits_1_and_keeps_the_old_rules(
    cli: RunCli, tmp_path: Path, case: str
) -> None:
    slo = tmp_path / "SLO.yaml"
    slo.write_text(BAD_INPUTS[case][0])
    out = tmp_path / "RULES.yaml"
    out.write_text("old\n")
    result = cli("slo", "rules", str(slo), "--output", str(out))
    assert result.code == 1
    assert result.stderr.startswith(f"error: {slo}: ")
    assert BAD_INPUTS[case][1] in result.stderr.replace("\n", " ")
    assert out.read_text() == "old\n"
    missing = cli("slo", "rules", str(tmp_path / "nope.yaml"), "-o", str(out))
    assert missing.code == 1
    assert "expected a readable SLO file (YAML), got No such file or directory" in missing.stderr


@pytest.mark.prometheus
def test_cli_check_and_tests(cli: RunCli, tmp_path: Path, promtool: str) -> None:
    slo = tmp_path / "SLO.yaml"
    slo.write_text(OPENSLO)
    out, tests = tmp_path / "rules" / "RULES.yaml", tmp_path / "TESTS.yaml"
    out.parent.mkdir()
    result = cli(
        "slo", "rules", str(slo), "-o", str(out), "--tests", str(tests), "--check",
        "--min-events", "100",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "(promtool: ok)" in result.stderr
    assert yaml.safe_load(tests.read_text())["rule_files"] == ["rules/RULES.yaml"]
    done = _promtool(promtool, "test", "rules", str(tests), cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    # a query promtool refuses fails --check with promtool's message, and writes nothing
    slo.write_text(
        GETTING_STARTED.replace('(5..|429)"}[{{.window}}]))', '(5..|429)"}[{{.window}}])')
    )
    before = out.read_text()
    failed = cli("slo", "rules", str(slo), "-o", str(out), "--check")
    assert failed.code == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --check: expected promtool check rules to pass, got exit code 1")
    assert "Fix: see promtool's message above" in last
    assert out.read_text() == before
