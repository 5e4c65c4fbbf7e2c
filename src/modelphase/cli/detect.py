"""``modelphase detect``: anomaly scores for NAB-style streams, one file or a NAB corpus.

Each file is one stream, scored row after row in file order by a fresh detector
(:func:`modelphase.anomaly.score_stream`), and written as
``timestamp,value,anomaly_score`` with the input's timestamp and value cells as found.
Every input is read and checked before any output is written; each output file is
replaced atomically, so bad input writes nothing and a crash leaves no half file.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer
from numpy.typing import NDArray
from rich.markup import escape
from rich.table import Table

from modelphase.anomaly import DEFAULT_DETECTOR, DETECTORS, build_detector, score_stream
from modelphase.cli._render import err, fail, print_json, stages
from modelphase.exceptions import NoSeriesError, SourceError
from modelphase.files import atomic_path
from modelphase.ingest import Stream, read_stream

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
        None, "--dataset", help="Not available yet: alerts on a dataset (with --alerts)."
    ),
    alerts: bool = typer.Option(
        False, "--alerts", help="Not available yet: grouped alerts with explanations."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
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

    Exits 1 on bad input, writing nothing (a value that is not a number, an
    unreadable timestamp, a missing column, an empty file, an unknown
    detector); 2 on a usage error.
    """
    if dataset is not None or alerts:
        fail(
            "`modelphase detect --dataset ID --alerts` (grouped alerts with explanations) "
            "is not available yet; score files with --input FILE --output OUT or --nab-dir "
            "DIR --output-dir OUT"
        )
    where = _check_usage(input_path, output, nab_dir, output_dir)
    model = build_detector(detector)  # an unknown name exits 1, listing the known ones
    if input_path is not None:
        pairs = [(input_path, where)]
    else:
        assert nab_dir is not None
        pairs = nab_pairs(nab_dir, where)
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


def write_scores(path: Path, stream: Stream, scores: NDArray[np.float64]) -> int:
    """Write ``timestamp,value,anomaly_score`` atomically; return how many scores were
    not finite (and were written clipped: inf as :data:`SCORE_MAX`, NaN as 0)."""
    finite = np.isfinite(scores)
    n_clipped = int(len(scores) - finite.sum())
    if n_clipped:
        scores = np.nan_to_num(scores, nan=0.0, posinf=SCORE_MAX, neginf=-SCORE_MAX)
    cells = zip(stream.timestamp_text, stream.value_text, map(repr, scores.tolist()), strict=True)
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(cells)
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
