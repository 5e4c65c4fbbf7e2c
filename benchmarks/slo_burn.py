"""Burn-alert benchmark: the rules of ``modelphase slo rules``, SRE Workbook windows
(the default) against Sloth's, evaluated by a real Prometheus.

Corpora (``_sli.py``, ``_sli_changerca.py``): the simulator's SLIs with injected fast
burns (should page), slow burns (should ticket, not page) and clean weeks (should be
silent), seeds 0, 1, 2, 4 services each; ChangeRCA's 217 releases as service-level
success-rate SLIs (faulty: should alert after the release; good: should not), with 3
days of clean history before each release (``changerca``) and without
(``changerca-nohistory``).

For each corpus the project writes one SLO (Sloth ``prometheus/v1``, grouped by the
SLI's labels; 99.9% on the simulator, 99% on ChangeRCA) and its rules, through
``modelphase.decide.slo`` with a 30-day period: ``--windows workbook`` (page 14.4x
1h/5m and 6x 6h/30m; ticket 1x 3d/6h) and ``--windows sloth`` (the same plus a ticket
3x 1d/2h), optionally also the workbook's with ``--min-events``. Every rule file
passes ``promtool check rules``. Then (``_prom.py``): the counters are backfilled with
promtool, the SLI recording rules of every rule set (they are the same rules where
the windows are the same) are backfilled with ``promtool tsdb create-blocks-from
rules`` against a Prometheus 2.42 on loopback, the server is restarted on the new
blocks, and each alert's ``expr`` is asked with ``query_range`` at every minute of the
history. An alert is active at a minute when its expression returns a sample there
(after its ``for``, per label set). Scores (``_burn_score.py``) use a grace of 6 h
(the longest short window) after each incident's end.

    python benchmarks/slo_burn.py [--seeds 0 1 2] [--services 4] [--weeks 5]
        [--data ../shared/data/canary/changerca/data] [--no-changerca]
        [--min-events N] [--workdir DIR] [--json OUT]

Needs ``prometheus`` and ``promtool`` on PATH (Debian package ``prometheus``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

import _burn_score as bs
import _changerca as crca
import _prom as prom
import _sli
import _sli_changerca
from modelphase.decide.slo import (
    SLOTH,
    WORKBOOK,
    AlertWindows,
    dump_yaml,
    parse_slos,
    plan_rules,
    rule_groups,
)
from modelphase.frame import NS_PER_SECOND, parse_duration

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "canary" / "changerca" / "data"
PERIOD = 30 * 86_400
GRACE = 6 * 60  # minutes: the longest short window of both rule sets
SEVERITIES = ("page", "ticket")
STAGES = 6

Key = tuple[str, ...]
Alerts = dict[str, dict[str, dict[Key, bs.Active]]]  # rule set -> severity -> key


@dataclass(frozen=True)
class AlertRule:
    rule_set: str
    severity: str
    expr: str
    for_steps: int


def rule_sets(min_events: float | None) -> list[tuple[str, AlertWindows, float]]:
    out = [("workbook", WORKBOOK, 0.0), ("sloth", SLOTH, 0.0)]
    if min_events:
        out.append((f"workbook, min-events {min_events:,.0f}", WORKBOOK, float(min_events)))
    return out


def generate(
    corpus: _sli.Corpus, min_events: float | None
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], list[AlertRule]]:
    """Each rule set's rule file, the union of their SLI recording rules (as one group),
    and their alerts."""
    slos = parse_slos(_sli.slo_text(corpus)).slos
    files: dict[str, dict[str, Any]] = {}
    recordings: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
    alerts = []
    for name, windows, guard in rule_sets(min_events):
        plans, _ = plan_rules(slos, windows, period=PERIOD, min_events=guard)
        files[name] = rule_groups(plans)
        for group in files[name]["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    for_ns = parse_duration(rule["for"]) if "for" in rule else 0
                    steps = for_ns // (prom.STEP_S * NS_PER_SECOND)
                    sev = rule["labels"]["sloth_severity"]
                    alerts.append(AlertRule(name, sev, rule["expr"], steps))
                elif "slo:" not in rule["expr"] and "vector(" not in rule["expr"]:
                    # the SLI rules; the others read recorded series, which promtool
                    # cannot backfill in the same pass, and no alert reads them
                    ident = (rule["record"], tuple(sorted(rule.get("labels", {}).items())))
                    if recordings.setdefault(ident, rule)["expr"] != rule["expr"]:
                        raise AssertionError(f"two rule sets record {ident} differently")
    group = {"name": "burnbench-recordings", "rules": list(recordings.values())}
    return files, [group], alerts


def evaluate(
    corpus: _sli.Corpus, workdir: Path, min_events: float | None, step: Callable[[str], None]
) -> tuple[Alerts, dict[str, float]]:
    """Every alert's timeline per SLI key, and the seconds each stage took."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def done(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now
        step(stage)

    workdir.mkdir(parents=True, exist_ok=True)
    files, recordings, rules = generate(corpus, min_events)
    _, promtool = prom.binaries()
    for name, data in files.items():
        path = workdir / f"{name.replace(' ', '').replace(',', '-')}.rules.yaml"
        path.write_text(dump_yaml(data), encoding="utf-8")
        subprocess.run([promtool, "check", "rules", str(path)], check=True, capture_output=True)
    done("rules generated and checked")
    text = prom.counters_openmetrics(
        (metric, dict(zip(corpus.key_labels, s.key, strict=True)), corpus.first_s + 60 * s.first, v)
        for s in corpus.series
        for metric, v in (
            ("http_requests_total", np.cumsum(s.requests)),
            ("http_requests_errors_total", np.cumsum(s.errors)),
        )
    )
    server = prom.Prometheus(workdir / "prometheus")
    server.backfill(text)
    del text
    done("counters backfilled")
    alerts: Alerts = {name: {sev: {} for sev in SEVERITIES} for name in files}
    with server:
        server.start(min_series=2 * len(corpus.series))
        done("server started")
        end_s = corpus.first_s + 60 * corpus.n_minutes
        server.backfill_rules(recordings, corpus.first_s, end_s)
        done("recording rules backfilled")
        longest = max(corpus.series, key=lambda s: len(s.requests))
        probe = corpus.first_s + 60 * (longest.first + len(longest.requests) // 2)
        ratios = [r for r in recordings[0]["rules"] if "sloth_window" in r["labels"]]
        shortest = min(ratios, key=lambda r: parse_duration(r["labels"]["sloth_window"]))
        times = server.sample_times(shortest["record"], probe)
        if not len(times):
            raise RuntimeError(f"no {shortest['record']} samples near {probe}: {server.log()}")
        start_ms = corpus.first_s * 1000 + int(times[-1] - corpus.first_s * 1000) % 60_000
        for rule in rules:
            timelines = alerts[rule.rule_set][rule.severity]
            for labels, steps in server.query_range(rule.expr, start_ms, corpus.n_minutes):
                key = tuple(labels[name] for name in corpus.key_labels)
                active = np.zeros(corpus.n_minutes, dtype=bool)
                active[steps] = True
                active = bs.apply_for(active, rule.for_steps)
                timelines[key] = timelines[key] | active if key in timelines else active
        done("alerts evaluated")
    return alerts, seconds


def subset(alerts: Mapping[str, Mapping[Key, bs.Active]], keys: set[Key]) -> dict[str, Any]:
    return {sev: {k: v for k, v in lines.items() if k in keys} for sev, lines in alerts.items()}


def scores(corpus: _sli.Corpus, alerts: Alerts) -> dict[str, dict[str, Any]]:
    """Per rule set: the pooled scores (``all``) and each part's (the seeds)."""
    out: dict[str, dict[str, Any]] = {}
    for name, by_sev in alerts.items():
        out[name] = {"all": bs.score(corpus.incidents, corpus.clean, by_sev, grace=GRACE)}
        for part, keys in corpus.parts.items():
            out[name][part] = bs.score(
                [i for i in corpus.incidents if i.key in keys],
                {k: v for k, v in corpus.clean.items() if k in keys},
                subset(by_sev, keys),
                grace=GRACE,
            )
    return out


def differing(alerts: Alerts, n_minutes: int) -> dict[str, dict[str, int]]:
    """Per rule set and severity: the SLI-minutes where its alert and Sloth's differ."""
    off = np.zeros(n_minutes, dtype=bool)
    out = {}
    for name, by_sev in alerts.items():
        out[name] = {
            sev: sum(
                int((lines.get(k, off) != alerts["sloth"][sev].get(k, off)).sum())
                for k in set(lines) | set(alerts["sloth"][sev])
            )
            for sev, lines in by_sev.items()
        }
    return out


def corpus_info(corpus: _sli.Corpus) -> dict[str, Any]:
    kinds = [i.kind for i in corpus.incidents]
    return {
        "objective": corpus.objective,
        "slis": len(corpus.series),
        "minutes": corpus.n_minutes,
        "samples": 2 * sum(len(s.requests) for s in corpus.series),
        "incidents": {k: kinds.count(k) for k in sorted(set(kinds))},
        "clean_spans": sum(len(v) for v in corpus.clean.values()),
        "incidents_spending_2pct": {
            k: sum(bool(i.budget_share >= bs.DESIGN_SHARE) for i in corpus.incidents if i.kind == k)
            for k in sorted(set(kinds))
        },
    }


# --------------------------------------------------------------------------- report

Column = tuple[str, Callable[[dict[str, Any]], float | None], str]


def _get(*path: str) -> Callable[[dict[str, Any]], float | None]:
    def get(s: dict[str, Any]) -> float | None:
        value: Any = s
        for part in path:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return None if value is None else float(value)

    return get


SIM_QUALITY: list[Column] = [
    ("page precision", _get("page", "precision"), "share"),
    ("ticket precision", _get("ticket", "precision"), "share"),
    ("fast: paged", _get("fast", "recall_right"), "share"),
    ("fast ≥2%: paged", _get("fast", "recall_right_spent_2pct"), "share"),
    ("fast <2%: paged", _get("fast", "recall_right_below_2pct"), "share"),
    ("fast: any alert", _get("fast", "recall_any"), "share"),
    ("slow: ticketed", _get("slow", "recall_right"), "share"),
    ("slow: any alert", _get("slow", "recall_any"), "share"),
    ("slow burns paged", _get("slow", "paged"), "count"),
]
SIM_TIMES: list[Column] = [
    ("fast: page TTD med", _get("fast", "ttd_median"), "minutes"),
    ("p90", _get("fast", "ttd_p90"), "minutes"),
    ("slow: ticket TTD med", _get("slow", "ttd_median"), "minutes"),
    ("p90", _get("slow", "ttd_p90"), "minutes"),
    ("fast: reset med", _get("fast", "reset_median"), "minutes"),
    ("slow: reset med", _get("slow", "reset_median"), "minutes"),
    ("clean: page min", _get("page", "clean_minutes"), "count"),
    ("clean: ticket min", _get("ticket", "clean_minutes"), "count"),
    ("clean: episodes", _get("any", "clean_episodes"), "count"),
]
CRCA: list[Column] = [
    ("faulty: any alert", _get("fault", "recall_any"), "share"),
    ("faulty: paged", lambda s: _share(s, "fault", "paged"), "share"),
    ("good alerted", lambda s: _share(s, "n_clean_spans", "any"), "share"),
    ("page precision", _get("page", "precision"), "share"),
    ("ticket precision", _get("ticket", "precision"), "share"),
    ("any precision", _get("any", "precision"), "share"),
    ("TTD med", _get("fault", "ttd_median"), "minutes"),
    ("TTD p90", _get("fault", "ttd_p90"), "minutes"),
    ("good: alert min", _get("any", "clean_minutes"), "count"),
]


def _share(s: dict[str, Any], what: str, sev: str) -> float | None:
    if what == "n_clean_spans":
        n = s.get("n_clean_spans", 0)
        return s[sev]["clean_spans_alerted"] / n if n else None
    part = s.get(what)
    return part[sev] / part["n"] if part else None


def _cell(value: float | None, kind: str) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    if kind == "share":
        return f"{value:.3f}"
    if kind == "count":
        return f"{value:.0f}"
    if kind == "ratio":
        return f"{value:.2f}x"
    return f"{value:.0f}m" if abs(value) < 120 else f"{value / 60:.1f}h"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if b == 0:
        return 1.0 if a == 0 else None
    return a / b


def table(
    title: str,
    rows: list[tuple[str, str, dict[str, Any]]],
    columns: list[Column],
    ratio_parts: set[str],
) -> Table:
    """Rows ``(rules, part, scores)``; after the pooled rows, each rule set's ratio to
    Sloth's windows."""
    out = Table(title=title)
    for name in ("rules", "part", *(c[0] for c in columns)):
        out.add_column(name, justify="left" if name in ("rules", "part") else "right")
    for rules, part, s in rows:
        out.add_row(rules, part, *(_cell(get(s), kind) for _, get, kind in columns))
    pooled = {(r, p): s for r, p, s in rows}
    for rules, part, s in rows:
        peer = pooled.get(("sloth", part))
        if rules == "sloth" or part not in ratio_parts or peer is None:
            continue
        cells = [_cell(_ratio(get(s), get(peer)), "ratio") for _, get, _ in columns]
        out.add_row(f"{rules} / sloth", part, *cells, style="dim")
    return out


def run_corpora(
    corpora: list[_sli.Corpus], root: Path, min_events: float | None, progress: Progress
) -> dict[str, Any]:
    out = {}
    for corpus in corpora:
        task = progress.add_task(corpus.name, total=STAGES, stage="")

        def step(stage: str, task: TaskID = task) -> None:
            progress.update(task, advance=1, stage=stage)

        alerts, seconds = evaluate(corpus, root / corpus.name, min_events, step)
        out[corpus.name] = {
            "info": corpus_info(corpus),
            "seconds": seconds,
            "scores": scores(corpus, alerts),
            "minutes_differing_from_sloth": differing(alerts, corpus.n_minutes),
        }
        progress.update(task, completed=STAGES, stage="scored")
    return out


def load_changerca(data: Path, progress: Progress) -> list[_sli.Corpus]:
    cases = crca.find_cases(str(data))
    if not cases:
        raise SystemExit(
            f"no ChangeRCA experiments under {data}. Fix: pass --data or --no-changerca"
        )
    task = progress.add_task("loading ChangeRCA", total=len(cases), stage="")
    releases = []
    for case in cases:
        releases.extend(crca.load_case(case))
        progress.update(task, advance=1, stage=f"{len(releases)} releases")
    return [
        _sli_changerca.changerca_corpus(releases, history_days=3),
        _sli_changerca.changerca_corpus(releases, history_days=0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--services", type=int, default=4)
    parser.add_argument("--weeks", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--no-changerca", action="store_true")
    parser.add_argument("--min-events", type=float, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="kept; default: a temp dir")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console()
    prom.binaries()
    began = time.perf_counter()
    columns = (
        TextColumn("{task.description:<20}"),
        BarColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
    )
    with tempfile.TemporaryDirectory(prefix="slo_burn-") as tmp:
        root = args.workdir or Path(tmp)
        with Progress(*columns, console=console) as progress, ThreadPoolExecutor(2) as pool:
            sim = pool.submit(
                lambda: run_corpora(
                    [
                        _sli.merge(
                            [
                                _sli.simulated(seed, services=args.services, weeks=args.weeks)
                                for seed in args.seeds
                            ]
                        )
                    ],
                    root,
                    args.min_events,
                    progress,
                )
            )
            other = None
            if not args.no_changerca:
                other = pool.submit(
                    lambda: run_corpora(
                        load_changerca(args.data, progress), root, args.min_events, progress
                    )
                )
            results = sim.result() | (other.result() if other is not None else {})
    elapsed = time.perf_counter() - began
    sim_rows = [
        (rules, part, parts[part])
        for only_all in (True, False)
        for rules, parts in results["sim"]["scores"].items()
        for part in parts
        if (part == "all") == only_all
    ]
    info = results["sim"]["info"]
    title = (
        f"simulator: {info['slis']} SLIs ({len(args.seeds)} seeds), "
        f"{info['incidents'].get('fast', 0)} fast burns, {info['incidents'].get('slow', 0)} "
        f"slow burns, {info['clean_spans']} clean service-weeks; objective 99.9%"
    )
    console.print(table(title + ": precision and recall", sim_rows, SIM_QUALITY, {"all"}))
    console.print(table(title + ": times and clean weeks", sim_rows, SIM_TIMES, {"all"}))
    crca_names = [name for name in results if name != "sim"]
    if crca_names:
        rows = [
            (rules, name if part == "all" else f"  {part}", by_part[part])
            for name in crca_names
            for part in results[name]["scores"]["sloth"]
            for rules, by_part in results[name]["scores"].items()
        ]
        c_info = results[crca_names[0]]["info"]
        console.print(
            table(
                f"ChangeRCA: {c_info['incidents'].get('fault', 0)} faulty and "
                f"{c_info['clean_spans']} good releases; objective 99%",
                rows,
                CRCA,
                set(crca_names),
            )
        )
    for name, result in results.items():
        stages = ", ".join(f"{stage} {sec:.0f} s" for stage, sec in result["seconds"].items())
        console.print(f"{name}: {result['info']['samples']:,} samples; {stages}")
    console.print(f"{elapsed:.0f} s in all")
    if args.json is not None:
        out = {"seconds": elapsed, "grace_minutes": GRACE, "period_days": PERIOD // 86_400}
        args.json.write_text(json.dumps(out | {"corpora": results}, indent=2))
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
