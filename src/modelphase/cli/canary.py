"""``modelphase canary judge``: is a release safe to roll further?

``--baseline B.csv --canary C.csv`` are long CSV ``timestamp,metric,value`` (Unix
seconds or RFC 3339; several rows per timestamp and metric are several instances, such
as pods) or NAB-style ``timestamp,value`` (one metric named ``value``). The baseline may
be the old version's pods over the same minutes or the same metrics before the change.
Each metric is judged by :func:`modelphase.decide.judge_canary`; the verdict prints as a
table (or ``--json``) and sets the exit code: 0 pass or marginal, 3 fail, 4
inconclusive, 1 bad input.

``--analysis FILE`` reads the samples from Prometheus instead: the file's metrics are
PromQL templates (:mod:`modelphase.decide.canary_analysis`) rendered once with
``--baseline-var`` and once with ``--canary-var`` (``version=v1``, ``version=v2``) and
run over the window (``--since``, or ``--start``/``--end``; default the file's) on the
server of ``--prometheus`` or ``MODELPHASE_PROMETHEUS_URL``, with the token, basic auth
and TLS settings of ``modelphase ingest prometheus`` (``MODELPHASE_PROMETHEUS_*``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer
from numpy.typing import NDArray
from rich.markup import escape
from rich.table import Table

from modelphase.cli._render import err, fail, out, print_json, progress, read_text_csv
from modelphase.cli.canary_decisions import from_decisions
from modelphase.config import get_settings
from modelphase.decide import (
    ALPHA,
    DIRECTIONS,
    MARGINAL_THRESHOLD,
    PASS_THRESHOLD,
    CanaryAnalysis,
    CanaryVerdict,
    MetricSpec,
    fetch_samples,
    judge_canary,
    read_analysis_file,
)
from modelphase.decide.canary_analysis import check_window
from modelphase.decide.serving import serving_specs
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, format_duration, format_time, parse_duration, parse_time
from modelphase.ingest import PrometheusClient, parse_timestamps, parse_values

app = typer.Typer(
    help="Canary analysis: judge a release's metrics against its baseline's.",
    no_args_is_help=True,
)

EXIT_FAIL = 3
EXIT_INCONCLUSIVE = 4
#: the samples one side of a judgement may hold (rows of one file)
MAX_ROWS = 2_000_000

_COLOURS = {"pass": "green", "marginal": "yellow", "fail": "red", "inconclusive": "blue"}


@app.command("judge")
def judge_command(
    ctx: typer.Context,
    baseline: Path | None = typer.Option(
        None, "--baseline", help="The baseline's samples (CSV), with --canary."
    ),
    canary: Path | None = typer.Option(
        None, "--canary", help="The canary's samples (CSV), with --baseline."
    ),
    analysis: Path | None = typer.Option(
        None,
        "--analysis",
        help="A canary analysis file (YAML): the metrics as PromQL templates, read from "
        "--prometheus instead of files.",
    ),
    prometheus: str | None = typer.Option(
        None,
        "--prometheus",
        help="Prometheus base URL for --analysis \\[env MODELPHASE_PROMETHEUS_URL]; token, "
        "basic auth and TLS from MODELPHASE_PROMETHEUS_* as for `ingest prometheus`.",
    ),
    baseline_vars: list[str] = typer.Option(
        [],
        "--baseline-var",
        help="KEY=VALUE bound to {{KEY}} in the baseline's queries, e.g. version=v1 (repeat).",
    ),
    canary_vars: list[str] = typer.Option(
        [],
        "--canary-var",
        help="KEY=VALUE bound to {{KEY}} in the canary's queries, e.g. version=v2 (repeat).",
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="With --analysis: judge the last DURATION (10m) up to --end or now "
        "(default: the file's window; at most 24h).",
    ),
    start: str | None = typer.Option(
        None, "--start", help="With --analysis: the window's start (RFC 3339, Unix s, now-1h)."
    ),
    end: str | None = typer.Option(
        None, "--end", help="With --analysis: the window's end (RFC 3339, Unix s; default now)."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Judge two versions of a served model on the decision log (their latency and "
        "fallback share), with --baseline-version and --canary-version.",
    ),
    baseline_version: int | None = typer.Option(
        None, "--baseline-version", help="With --model: the version judged against (production)."
    ),
    canary_version: int | None = typer.Option(
        None, "--canary-version", help="With --model: the new version."
    ),
    home: Path | None = typer.Option(
        None, "--home", help="With --model: the home folder of the decision log."
    ),
    metrics: list[str] = typer.Option(
        [],
        "--metric",
        help="NAME:DIRECTION, the bad direction: increase, decrease or either (default). "
        "Optionally NAME:DIRECTION:TOLERANCE (a relative shift, e.g. 0.1 for 10%%). "
        "Repeat for each metric; default: every metric in the files, direction either.",
    ),
    critical: list[str] = typer.Option(
        [], "--critical", help="A metric whose failure fails the release on its own (repeat)."
    ),
    tolerance: float = typer.Option(
        0.25,
        "--tolerance",
        help="The relative shift of the baseline's median that still counts as no worse.",
    ),
    min_points: int = typer.Option(
        3, "--min-points", help="Fewer samples than this on a side: the metric is inconclusive."
    ),
    alpha: float = typer.Option(
        ALPHA, "--alpha", help="1 - the confidence of each metric's interval (0.02: 98%%)."
    ),
    look: int | None = typer.Option(
        None,
        "--look",
        help="The K-th look of an analysis judged again as data comes (1, 2, ...): the "
        "intervals widen with K so that stopping at the first verdict keeps its error rate.",
    ),
    silent_after: str = typer.Option(
        "5m",
        "--silent-after",
        help="A canary with no data while the baseline reported for this long fails; 0 "
        "turns the rule off (no data is then inconclusive).",
    ),
    pass_threshold: float = typer.Option(PASS_THRESHOLD, "--pass-threshold"),
    marginal_threshold: float = typer.Option(MARGINAL_THRESHOLD, "--marginal-threshold"),
    as_json: bool = typer.Option(
        False, "--json", help='Print {"verdict", "score", "metrics": [...]} on stdout.'
    ),
) -> None:
    """Judge the canary against the baseline, metric by metric: the Hodges-Lehmann shift
    and its interval, relative to the baseline's median, against each metric's
    tolerance. A metric fails when it is shown worse than its tolerance, passes when
    it is shown within it, and is inconclusive on too little data. Exits 0 on pass or
    marginal, 3 on fail, 4 on inconclusive, 1 on bad input. With --analysis FILE the
    samples come from Prometheus: the file's queries with --baseline-var and
    --canary-var bound, over --since (or --start/--end)."""
    given = _given(ctx)
    _check_source(baseline, canary, analysis, given, model)
    if model is not None and (baseline_version is None or canary_version is None):
        fail("--model: expected --baseline-version V and --canary-version W. Fix: add them")
    if model is None and (baseline_version is not None or canary_version is not None):
        fail("--baseline-version and --canary-version go with --model NAME. Fix: add it")
    options: dict[str, Any] = {
        "alpha": alpha,
        "pass_threshold": pass_threshold,
        "marginal_threshold": marginal_threshold,
    }
    if model is not None:
        assert baseline_version is not None
        assert canary_version is not None
        base_samples, canary_samples, silent_for = from_decisions(
            model, baseline_version, canary_version, since=since, start=start, end=end,
            home=home,
        )  # fmt: skip
        if metrics:
            specs = metric_specs(
                metrics, critical, tolerance, min_points, base_samples, canary_samples
            )
        else:
            specs = [
                replace(s, critical=s.name in critical)
                for s in serving_specs(tolerance, min_points)
            ]
        options["silent_after"] = _silent_seconds(silent_after)
    elif analysis is not None:
        found = read_analysis_file(analysis)
        window = _window(found, since, start, end)
        base_samples, canary_samples, silent_for = _from_prometheus(
            found, prometheus, baseline_vars, canary_vars, window
        )
        specs = found.specs
        options = {**found.judge_options(), **{k: v for k, v in options.items() if k in given}}
        if "silent_after" in given:
            options["silent_after"] = _silent_seconds(silent_after)
    else:
        assert baseline is not None
        assert canary is not None
        base_samples, base_span = read_samples(baseline, "--baseline")
        canary_samples, canary_span = read_samples(canary, "--canary", allow_empty=True)
        check_windows(base_span, canary_span)
        specs = metric_specs(metrics, critical, tolerance, min_points, base_samples, canary_samples)
        options["silent_after"] = _silent_seconds(silent_after)
        silent_for = None
        if not any(np.isfinite(v).any() for v in canary_samples.values()) and base_span:
            silent_for = (base_span[1] - base_span[0]) / NS_PER_SECOND
    try:
        verdict = judge_canary(
            canary_samples, base_samples, specs, look=look, silent_for=silent_for, **options
        )
    except ValueError as exc:
        fail(f"{exc}. Fix: see modelphase canary judge --help")
    if as_json:
        print_json(verdict.to_dict())
    else:
        render(verdict)
    if verdict.verdict == "fail":
        raise typer.Exit(EXIT_FAIL)
    if verdict.verdict == "inconclusive":
        raise typer.Exit(EXIT_INCONCLUSIVE)


def read_samples(
    path: Path, option: str, *, allow_empty: bool = False
) -> tuple[dict[str, NDArray[np.float64]], tuple[int, int] | None]:
    """Each metric's values and the time span (ns) of a long or NAB-style CSV."""
    frame = read_text_csv(path, option, "a header (timestamp,metric,value)")
    frame.columns = [c.lower() for c in frame.columns]
    if "timestamp" not in frame.columns or "value" not in frame.columns:
        fail(
            f"{option} {path}: expected the columns timestamp,metric,value or timestamp,value, "
            f"got {','.join(frame.columns) or 'none'}. Fix: export one of those layouts"
        )
    if len(frame) > MAX_ROWS:
        fail(
            f"{option} {path}: expected at most {MAX_ROWS:,} rows, got {len(frame):,}. "
            "Fix: judge a shorter window, or aggregate instances first"
        )
    if not len(frame):
        if allow_empty:
            return {}, None
        fail(f"{option} {path}: expected rows below the header, got none")
    try:
        stamps = parse_timestamps(frame["timestamp"])
        values = parse_values(frame["value"])
    except ValidationError as exc:
        rows = getattr(exc, "rows", None) or []
        where = f" (line {rows[0] + 1})" if rows else ""
        fail(f"{option} {path}{where}: {exc}")
    names = frame["metric"].str.strip() if "metric" in frame.columns else None
    if names is not None and (names == "").any():
        line = int(np.argmax((names == "").to_numpy())) + 2
        fail(f"{option} {path}: expected a metric name on every row, got none on line {line}")
    keys = names.to_numpy(dtype=object) if names is not None else np.full(len(frame), "value")
    samples = {str(name): values[keys == name] for name in pd.unique(keys)}
    return samples, (int(stamps.min()), int(stamps.max()))


