"""``modelphase detect``: anomaly scores for NAB-style streams, one file or a NAB corpus;
grouped, explained alerts for a dataset.

Each file is one stream, scored row after row in file order by a fresh detector
(:func:`modelphase.anomaly.score_stream`), and written as
``timestamp,value,anomaly_score`` with the input's timestamp and value cells as found.
Every input is read and checked before any output is written; each output file is
replaced atomically, so bad input writes nothing and a crash leaves no half file.

``--dataset ID --alerts`` runs :func:`modelphase.anomaly.detect_alerts` over every series
of a stored dataset and prints the alerts (a table on stderr, JSON on stdout with
``--json``), with one warning line when series are too short to calibrate reliably
(:meth:`modelphase.anomaly.Alerter.short_series`); it writes nothing. Each alert carries
its likely causes: :func:`modelphase.decide.triage_alerts.hypotheses_for` triages every
service of the dataset at the alert's start (the first ``--group-by`` label names a
service) and keeps the top three that changed.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import typer
from numpy.typing import NDArray
from rich.markup import escape
from rich.table import Table

from modelphase.anomaly import (
    DEFAULT_DETECTOR,
    DETECTORS,
    RELIABLE_HISTORY,
    Alert,
    Alerter,
    FixedThreshold,
    build_detector,
    default_decider,
    detect_alerts,
    score_stream,
)
from modelphase.cli._checks import check_input_file, check_output_file, check_output_folder
from modelphase.cli._render import err, fail, print_json, progress, stages
from modelphase.decide.triage_alerts import Hypotheses, hypotheses_for, triage_settings
from modelphase.exceptions import NoSeriesError, SourceError
from modelphase.files import atomic_path
from modelphase.frame import format_time, label_table, parse_duration, parse_series_id, series_id
from modelphase.ingest import DatasetStore, Stream, read_stream
from modelphase.limits import MAX_FILES, MAX_INPUT_BYTES, check_at_most

#: The output's columns.
HEADER = ("timestamp", "value", "anomaly_score")
#: An infinite score is written as the largest finite float (NAB's scorer and most
#: tools need finite numbers), -inf as its negative, NaN as 0 (no evidence).
SCORE_MAX = sys.float_info.max


def detect_command(
    input_path: Path | None = typer.Option(
        None, "--input", "-i", help="A NAB-style CSV (timestamp,value): one stream."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="With --input: the CSV to write."
    ),
    nab_dir: Path | None = typer.Option(
        None, "--nab-dir", help="Or a NAB checkout: every DIR/data/<category>/<file>.csv."
    ),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", help="With --nab-dir: writes OUT/<category>/<file>.csv."
    ),
    detector: str = typer.Option(
        DEFAULT_DETECTOR,
        "--detector",
        help=f"The streaming detector: {', '.join(sorted(DETECTORS))}.",
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="With --alerts: a stored dataset's id (or a unique prefix)."
    ),
    alerts: bool = typer.Option(
        False, "--alerts", help="Grouped alerts with explanations for every series of --dataset."
    ),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help="With --alerts: flag scores at or above this (default: the detector's own, "
        "3 for modelphase: one point in a thousand).",
    ),
    group_by: list[str] | None = typer.Option(
        None,
        "--group-by",
        help="With --alerts: the label whose series share an alert (repeatable; default service).",
    ),
    cooldown: str | None = typer.Option(
        None,
        "--cooldown",
        help="With --alerts: flags less than this apart are one episode, and episodes "
        "of a group less than this apart one alert (default 1h).",
    ),
    min_deviation: float | None = typer.Option(
        None,
        "--min-deviation",
        help="With --alerts: episodes whose flagged points are all fewer robust "
        "deviations than this from the expected value are not alerts (default 6; 0 keeps "
        "them all).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON summary (with --alerts: the alerts) on stdout."
    ),
) -> None:
    """Score NAB-style streams (timestamp,value) with a streaming detector;
    write timestamp,value,anomaly_score: one row per input row, same order.

    --input FILE --output OUT scores one file. --nab-dir DIR --output-dir OUT
    scores every DIR/data/<category>/<file>.csv into OUT/<category>/<file>.csv.

    Each row is scored from the rows before it, then learned: no look-ahead.
    Rows are kept as they come: a timestamp that repeats (a DST change) or
    steps back is scored, not refused. The timestamp and value cells are
    written as found, the scores in full precision; an infinite score is
    written as the largest finite float, with a warning. An empty value or
    nan is a missing point, scored by the detector (zscore gives it 0).

    --dataset ID --alerts runs the detector over every series of a stored
    dataset, flags scores at --threshold, merges each series' flags into
    episodes (--cooldown), groups the episodes of one service (--group-by)
    into one alert, and explains each: expected value and range, deviation,
    and the pattern that broke (level, spike, dip, variance, trend,
    seasonality). Each alert also lists its likely causes across every
    service of the dataset: the top 3 services whose metrics moved the most
    (robust z-scores) from the 2 h before the alert's start to 15 min after it,
    the first --group-by label naming a service ("likely cause" in the table,
    "hypotheses" in --json; none, with a reason, when that window cannot be
    triaged). A table on stderr; --json prints the alerts on stdout. A
    series with fewer than 1,000 points is too short to calibrate reliably:
    one warning line says so (and --json lists them under short_history). Exits
    0 with alerts or none.

    Exits 1 on bad input, writing nothing (a value that is not a number, an
    unreadable timestamp, a missing column, an empty file, an unknown
    detector or dataset); 2 on a usage error.
    """
    if dataset is not None or alerts:
        _check_alerts_usage(dataset, alerts, input_path, output, nab_dir, output_dir)
        assert dataset is not None
        _alerts(
            dataset,
            detector,
            threshold,
            group_by or ["service"],
            cooldown or "1h",
            6.0 if min_deviation is None else min_deviation,
            as_json,
        )
        return
    if threshold is not None or group_by or cooldown is not None or min_deviation is not None:
        raise typer.BadParameter(
            "--threshold, --group-by, --cooldown and --min-deviation go with --alerts"
        )
    where = _check_usage(input_path, output, nab_dir, output_dir)
    model = build_detector(detector)  # an unknown name exits 1, listing the known ones
    if input_path is not None:
        check_output_file(where, "--output")
        check_input_file(input_path, "--input")
        pairs = [(input_path, where)]
    else:
        assert nab_dir is not None
        check_output_folder(where, "--output-dir")
        pairs = nab_pairs(nab_dir, where)
        _check_corpus([source for source, _ in pairs], nab_dir)
    for source, target in pairs:
        if source.resolve() == target.resolve():
            raise typer.BadParameter(f"the output {target} is the input: it would be overwritten")

    started = time.perf_counter()
    streams: list[Stream] = []
    n_clipped = 0
    with stages() as note:
        for done, (source, _) in enumerate(pairs, 1):
            streams.append(read_stream(source))
            note("reading", done, len(pairs))
        for done, ((source, target), stream) in enumerate(zip(pairs, streams, strict=True), 1):
            scores = score_stream(model, stream.values, stream.times)
            clipped = write_scores(target, stream, scores)
            if clipped:
                n_clipped += clipped
                err.print(
                    f"[yellow]warning:[/] {escape(str(source))}: {clipped} score(s) not finite, "
                    f"written as {SCORE_MAX!r} (inf) or 0.0 (NaN)"
                )
            note("scoring", done, len(pairs))
    seconds = time.perf_counter() - started
    _summary(model.name, where, pairs, streams, seconds, n_clipped, as_json)


def _check_alerts_usage(
    dataset: str | None,
    alerts: bool,
    input_path: Path | None,
    output: Path | None,
    nab_dir: Path | None,
    output_dir: Path | None,
) -> None:
    if not alerts:
        raise typer.BadParameter("--dataset ID goes with --alerts (grouped alerts)")
    if dataset is None:
        raise typer.BadParameter("--alerts needs --dataset ID (a stored dataset)")
    if any(o is not None for o in (input_path, output, nab_dir, output_dir)):
        raise typer.BadParameter(
            "--dataset ID --alerts excludes --input, --output, --nab-dir and --output-dir"
        )


def _alerts(
    dataset: str, detector: str, threshold: float | None, group_by: list[str], cooldown: str,
    min_deviation: float, as_json: bool,
) -> None:  # fmt: skip
    """The third form: grouped, explained alerts of a stored dataset."""
    model = build_detector(detector)  # an unknown name exits 1, listing the known ones
    parse_duration(cooldown)  # a bad duration exits 1 before any work
    if threshold is not None and not np.isfinite(threshold):
        fail(f"--threshold: expected a finite number, got {threshold}")
    if not (np.isfinite(min_deviation) and min_deviation >= 0):
        fail(f"--min-deviation: expected a number >= 0, got {min_deviation}")
    decider = default_decider(detector) if threshold is None else FixedThreshold(threshold)
    store = DatasetStore()
    dataset_id = store.resolve(dataset)  # an unknown id exits 1
    panel = store.load(dataset_id)
    names = set(label_table(panel.ids)["label"])
    unknown = [g for g in group_by if g not in names]
    if unknown:
        fail(
            f"--group-by: no series of dataset {dataset_id} has the label "
            f"{', '.join(map(repr, unknown))}; its labels are "
            f"{', '.join(sorted(names - {'__name__'})) or 'none'}. Fix: pass one of them"
        )
    started = time.perf_counter()
    with progress("scoring series", panel.n_series) as update:
        found = detect_alerts(
            panel,
            model,
            decider,
            group_by,
            cooldown=cooldown,
            min_deviation=min_deviation,
            progress=update,
        )
    seconds = time.perf_counter() - started
    with progress("triaging alerts", len(found)) as update:
        causes = hypotheses_for(found, panel, service_label=group_by[0], progress=update)
    n_episodes = sum(len(a.episodes) for a in found)
    short = Alerter(model, decider).short_series(panel)
    warning = short_history_warning(short, panel.n_series)
    if warning:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    if as_json:
        print_json(
            {
                "dataset": dataset_id,
                "detector": {"name": model.name, "params": model.get_params()},
                "decider": {"name": type(decider).__name__, "params": decider.get_params()},
                "group_by": group_by,
                "cooldown": cooldown,
                "min_deviation": min_deviation,
                "series": panel.n_series,
                "points": panel.n_points,
                "seconds": round(seconds, 3),
                "episodes": n_episodes,
                "short_history": short,
                "warnings": [warning] if warning else [],
                "triage": triage_settings(group_by[0]),
                "alerts": [
                    {**a.to_dict(), **h.to_dict()} for a, h in zip(found, causes, strict=True)
                ],
            }
        )
        return
    title = f"alerts of dataset {dataset_id} ({len(found)})"
    err.print(alerts_table(found, title=title, hypotheses=causes))
    for line in alert_reasons(found):
        err.print(line)
    for line in cause_lines(causes):
        err.print(line)
    err.print(
        f"{len(found)} alert(s) from {n_episodes} episode(s) on {panel.n_series:,} series "
        f"({panel.n_points:,} points, {seconds:.1f} s): {model.name}, threshold "
        f"{decider.get_params().get('threshold', '?')}, cooldown {cooldown}, grouped by "
        f"{', '.join(group_by)}"
    )


def short_history_warning(short: Mapping[str, int], n_series: int) -> str:
    """One line for the series too short to calibrate reliably ("" for none)."""
    if not short:
        return ""
    which = next(iter(short)) if len(short) == 1 else f"{len(short):,} of {n_series:,} series"
    return (
        f"{which} {'has' if len(short) == 1 else 'have'} fewer than {RELIABLE_HISTORY:,} "
        f"points (the fewest {min(short.values()):,}): too short to calibrate scores "
        "reliably; a score past a series' largest so far rests on a fitted tail. Fix: "
        f"give {RELIABLE_HISTORY:,} points of history or more"
    )


def _when(ns: int, since: int | None = None) -> str:
    """``MM-DD HH:MM`` (UTC), or ``HH:MM`` on the same day as ``since``."""
    text = format_time(ns)
    if since is not None and format_time(since)[:10] == text[:10]:
        return text[11:16]
    return f"{text[5:10]} {text[11:16]}"


def _span(alert: Alert) -> str:
    """Start; ``to`` the end and the peak when they differ from it."""
    lines = [_when(alert.start)]
    if alert.end != alert.start:
        lines.append(f"to {_when(alert.end, alert.start)}")
    if alert.peak != alert.start:
        lines.append(f"peak {_when(alert.peak, alert.start)}")
    return "\n".join(lines)


def member_name(uid: str, group: Mapping[str, str]) -> str:
    """A member series without the labels its alert's group already says."""
    try:
        labels = parse_series_id(uid)
    except ValueError:
        return uid
    short = series_id({k: v for k, v in labels.items() if group.get(k) != v})
    return short.removesuffix("{}") or uid


