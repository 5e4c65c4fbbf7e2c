"""Canary analysis files and their templates (pure): rendering, the values a caller may
bind (nothing else can reach the query), missing and unknown variables, and one-line
errors for bad files."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelphase.decide import (
    CanaryAnalysis,
    parse_analysis,
    render_query,
    template_problems,
    template_variables,
)
from modelphase.exceptions import CanaryAnalysisError
from modelphase.frame import NS_PER_SECOND

QUERY = (
    "histogram_quantile(0.99, sum by (le, pod) (rate(http_request_duration_seconds_bucket"
    '{app="checkout",version="{{version}}"}[1m])))'
)
FILE = """\
name: checkout
defaults: {step: 30s, window: 15m, tolerance: 0.1, min_points: 4, alpha: 0.05,
           pass_threshold: 90, marginal_threshold: 60, silent_after: 2m}
vars: {app: checkout}
metrics:
  - name: latency_p99_seconds
    query: >-
      histogram_quantile(0.99, sum by (le)
      (rate(x_bucket{app="{{app}}",version="{{ version }}"}[1m])))
    direction: increase
    critical: true
    weight: 2
  - name: success_ratio
    query: >-
      sum(rate(ok{app='{{app}}',version='{{version}}'}[1m]))
      / sum(rate(all{app='{{app}}'}[1m]))
    direction: decrease
    tolerance: 0.02
    min_points: 10