def check_windows(base: tuple[int, int] | None, canary: tuple[int, int] | None) -> None:
    """Refuse windows too far apart to be the same window or "just before the change":
    the gap between them longer than either window (often seconds against
    milliseconds, or another day's export)."""
    if base is None or canary is None:
        return
    gap = max(canary[0] - base[1], base[0] - canary[1])
    span = max(base[1] - base[0], canary[1] - canary[0], 60 * NS_PER_SECOND)
    if gap > span:
        fail(
            f"expected the baseline and the canary over the same window or the baseline just "
            f"before the canary, got them {format_duration(int(gap))} apart (baseline "
            f"{format_time(base[0])} to {format_time(base[1])}, canary {format_time(canary[0])} to "
            f"{format_time(canary[1])}). Fix: export both for the same minutes, in the same unit"
        )


def metric_specs(
    given: list[str],
    critical: list[str],
    tolerance: float,
    min_points: int,
    baseline: dict[str, Any],
    canary: dict[str, Any],
) -> list[MetricSpec]:
    """The metrics to judge from ``--metric`` and ``--critical`` (default: every metric
    in either file); a named metric in neither file exits 1."""
    known = sorted(set(baseline) | set(canary))
    parsed: dict[str, tuple[str, float]] = {}
    for text in given:
        name, direction, tol = _metric_option(text, tolerance)
        parsed[name] = (direction, tol)
    names = list(parsed) or known
    for name in [*names, *critical]:
        if name not in known:
            fail(
                f"metric {name!r}: expected one of the metrics in the files "
                f"({', '.join(known[:10]) or 'none'}), got a name in neither. Fix: check "
                f"the name, and write the direction as one of {', '.join(DIRECTIONS)}"
            )
    try:
        return [
            MetricSpec(
                name,
                parsed.get(name, ("either", tolerance))[0],
                parsed.get(name, ("either", tolerance))[1],
                critical=name in critical,
                min_points=min_points,
            )
            for name in names
        ]
    except ValueError as exc:
        fail(f"{exc}. Fix: see modelphase canary judge --help")


