"""``modelphase gc``: find (and with --delete, remove) what killed writers left behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._registry import REGISTRY, TOKEN, TOKEN_FILE, open_registry, registry_options
from modelphase.cli._render import err, out, print_json
from modelphase.config import get_settings
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, format_duration, parse_duration
from modelphase.ingest import DatasetStore
from modelphase.registry import Registry
from modelphase.registry.gc import GcReport, collect_garbage

#: the shortest --grace: a write in progress must never look abandoned
MIN_GRACE = timedelta(minutes=1)


def gc_command(
    delete: bool = typer.Option(
        False, "--delete", help="Remove what is listed (default: only list it, a dry run)."
    ),
    grace: str = typer.Option(
        "1h",
        "--grace",
        help="Leave anything younger than this alone (at least 1m), so that a write in "
        "progress is never touched.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    registry: str | None = REGISTRY,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """List (--delete: remove) what killed writers and failed registrations left behind.

    Lists what is older than --grace: temporary artifact files (.tmp-*), artifacts no
    registry version references, temporary dataset folders (.tmp-*) and temporary files
    of atomic writes (.NAME.HEX.tmp) under the home folder. --delete removes them (an
    admin's job on a shared registry), checking each again just before. Exits 0 whatever
    it finds. Run it where the registry's database and artifact store are: a registry's
    HTTP API cannot be collected from the outside.
    """
    grace_ns = parse_duration(grace)
    if grace_ns < MIN_GRACE.total_seconds() * NS_PER_SECOND:
        raise ValidationError(
            f"--grace: expected at least 1m, got {grace}. Fix: pass --grace 1h (the default) "
            "or longer, so that a write in progress is never taken for garbage"
        )
    registry_options(registry, token, token_file)
    home = get_settings().home
    with open_registry() as reg:
        if not isinstance(reg, Registry):
            raise ValidationError(
                "expected a registry database (SQLite or PostgreSQL) and its artifact store, "
                "got a registry's HTTP API. Fix: run `modelphase gc` on the registry's server"
            )
        report = collect_garbage(
            reg,
            DatasetStore(),
            now=datetime.now(UTC),
            grace=timedelta(microseconds=grace_ns // 1_000),
            delete=delete,
            folders=[home] if home.is_dir() else [],
        )
    if as_json:
        print_json(report.to_dict())
        return
    out.print(gc_table(report, home))
    for note in report.notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    verb = "deleted" if delete else "would delete"
    done = report.n_deleted if delete else len(report.items)
    size = sum(g.size_bytes for g in report.items if g.deleted or not delete)
    err.print(
        f"{verb} {done} item(s), {_bytes(size)}; {report.young} younger than the grace period "
        f"{grace} left alone"
        + ("" if delete or not report.items else "; run again with --delete to remove them")
    )


def gc_table(report: GcReport, home: Path | None = None) -> Table:
    """The findings as a rich table, paths inside ``home`` shown from it."""
    title = "garbage deleted" if report.delete else "garbage (dry run: nothing deleted)"
    table = Table(title=title, title_justify="left")
    table.add_column("kind", no_wrap=True)
    table.add_column("path", overflow="fold")
    table.add_column("bytes", justify="right")
    table.add_column("age", justify="right")
    if report.delete:
        table.add_column("deleted")
    for g in report.items:
        row = [
            g.kind,
            escape(_short(g.path, home)),
            f"{g.size_bytes:,}",
            format_duration(int(g.age_seconds) * NS_PER_SECOND) if g.age_seconds >= 1 else "0s",
        ]
        if report.delete:
            row.append("yes" if g.deleted else "no (in use again)")
        table.add_row(*row)
    table.add_section()
    total = ["total", f"{len(report.items)} item(s)", f"{report.size_bytes:,}", ""]
    table.add_row(*(total + ([""] if report.delete else [])))
    return table


def _short(path: str, home: Path | None) -> str:
    if home is not None:
        try:
            return str(Path(path).relative_to(home.absolute()))
        except ValueError:
            pass
    return path


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
