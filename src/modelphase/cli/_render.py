"""Shared rendering for the CLI: consoles, tables, progress, JSON, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from modelphase.files import atomic_path
from modelphase.ingest import Manifest

#: Human output goes to stderr so that stdout stays machine-readable (ids, JSON).
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


#: the temporary path beside an output file that replaces it on success
atomic_output = atomic_path


def rfc3339(stamps: pd.Series) -> pd.Series:
    """UTC timestamps as RFC 3339 text with a Z, fractions only where present."""
    text: pd.Series = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return text.str.replace(".000000Z", "Z", regex=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """One clear line on stderr, then exit non-zero."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    sys.exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields ``update(done, total)``."""
    with stages() as note:
        note(description, 0, total or 0)

        def update(done: int, total: int) -> None:
            note(description, done, total)

        yield update


@contextmanager
def stages() -> Iterator[Callable[[str, int, int], None]]:
    """Progress bars on stderr, one per stage; yields ``note(stage, done, total)``."""
    columns = [
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        tasks: dict[str, TaskID] = {}

        def note(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        yield note


def manifest_table(manifests: list[Manifest], title: str = "datasets") -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("id", "created", "source", "series", "points", "missing", "step", "range"):
        right = name in ("series", "points", "missing")
        table.add_column(
            name, justify="right" if right else "left", no_wrap=name == "id", overflow="fold"
        )
    for m in manifests:
        table.add_row(
            m.id,
            m.created_at[:19].replace("T", " "),
            escape(describe_source(m.source)),
            f"{m.n_series:,}",
            f"{m.n_points:,}",
            f"{m.missing_ratio:.1%}",
            m.step,
            f"{m.start[:16]} .. {m.end[:16]}",
        )
    return table


def describe_source(source: dict[str, Any]) -> str:
    kind = str(source.get("kind", "?"))
    if kind == "prometheus":
        return f"prometheus: {source.get('query', '')}"
    if "path" in source:
        return f"{kind}: {str(source['path']).rsplit('/', 1)[-1]}"
    if kind == "simulate":
        return f"simulate: {source.get('services', '?')} services, seed {source.get('seed')}"
    return kind