def cause_lines(causes: list[Hypotheses]) -> list[str]:
    """One line per alert: its likely causes with their metrics, most likely first, or
    why there are none (markup)."""
    return [
        f"  #{i} likely cause: "
        + (escape("; ".join(h.lines())) if h.suspects else f"none ({escape(h.reason)})")
        for i, h in enumerate(causes, 1)
    ]


def alerts_table(
    alerts: list[Alert],
    title: str = "alerts",
    truth: list[str] | None = None,
    hypotheses: list[Hypotheses] | None = None,
) -> Table:
    """The alerts as a rich table: start, end and peak (UTC), the lead member's pattern,
    expected and observed values and deviation, the members lead first (without the
    group's labels); ``hypotheses`` adds a "likely cause" column (one
    :class:`~modelphase.decide.triage_alerts.Hypotheses` per alert: one service a line,
    with its z and when it changed; :func:`cause_lines` names their metrics);
    ``truth`` adds a column: one text per alert (the incident it matches)."""
    table = Table(title=title, title_justify="left", collapse_padding=True)
    names = {name for a in alerts for name in a.group}
    headers = [
        "#",
        ",".join(sorted(names)) or "group",
        "start, end, peak (UTC)",
        "pattern",
        "expected -> observed",
        "deviation",
        "members",
    ]
    for header in headers:
        table.add_column(
            header,
            justify="right" if header in ("#", "deviation") else "left",
            min_width=len(header) if header != headers[2] else 11,
            overflow="fold",
        )
    if hypotheses is not None:
        table.add_column("likely cause", min_width=12, overflow="fold")
    if truth is not None:
        table.add_column("truth", min_width=5)
    for i, alert in enumerate(alerts, 1):
        e = alert.explanation
        ratio = "" if e.deviation_ratio is None else f"\n{e.deviation_ratio:+.0%}"
        row = [
            str(i),
            escape(",".join(alert.group.values())),
            _span(alert),
            e.pattern,
            f"{e.expected:.3g} -> {e.observed:.3g}",
            f"{e.deviation_spreads:+.1f} sd{ratio}",
            "\n".join(escape(member_name(u, alert.group)) for u in alert.unique_ids),
        ]
        if hypotheses is not None:
            row.append("\n".join(map(escape, hypotheses[i - 1].lines(metric=False))) or "-")
        if truth is not None:
            row.append(escape(truth[i - 1]))
        table.add_row(*row)
    return table