def _metric_option(text: str, tolerance: float) -> tuple[str, str, float]:
    """``NAME``, ``NAME:DIRECTION`` or ``NAME:DIRECTION:TOLERANCE``; a name may hold
    colons itself (Prometheus recording rules), so the fields are read from the right."""
    parts = text.rsplit(":", 2)
    if len(parts) == 3 and parts[1] in DIRECTIONS:
        try:
            return parts[0], parts[1], float(parts[2])
        except ValueError:
            fail(
                f"--metric {text}: expected NAME:DIRECTION:TOLERANCE with a number, got "
                f"{parts[2]!r}. Fix: e.g. --metric latency:increase:0.1"
            )
    name, _, last = text.rpartition(":")
    if name and last in DIRECTIONS:
        return name, last, tolerance
    return text, "either", tolerance


def render(verdict: CanaryVerdict) -> None:
    """The metrics as a rich table on stdout, the verdict on stderr."""
    table = Table(title="canary judge", title_justify="left")
    for name in ("metric", "verdict", "canary (n)", "baseline (n)", "shift [interval]", "why"):
        right = name in ("canary (n)", "baseline (n)", "shift [interval]")
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for m in verdict.metrics:
        colour = _COLOURS.get(m.verdict, "white")
        shift = "-"
        if m.relative_interval is not None:
            low, high = m.relative_interval
            shift = f"{_pct(m.relative_shift)} [{_pct(low)}, {_pct(high)}]"
        table.add_row(
            escape(m.metric) + (" (critical)" if m.critical else ""),
            f"[{colour}]{m.verdict}[/]",
            _num(m.canary_median, m.canary_n),
            _num(m.baseline_median, m.baseline_n),
            shift,
            escape(m.reason),
        )
    out.print(table)
    colour = _COLOURS.get(verdict.verdict, "white")
    err.print(
        f"[bold {colour}]{verdict.verdict.upper()}[/] score {verdict.score:g}: "
        f"{escape(verdict.reason)}"
    )