"""


def outside_strings(query: str) -> str:
    """The query with its quoted strings blanked: the PromQL a value must not change."""
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', query)


def test_a_template_renders_label_values_in_place() -> None:
    assert template_variables(QUERY) == ["version"]
    rendered = render_query(QUERY, {"version": "v2.3.1-rc1"})
    assert rendered == QUERY.replace("{{version}}", "v2.3.1-rc1")
    hashes = {"version": "sha256:0f3a/checkout-7d9f8c6b5_x"}
    assert 'version="sha256:0f3a/checkout-7d9f8c6b5_x"' in render_query(QUERY, hashes)


@pytest.mark.parametrize(
    "value",
    [
        'v1"} or vector(1) or up{x="',  # end the string, add PromQL
        "v1\\",  # escape the closing quote
        "v1'",
        "v1`",
        "",  # an empty matcher matches series without the label
        "v1 v2",
        "v1\n",
        ".+|v1",  # regex alternation in a =~ matcher
        "v" * 129,
        "versión",
    ],
)
def test_a_value_that_could_change_the_query_is_refused(value: str) -> None:
    with pytest.raises(CanaryAnalysisError, match="version: expected a label value of 1 to 128"):
        render_query(QUERY, {"version": value})


@given(st.text(max_size=40))
def test_no_value_changes_the_query_outside_its_quotes(value: str) -> None:
    for template in (QUERY, "up{v='{{version}}'}", "up{v=~`{{version}}.*`}"):
        try:
            rendered = render_query(template, {"version": value})
        except CanaryAnalysisError:
            continue
        assert outside_strings(rendered) == outside_strings(template)


def test_a_missing_variable_is_a_clear_error() -> None:
    with pytest.raises(CanaryAnalysisError) as caught:
        render_query('up{app="{{app}}",version="{{version}}"}', {"app": "checkout"})
    assert str(caught.value) == "version: expected a value, got none. Fix: give version a value"


def test_placeholders_must_sit_inside_quoted_strings() -> None:
    assert template_problems('up{version="{{version}}"}') == []
    assert template_problems('up{path="a\\"{{v}}"}') == []  # an escaped quote stays inside
    assert template_problems("rate(x[{{window}}])") == ["{{window}} outside a quoted string"]
    assert template_problems("{{metric}}") == ["{{metric}} outside a quoted string"]
    assert template_problems('up{v="{{.window}}"}') == [
        "'{{.window}}\"}' (not a {{name}} placeholder)"
    ]
    with pytest.raises(CanaryAnalysisError, match="outside a quoted string"):
        render_query("{{metric}}", {"metric": "up"})


def test_the_file_sets_each_metric_and_the_defaults() -> None:
    analysis = parse_analysis(FILE, "checkout.yaml")
    assert analysis.name == "checkout"
    assert (analysis.step, analysis.window) == (30 * NS_PER_SECOND, 900 * NS_PER_SECOND)
    assert (analysis.alpha, analysis.pass_threshold, analysis.marginal_threshold) == (0.05, 90, 60)
    assert analysis.silent_after == 120.0
    latency, success = analysis.specs
    assert (latency.name, latency.direction, latency.tolerance) == (
        "latency_p99_seconds",
        "increase",
        0.1,
    )
    assert (latency.critical, latency.weight, latency.min_points) == (True, 2.0, 4)
    assert (success.direction, success.tolerance, success.min_points) == ("decrease", 0.02, 10)
    assert analysis.variables == ["app", "version"]
    assert analysis.judge_options() == {
        "alpha": 0.05,
        "pass_threshold": 90.0,
        "marginal_threshold": 60.0,
        "silent_after": 120.0,
    }


def test_binding_layers_each_side_over_the_files_vars() -> None:
    analysis = parse_analysis(FILE, "checkout.yaml")
    base, canary = analysis.bind({"version": "v1"}, {"version": "v2", "app": "checkout-eu"})
    assert base == {"app": "checkout", "version": "v1"}
    assert canary == {"app": "checkout-eu", "version": "v2"}
    queries = analysis.queries(canary)
    assert 'version="v2"' in queries["latency_p99_seconds"]
    assert "app='checkout-eu'" in queries["success_ratio"]


@pytest.mark.parametrize(
    ("baseline", "canary", "message"),
    [
        ({}, {"version": "v2"}, "baseline.version: expected a value for {{version}}, got none"),
        (
            {"version": "v1", "verison": "v1"},
            {"version": "v2"},
            "baseline.verison: expected one of the analysis's variables (app, version), got "
            "an unknown one",
        ),
        (
            {"version": "v1"},
            {"version": 'v2"}'},
            "canary.version: expected a label value of 1 to 128 letters, digits and . _ : / -",
        ),
        (
            {"version": "v1"},
            {"version": "v1"},
            "canary: expected variables that differ from the baseline's in at least one value",
        ),
    ],
)
def test_binding_errors_name_the_side_and_the_variable(
    baseline: dict[str, str], canary: dict[str, str], message: str
) -> None:
    analysis = parse_analysis(FILE, "checkout.yaml")
    with pytest.raises(CanaryAnalysisError) as caught:
        analysis.bind(baseline, canary)
    text = str(caught.value)
    assert text.startswith("analysis checkout: ")
    assert message in text
    assert "Fix: " in text
    assert "\n" not in text


def test_the_window_ends_on_the_step_and_has_a_limit() -> None:
    analysis = parse_analysis(FILE, "checkout.yaml")
    end = 1_700_000_017 * NS_PER_SECOND
    start, stop = analysis.window_at(end)
    assert stop == 1_700_000_010 * NS_PER_SECOND  # down to a multiple of 30 s
    assert stop - start == analysis.window
    assert analysis.window_at(end, 60 * NS_PER_SECOND)[0] == stop - 60 * NS_PER_SECOND
    with pytest.raises(CanaryAnalysisError, match="window: expected a window longer than 0 and "):
        analysis.window_at(end, 2 * 86_400 * NS_PER_SECOND)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "(file): expected a mapping with name and metrics, got an empty file"),
        ("name: [x", "line 1: expected valid YAML (one document)"),
        ("name: a\n---\nname: b\n", "expected valid YAML (one document)"),
        ("- a\n", "(top level): expected a mapping (key: value lines), got a list"),
        ("name: c\n", "metrics: expected a value (it is required), got nothing"),
        (
            "name: c\nmetrics: [{name: a, query: 'rate(x[{{range}}])'}]\n",
            "metrics.0.query: expected {{name}} placeholders inside quoted label values",
        ),
        (
            "name: c\nmetrics: [{name: a, query: up, direction: up}]\n",
            "metrics.0.direction: expected one of increase, decrease, either, got 'up'",
        ),
        (
            "name: c\nmetrics: [{name: a, query: up, weight: 0}]\n",
            "metrics.0.weight: expected a number above 0, got 0",
        ),
        (
            "name: c\nmetrics: [{name: a, query: up, toleranse: 0.1}]\n",
            "metrics.0.toleranse: expected a known field, got an unknown one",
        ),
        (
            "name: c\nmetrics: [{name: a, query: up}, {name: a, query: up}]\n",
            "metrics.1.name: expected a name no other metric has, got 'a'",
        ),
        (
            "name: c\nvars: {version: 2}\nmetrics: [{name: a, query: up}]\n",
            "vars.version: expected text, got 2. Fix: quote vars.version",
        ),
        (
            'name: c\nvars: {app: "a\\"b"}\nmetrics: [{name: a, query: up}]\n',
            "vars.app: expected a label value of 1 to 128 letters",
        ),
        (
            "name: c\ndefaults: {window: 2d}\nmetrics: [{name: a, query: up}]\n",
            "defaults.window: expected at most 1d, got 2d",
        ),
        (
            "name: c\ndefaults: {step: 10x}\nmetrics: [{name: a, query: up}]\n",
            "defaults.step: expected a positive duration such as 60s",
        ),
        (
            "name: c\ndefaults: {marginal_threshold: 99}\nmetrics: [{name: a, query: up}]\n",
            "defaults.marginal_threshold: expected at most the pass threshold (95), got 99",
        ),
        (
            "name: Check Out\nmetrics: [{name: a, query: up}]\n",
            "name: expected a name of lower-case letters, digits and . _ -",
        ),
        (
            "name: c\nmetrics: ["
            + ", ".join(f"{{name: m{i}, query: up}}" for i in range(51))
            + "]\n",
            "metrics: expected at most 50 item(s), got 51",
        ),
        ("a: &a [*a]\n", "(file): expected YAML within the limits, got a recursive alias"),
    ],
)
def test_a_bad_file_is_one_line_naming_field_expected_and_got(text: str, message: str) -> None:
    with pytest.raises(CanaryAnalysisError) as caught:
        parse_analysis(text, "canary.yaml")
    line = str(caught.value)
    assert line.startswith("canary.yaml: ")
    assert message in line
    assert "\n" not in line
    assert caught.value.source == "canary.yaml"
    assert caught.value.errors


def test_an_analysis_without_placeholders_binds_nothing() -> None:
    assert CanaryAnalysis("fixed", ()).bind({}, {}) == ({}, {})