def alert_reasons(alerts: list[Alert]) -> list[str]:
    """One line per alert: its lead series, expected range, pattern and why (markup)."""
    lines = []
    for i, alert in enumerate(alerts, 1):
        e = alert.explanation
        lines.append(
            f"  #{i} {escape(member_name(alert.lead.unique_id, {}))}: [bold]{e.pattern}[/]; "
            f"expected {e.expected:.4g} in {e.lower:.4g}..{e.upper:.4g} "
            f"({e.baseline.replace('_', ' ')} baseline), observed {e.observed:.4g}: "
            f"{escape(e.reason)}"
        )
    return lines


def _check_usage(
    input_path: Path | None, output: Path | None, nab_dir: Path | None, output_dir: Path | None
) -> Path:
    """The output (file or folder) of the form the options name; usage errors exit 2."""
    if input_path is not None and nab_dir is not None:
        raise typer.BadParameter("--input and --nab-dir exclude each other: give one of them")
    if input_path is not None:
        if output is None or output_dir is not None:
            raise typer.BadParameter("--input FILE needs --output OUT.csv (and no --output-dir)")
        return output
    if nab_dir is not None:
        if output_dir is None or output is not None:
            raise typer.BadParameter("--nab-dir DIR needs --output-dir OUT (and no --output)")
        return output_dir
    raise typer.BadParameter(
        "expected --input FILE --output OUT (one stream) or --nab-dir DIR --output-dir OUT"
    )