def _silent_seconds(text: str) -> float:
    """``--silent-after`` in seconds; ``inf`` when it is turned off (0)."""
    if text.strip() in ("0", "0s", "off"):
        return math.inf
    try:
        return parse_duration(text) / NS_PER_SECOND
    except ValidationError as exc:
        fail(f"--silent-after {text}: {exc}")


_FILE_ONLY = ("metrics", "critical", "tolerance", "min_points")
_VARS_ONLY = ("prometheus", "baseline_vars", "canary_vars")
_PROMETHEUS_ONLY = (*_VARS_ONLY, "since", "start", "end")
_MODEL_ONLY = ("baseline_version", "canary_version", "home")


def _given(ctx: typer.Context) -> set[str]:
    """The options given on the command line (not left at their defaults)."""
    given = set()
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name != "DEFAULT":
            given.add(name)
    return given


def _option(name: str) -> str:
    return "--" + {"metrics": "metric", "baseline_vars": "baseline-var"}.get(
        name, {"canary_vars": "canary-var"}.get(name, name.replace("_", "-"))
    )


def _check_source(
    baseline: Path | None,
    canary: Path | None,
    analysis: Path | None,
    given: set[str],
    model: str | None = None,
) -> None:
    """Exactly one source: both files, an analysis file (with its own options), or a
    model's versions in the decision log."""
    files = baseline is not None or canary is not None
    sources = [
        name
        for name, used in (
            ("files (--baseline/--canary)", files),
            ("--analysis", analysis is not None),
            ("--model", model is not None),
        )
        if used
    ]
    if len(sources) > 1:
        fail(f"expected one source of samples, got {' and '.join(sources)}. Fix: drop one")
    if not sources:
        fail(
            "expected a source of samples: --baseline B.csv --canary C.csv, --analysis FILE "
            "with --prometheus URL, or --model NAME with --baseline-version and "
            "--canary-version, got none. Fix: see modelphase canary judge --help"
        )
    if files and (baseline is None or canary is None):
        missing = "--canary" if canary is None else "--baseline"
        fail(f"expected --baseline and --canary together, got no {missing}. Fix: add it")
    wrong: tuple[str, ...]
    if analysis is not None:
        wrong, where, what = _FILE_ONLY + _MODEL_ONLY, "the analysis file sets them", "--analysis"
    elif model is not None:
        wrong, where, what = _VARS_ONLY, "they need --analysis", "--model"
    else:
        wrong, where, what = (
            _PROMETHEUS_ONLY + _MODEL_ONLY,
            "they need --analysis",
            "--baseline/--canary",
        )
    extra = [_option(name) for name in wrong if name in given]
    if extra:
        it = "it" if len(extra) == 1 else "them"
        if what == "--baseline/--canary" and all(e in map(_option, _MODEL_ONLY) for e in extra):
            where = "they need --model"
        fail(f"expected no {', '.join(extra)} with {what}, got {it} ({where}). Fix: drop {it}")


