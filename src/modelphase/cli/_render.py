"""Shared rendering for the CLI: consoles, tables, progress, JSON, errors."""

from __future__ import annotations

import errno
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.measure import Measurement
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
from rich.text import Text

from modelphase.cli._checks import check_input_file, check_output_file
from modelphase.files import atomic_path
from modelphase.ingest import Manifest

#: Human output goes to stderr so that stdout stays machine-readable (ids, JSON).
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


@contextmanager
def atomic_output(path: Path, option: str = "--output") -> Iterator[Path]:
    """The temporary path beside an output file that replaces it on success
    (:func:`~modelphase.files.atomic_path`), for a file the caller named: refused when
    it names a folder or its folder does not exist (no folder is created for it); an
    ``OSError`` while writing names the file."""
    check_output_file(path, option)
    try:
        with atomic_path(path) as tmp:
            yield tmp
    except OSError as exc:
        if exc.errno is not None and exc.filename is None:  # the OS's, not ours (SourceError)
            exc.filename = str(path)
        raise


def rfc3339(stamps: pd.Series) -> pd.Series:
    """UTC timestamps as RFC 3339 text with a Z, fractions only where present."""
    text: pd.Series = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return text.str.replace(".000000Z", "Z", regex=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """One clear line on stderr, then exit non-zero."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    sys.exit(code)


#: what an OSError means and how to fix it, by errno; writes that fail this way leave
#: nothing partial behind (temporary files and folders are removed)
_OS_ERRORS: dict[int, tuple[str, str, bool]] = {
    errno.ENOSPC: (
        "no space left on the device",
        "free space there, or write elsewhere (--output, --home or MODELPHASE_HOME)",
        True,
    ),
    errno.EDQUOT: (
        "the disk quota is used up",
        "free space in the quota, or write elsewhere (--output, --home or MODELPHASE_HOME)",
        True,
    ),
    errno.EROFS: (
        "the file system is read-only",
        "write elsewhere (--output, --home or MODELPHASE_HOME), or remount it read-write",
        True,
    ),
    errno.EIO: ("an I/O error on the device", "check the disk (dmesg), then retry", True),
    errno.EACCES: (
        "permission denied",
        "check the owner and mode of the path and of its folder, or choose another path",
        False,
    ),
    errno.EPERM: (
        "operation not permitted",
        "check the owner and mode of the path and of its folder, or choose another path",
        False,
    ),
    errno.ENOENT: ("no such file or folder", "check the path", False),
    errno.EISDIR: ("that is a folder, not a file", "name a file", False),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path", False),
}
#: temporary names: ``.tmp-...`` (datasets, artifacts) and ``.NAME.HEX.tmp`` (atomic writes)
_TEMP = re.compile(r"\.tmp-.*|\.(?P<name>.+)\.[0-9a-f]{12}\.tmp")


def os_error_line(exc: OSError) -> str:
    """One line for an OSError that reached the command line: where, what it means and
    the fix, e.g. ``/srv/mp/datasets: no space left on the device (ENOSPC)...``."""
    code = exc.errno if isinstance(exc.errno, int) else -1
    what, fix, write = _OS_ERRORS.get(
        code, (exc.strerror or str(exc), "check the path and its disk, then retry", False)
    )
    name = errno.errorcode.get(code)
    where = _shown(exc.filename)
    if not where and write:
        fix = fix.replace("free space there", "free space on the disk of the home folder or output")
    kept = "; nothing partial was kept" if write else ""
    return f"{where + ': ' if where else ''}{what}{f' ({name})' if name else ''}{kept}. Fix: {fix}"


def _shown(filename: object) -> str:
    """A path for a person: a temporary file or folder is shown as what it was for."""
    if filename is None:
        return ""
    path = Path(str(filename))
    for i, part in enumerate(path.parts):
        found = _TEMP.fullmatch(part)
        if found:
            base = Path(*path.parts[:i])
            return str(base / found["name"]) if found["name"] else str(base)
    return str(path)


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


#: a width no table reaches, to measure a table's unwrapped width
_UNBOUNDED = 10_000


class FitTable(Table):
    """A rich table that is drawn as a list of lines when it does not fit the console.

    Rich squeezes a table that is wider than the console by narrowing its widest columns,
    which splits words and ids mid-way (``creat`` / ``ed``) at 80 columns or when the
    output is piped. This table measures its unwrapped width when it is printed: when
    that fits, it is an ordinary table; when not, each row becomes one line, its first
    cell in bold and then ``header value`` pairs, which wrap only between words.

    >>> import io
    >>> table = FitTable(title="t")
    >>> for col in ("name", "reason"):
    ...     table.add_column(col)
    >>> table.add_row("a", "a reason long enough to overflow")
    >>> console = Console(width=30, record=True, file=io.StringIO())
    >>> console.print(table)
    >>> for line in console.export_text().splitlines():
    ...     print(line.rstrip())
    t
    - a: reason a reason long
    enough to overflow
    """

    def fits(self, console: Console, width: int) -> bool:
        """Whether the table's unwrapped width is at most ``width`` columns."""
        natural = Measurement.get(console, console.options.update_width(_UNBOUNDED), self)
        return natural.maximum <= width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.fits(console, options.max_width):
            yield from super().__rich_console__(console, options)
            return
        width = options.max_width
        if self.title:  # wrapped here: the CLI's consoles soft-wrap (never wrap) text
            yield from Text.from_markup(str(self.title), style="italic").wrap(console, width)
        heads = [str(c.header) for c in self.columns]
        cells = [list(c.cells) for c in self.columns]
        for n in range(self.row_count):
            line = Text("- ")
            for i, head in enumerate(heads):
                cell = cells[i][n] if n < len(cells[i]) else ""
                text = Text.from_markup(cell) if isinstance(cell, str) else Text(str(cell))
                text = Text(" ").join(text.split()) if "\n" in text.plain else text
                if i == 0:
                    text.stylize("bold")
                    line.append_text(text)
                    line.append(":" if len(heads) > 1 else "")
                else:
                    line.append(f" {head} " if i == 1 else f", {head} ", style="dim")
                    line.append_text(text)
            yield from line.wrap(console, width)


def manifest_table(manifests: list[Manifest], title: str = "datasets") -> Table:
    table = FitTable(title=title, title_justify="left")
    for name in ("id", "created", "source", "series", "points", "missing", "step", "range"):
        right = name in ("series", "points", "missing")
        table.add_column(name, justify="right" if right else "left", no_wrap=name == "id")
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


def read_text_csv(path: Path, option: str, expected: str) -> pd.DataFrame:
    """A CSV file's cells as text (column names stripped), for commands that parse
    their own columns: a missing file, a folder, an oversized, empty or unreadable file
    exits 1 with one line (``expected`` names what an empty file should have held)."""
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        fail(f"{option} {path}: expected a CSV file, got {what}. Fix: check the path")
    check_input_file(path, option)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        fail(f"{option} {path}: expected {expected}, got an empty file")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        fail(f"{option} {path}: expected a CSV file, got {str(exc).splitlines()[0]}")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