def nab_pairs(nab_dir: Path, output_dir: Path) -> list[tuple[Path, Path]]:
    """``(DIR/data/<category>/<file>.csv, OUT/<category>/<file>.csv)``, sorted."""
    data = nab_dir / "data"
    if not data.is_dir():
        raise SourceError(
            f"expected a NAB checkout with a data folder in {nab_dir}, found none. Fix: pass "
            "the folder that holds data/<category>/<file>.csv"
        )
    sources = sorted(p for p in data.glob("*/*.csv") if p.is_file())
    if not sources:
        raise NoSeriesError(
            f"expected CSV files in {data}/<category>/, found none. Fix: pass a NAB checkout"
        )
    return [(p, output_dir / p.relative_to(data)) for p in sources]


def _check_corpus(sources: list[Path], nab_dir: Path) -> None:
    """Every stream is read before any is scored: refuse more files, or more bytes in
    all, than the limits allow."""
    fix = "score the corpus in parts (one category folder at a time)"
    check_at_most(f"--nab-dir {nab_dir}", len(sources), MAX_FILES, fix, " files")
    total = sum(p.stat().st_size for p in sources)
    check_at_most(f"--nab-dir {nab_dir}", total, MAX_INPUT_BYTES, fix, " bytes of CSV")


def write_scores(path: Path, stream: Stream, scores: NDArray[np.float64]) -> int:
    """Write ``timestamp,value,anomaly_score`` atomically; return how many scores were
    not finite (and were written clipped: inf as :data:`SCORE_MAX`, NaN as 0)."""
    finite = np.isfinite(scores)
    n_clipped = int(len(scores) - finite.sum())
    if n_clipped:
        scores = np.nan_to_num(scores, nan=0.0, posinf=SCORE_MAX, neginf=-SCORE_MAX)
    cells = zip(stream.timestamp_text, stream.value_text, map(repr, scores.tolist()), strict=True)
    try:
        with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(cells)
    except OSError as exc:
        if exc.errno is not None and exc.filename is None:  # a failed write names its file
            exc.filename = str(path)
        raise
    return n_clipped


def _summary(
    name: str,
    where: Path,
    pairs: list[tuple[Path, Path]],
    streams: list[Stream],
    seconds: float,
    n_clipped: int,
    as_json: bool,
) -> None:
    rows = sum(len(s) for s in streams)
    rate = rows / seconds if seconds > 0 else 0.0
    if as_json:
        summary: dict[str, Any] = {
            "detector": name,
            "files": len(pairs),
            "rows": rows,
            "seconds": round(seconds, 3),
            "rows_per_second": round(rate),
            "clipped_scores": n_clipped,
            "output": str(where),
        }
        print_json(summary)
        return
    table = Table(title=f"detect ({name})", title_justify="left")
    for column in ("files", "rows", "seconds", "rows/s"):
        table.add_column(column, justify="right")
    table.add_row(f"{len(pairs):,}", f"{rows:,}", f"{seconds:.2f}", f"{rate:,.0f}")
    err.print(table)
    err.print(f"wrote {escape(str(where))}")