def _window(
    analysis: CanaryAnalysis, since: str | None, start: str | None, end: str | None
) -> tuple[int, int]:
    """``(start, end)`` in ns: ``--start``/``--end`` as given, else the last ``--since``
    (or the file's window) up to ``--end`` or now, on the analysis's step."""
    if since is not None and start is not None:
        fail("expected --since or --start, got both. Fix: drop one")
    now = int(datetime.now(UTC).timestamp()) * NS_PER_SECOND
    try:
        end_ns = parse_time(end, now=now) if end is not None else now
    except ValidationError as exc:
        fail(f"--end {end}: {exc}")
    if start is not None:
        try:
            start_ns = parse_time(start, now=now)
        except ValidationError as exc:
            fail(f"--start {start}: {exc}")
        if start_ns >= end_ns:
            fail(
                f"expected --start before --end, got {format_time(start_ns)} and "
                f"{format_time(end_ns)}. Fix: swap them"
            )
        check_window(end_ns - start_ns, "--start/--end")
        return start_ns, end_ns
    try:
        window = parse_duration(since) if since is not None else None
    except ValidationError as exc:
        fail(f"--since {since}: {exc}")
    if end is not None:  # a window the caller placed: not moved onto the step
        length = analysis.window if window is None else window
        check_window(length, "--since")
        return end_ns - length, end_ns
    return analysis.window_at(end_ns, window)


def _from_prometheus(
    analysis: CanaryAnalysis,
    url: str | None,
    baseline_vars: list[str],
    canary_vars: list[str],
    window: tuple[int, int],
) -> tuple[dict[str, Any], dict[str, Any], float | None]:
    """The analysis's baseline and canary samples, and how long the canary was silent."""
    settings = get_settings().prometheus
    settings = replace(settings, url=url or settings.url)
    if not settings.url:
        fail(
            "--analysis: expected a Prometheus to read from, got none. Fix: pass "
            "--prometheus URL or set MODELPHASE_PROMETHEUS_URL"
        )
    base = _vars(baseline_vars, "--baseline-var")
    can = _vars(canary_vars, "--canary-var")
    total = 2 * len(analysis.metrics)
    with (
        PrometheusClient.from_settings(settings) as client,
        progress("querying Prometheus", total) as update,
    ):
        found = fetch_samples(
            client,
            analysis,
            base,
            can,
            start=window[0],
            end=window[1],
            prefixes=("--baseline-var ", "--canary-var "),
            progress=update,
        )
    for message in found.warnings:
        err.print(f"[yellow]prometheus warning:[/] {escape(message)}")
    return found.baseline, found.canary, found.silent_for


def _vars(pairs: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in pairs:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            fail(f"{option} {text}: expected KEY=VALUE, got no '='. Fix: e.g. {option} version=v2")
        if key.strip() in out:
            fail(f"{option} {key.strip()}: expected each key once, got it twice. Fix: drop one")
        out[key.strip()] = value
    return out


def _num(value: float | None, n: int) -> str:
    return "-" if value is None else f"{value:.4g} ({n})"


def _pct(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:+.0%}" if math.isfinite(value) else ("+inf" if value > 0 else "-inf")
