"""``modelphase models ...``: the model registry from the command line."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from modelphase import __version__
from modelphase.cli._registry import open_database_registry, open_registry, registry_options
from modelphase.cli._render import FitTable, err, out, print_json
from modelphase.exceptions import DatasetNotFoundError, IntegrityError, ValidationError
from modelphase.forecast import artifact_kind
from modelphase.frame import NS_PER_SECOND, parse_time
from modelphase.ingest import DatasetStore
from modelphase.limits import check_at_most
from modelphase.registry import (
    UNSET,
    AliasEvent,
    ModelRegistry,
    ModelVersion,
    Unset,
)
from modelphase.registry.monitoring import MonitorStore

app = typer.Typer(
    help="The model registry: versions with lineage, aliases with an audited history.\n\n"
    "The registry is SQLite in the home folder unless MODELPHASE_REGISTRY_URL (or "
    "--registry) names another: a shared registry's HTTP API (http(s)://HOST:PORT, "
    "`modelphase registry serve`), used with a token from MODELPHASE_TOKEN_FILE (or "
    "--token-file), or, with its credentials, a database. Without a token, an embedded "
    "registry acts as its local admin.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
app.callback()(registry_options)


@app.command("register")
def register_command(
    name: str = typer.Argument(..., help="Model name."),
    artifact: Path = typer.Option(..., "--artifact", help="The model file, stored by sha256."),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Training dataset id (or unique prefix) in the home folder."
    ),
    params: str = typer.Option("{}", "--params", help="Hyper-parameters as a JSON object."),
    metrics: str = typer.Option("{}", "--metrics", help="Validation metrics as JSON."),
    gates: str = typer.Option(
        "[]", "--gates", help='Gate results as JSON: [{"name": ..., "passed": true}, ...].'
    ),
    owner: list[str] = typer.Option([], "--owner", help="Owner (repeat for several)."),
    spec: Path | None = typer.Option(
        None, "--spec", help="The spec the model was built from (a JSON file)."
    ),
    canary_plan: str | None = typer.Option(
        None, "--canary-plan", help='How to roll it out, as JSON (e.g. {"steps": [5, 25, 100]}).'
    ),
    tag: list[str] = typer.Option([], "--tag", help="Free tag KEY=VALUE (repeatable)."),
    model_class: str = typer.Option("", "--model-class", help="The model's class name."),
    as_json: bool = JSON,
) -> None:
    """Register a model trained elsewhere (flavor: external); prints the new version."""
    if not artifact.is_file():
        raise ValidationError(f"expected an artifact file, got {artifact} (not a file)")
    dataset_id = DatasetStore().resolve(dataset) if dataset else None
    with open_registry() as reg:
        version = reg.register(
            name,
            artifact,
            flavor="external",
            model_class=model_class,
            params=_json_object(params, "--params"),
            metrics=_json_object(metrics, "--metrics"),
            gates=_json_list(gates, "--gates"),
            dataset_id=dataset_id,
            owners=owner,
            spec=_json_object(_read(spec), "--spec") if spec else None,
            canary_plan=_json_object(canary_plan, "--canary-plan") if canary_plan else None,
            tags=dict(_pair(t) for t in tag),
            code_version=f"modelphase {__version__}",
            git_commit=git_commit(),
        )
    if as_json:
        print_json(version.to_dict())
        return
    err.print(
        f"registered {escape(name)} version {version.version} "
        f"(artifact sha256 {version.artifact_digest[:12]}..., {version.artifact_size:,} bytes)"
    )
    typer.echo(version.version)


@app.command("list")
def list_command(as_json: bool = JSON) -> None:
    """List models with their latest version and aliases."""
    with open_registry() as reg:
        summaries = reg.models()
    if as_json:
        print_json([s.to_dict() for s in summaries])
        return
    table = FitTable(title="models", title_justify="left")
    for col in ("name", "latest", "aliases", "owners", "created"):
        table.add_column(col, overflow="fold")
    for s in summaries:
        held = ", ".join(f"{a}={v}" for a, v in s.aliases.items()) or "-"
        table.add_row(
            escape(s.name),
            str(s.latest_version),
            held,
            ", ".join(s.owners) or "-",
            s.created_at[:19],
        )
    out.print(table)


@app.command("show")
def show_command(
    name: str = typer.Argument(...),
    version: int | None = typer.Option(None, "--version", "-v", help="Version number."),
    alias: str | None = typer.Option(None, "--alias", "-a", help="Or an alias."),
    as_json: bool = JSON,
) -> None:
    """Show one version in full (latest, or --version / --alias) and list all versions."""
    with open_registry() as reg:
        chosen = reg.get(name, version, alias=alias)
        every = reg.versions(name)
        held = reg.live(name)
        kind = _artifact_kind(reg, chosen)
    if as_json:
        print_json({"version": chosen.to_dict(), "aliases": held, "artifact_kind": kind})
        return
    grid = Table.grid(padding=(0, 2))
    for key, value in _fields(chosen):
        grid.add_row(f"[bold]{key}[/]", escape(value))
        if key == "artifact":
            grid.add_row("[bold]format[/]", escape(kind))
    out.print(grid)
    table = FitTable(title=f"versions of {escape(name)}", title_justify="left")
    for col in ("version", "aliases", "gates", "dataset", "created", "by", "token"):
        table.add_column(col, no_wrap=col == "token")
    for v in every:
        tags = ", ".join(a for a, n in held.items() if n == v.version) or ""
        table.add_row(
            str(v.version), tags, _gates(v), v.dataset_id or "-", v.created_at[:19],
            escape(v.created_by), v.created_by_token or "-",
        )  # fmt: skip
    out.print(table)


@app.command("history")
def history_command(
    name: str = typer.Argument(...),
    alias: str | None = typer.Option(None, "--alias", "-a", help="Only this alias."),
    as_json: bool = JSON,
) -> None:
    """Every alias move of a model: when, who, from which version to which, and why."""
    with open_registry() as reg:
        events = reg.history(name, alias)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    out.print(events_table(name, events))


@app.command("health")
def health_command(
    name: str = typer.Argument(...),
    limit: int = typer.Option(10, "--limit", "-n", help="How many verdicts, newest first."),
    as_json: bool = JSON,
) -> None:
    """The monitor's verdicts on a model (healthy, degraded, unknown) with their reasons
    and evidence, newest first (`modelphase monitor run` writes them)."""
    check_at_most("--limit", limit, 1000, "ask for fewer verdicts")
    with open_database_registry("health verdicts") as reg:
        reg.get(name)  # an unknown model exits 1
        verdicts = MonitorStore(reg).health(name, limit=max(1, limit))
    if as_json:
        print_json([v.to_dict() for v in verdicts])
        return
    table = FitTable(title=f"health of {escape(name)}", title_justify="left")
    for col in ("at", "version", "verdict", "why"):
        table.add_column(col, overflow="fold")
    for v in verdicts:
        why = "; ".join(v.evidence.get("reasons") or []) or "-"
        table.add_row(v.at[:19], str(v.version or "-"), v.verdict, escape(why))
    out.print(table)
    if not verdicts:
        err.print("no verdicts yet: `modelphase monitor run --once` writes one per pass")


@app.command("live")
def live_command(
    name: str = typer.Argument(...),
    at: str | None = typer.Option(
        None, "--at", help="RFC 3339 time, Unix seconds or now-<duration> (default: now)."
    ),
    as_json: bool = JSON,
) -> None:
    """Which version each alias pointed to at a time (e.g. when an incident began)."""
    when = _when(at)
    with open_registry() as reg:
        held = reg.live(name, when)
    if as_json:
        print_json(held)
        return
    table = FitTable(title=f"{escape(name)} at {when.isoformat() if when else 'now'}")
    table.add_column("alias")
    table.add_column("version", justify="right")
    for alias_name, version in held.items():
        table.add_row(alias_name, str(version))
    out.print(table)


@app.command("promote")
def promote_command(
    name: str = typer.Argument(...),
    version: int = typer.Option(..., "--version", "-v", help="The version to point to."),
    alias: str = typer.Option(..., "--alias", "-a", help="production, canary, shadow, ..."),
    expect: str | None = typer.Option(
        None,
        "--expect",
        help="The version the alias must hold now ('none': unset); the move fails if "
        "someone moved it meanwhile. Recommended in automation.",
    ),
    reason: str = typer.Option("", "--reason", help="Why (kept in the history)."),
    force: bool = typer.Option(
        False, "--force", help="Admins only: promote past failed gates (audited)."
    ),
    as_json: bool = JSON,
) -> None:
    """Point an alias at a version, compare-and-set, as an audited event."""
    expected: int | Unset | None = UNSET
    if expect is not None:
        expected = None if expect.strip().lower() == "none" else _int(expect, "--expect")
    with open_registry() as reg:
        event = reg.promote(name, version, alias, expect=expected, reason=reason, force=force)
    _report_event(event, as_json)


@app.command("rollback")
def rollback_command(
    name: str = typer.Argument(...),
    alias: str = typer.Option("production", "--alias", "-a"),
    reason: str = typer.Option("", "--reason", help="Why (kept in the history)."),
    as_json: bool = JSON,
) -> None:
    """Move an alias (production) back to the version it held before, audited."""
    with open_registry() as reg:
        event = reg.rollback(name, alias, reason=reason)
    _report_event(event, as_json)


@app.command("diff")
def diff_command(
    name: str = typer.Argument(...),
    a: int = typer.Argument(..., help="First version."),
    b: int = typer.Argument(..., help="Second version."),
    as_json: bool = JSON,
) -> None:
    """What differs between two versions: params, metrics, data, spec, code, gates."""
    with open_registry() as reg:
        changes = reg.diff(name, a, b)
    if as_json:
        print_json(changes)
        return
    table = FitTable(title=f"{escape(name)}: version {a} -> {b}", title_justify="left")
    for col in ("section", "key", f"v{a}", f"v{b}"):
        table.add_column(col, overflow="fold")
    for section, keys in changes.items():
        for key, (left, right) in keys.items():
            table.add_row(section, escape(key), escape(_short(left)), escape(_short(right)))
    out.print(table if changes else "no differences")


@app.command("lineage")
def lineage_command(
    name: str | None = typer.Argument(None, help="Model name (or --dataset)."),
    version: int | None = typer.Option(None, "--version", "-v"),
    dataset: str | None = typer.Option(None, "--dataset", help="Versions trained on it."),
    as_json: bool = JSON,
) -> None:
    """The dataset and spec behind a version, or the versions trained on a dataset."""
    store = DatasetStore()
    with open_registry() as reg:
        if dataset is not None:
            full = _resolve_dataset(store, dataset)
            found = reg.trained_on(full)
            if as_json:
                print_json({"dataset_id": full, "versions": [v.to_dict() for v in found]})
                return
            table = FitTable(title=f"trained on dataset {full}", title_justify="left")
            for col in ("name", "version", "created", "gates"):
                table.add_column(col)
            for v in found:
                table.add_row(escape(v.name), str(v.version), v.created_at[:19], _gates(v))
            out.print(table)
            return
        if name is None:
            raise ValidationError("expected a model NAME or --dataset ID")
        chosen = reg.get(name, version)
    manifest = None
    if chosen.dataset_id:
        try:
            manifest = store.manifest(chosen.dataset_id)
        except LookupError:
            manifest = None
    record = {
        "name": chosen.name,
        "version": chosen.version,
        "dataset_id": chosen.dataset_id,
        "dataset": manifest.to_dict() if manifest else None,
        "spec": chosen.spec,
        "params": chosen.params,
        "model_class": chosen.model_class,
        "code_version": chosen.code_version,
        "git_commit": chosen.git_commit,
        "artifact_digest": chosen.artifact_digest,
    }
    if as_json:
        print_json(record)
        return
    grid = Table.grid(padding=(0, 2))
    record["dataset"] = (
        f"{manifest.source.get('kind')} {manifest.start} .. {manifest.end}, "
        f"{manifest.n_series} series"
        if manifest
        else "(not in this home folder)"
    )
    for key, value in record.items():
        grid.add_row(f"[bold]{key}[/]", escape(_short(value)))
    out.print(grid)


@app.command("verify")
def verify_command(
    name: str | None = typer.Argument(None, help="Only this model."), as_json: bool = JSON
) -> None:
    """Re-hash the artifacts; exit 1 listing any that do not match their digest."""
    with open_registry() as reg:
        broken = reg.verify(name)
    if as_json:
        print_json(
            [
                {"name": v.name, "version": v.version, "digest": v.artifact_digest, "problem": p}
                for v, p in broken
            ]
        )
    for v, problem in broken:
        err.print(f"[red]broken:[/] {escape(v.name)} version {v.version}: {problem}")
    if broken:
        raise typer.Exit(1)
    if not as_json:
        err.print("all artifacts match their sha256")


def events_table(name: str, events: list[AliasEvent]) -> FitTable:
    table = FitTable(title=f"alias history of {escape(name)}", title_justify="left")
    for col in ("at", "alias", "action", "from", "to", "by", "token", "reason"):
        table.add_column(col, overflow="fold", no_wrap=col == "token")
    for e in events:
        table.add_row(
            e.at[:19].replace("T", " "),
            e.alias,
            e.action + (" (forced)" if e.forced else ""),
            _num(e.from_version),
            _num(e.to_version),
            escape(e.actor),
            e.actor_token or "-",
            escape(e.reason),
        )
    return table


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the git checkout we run in, when there is one."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and len(text) == 40 else None


def _report_event(event: AliasEvent, as_json: bool) -> None:
    if as_json:
        print_json(event.to_dict())
        return
    forced = " (forced past failed gates)" if event.forced else ""
    err.print(
        f"{escape(event.name)}@{event.alias}: {_num(event.from_version)} -> "
        f"{_num(event.to_version)} by {escape(event.actor)}{forced}"
    )


def _artifact_kind(reg: ModelRegistry, v: ModelVersion) -> str:
    """What the artifact is, read as data (nothing in it runs): a pickle shows as
    refused, since nothing loads one."""
    try:
        return artifact_kind(reg.load_artifact(v.name, v.version))
    except IntegrityError as exc:
        return "damaged (sha256 mismatch)" if exc.actual else "damaged (missing)"


def _fields(v: ModelVersion) -> list[tuple[str, str]]:
    return [
        ("name", v.name),
        ("version", str(v.version)),
        ("flavor", f"{v.flavor} {v.model_class}".strip()),
        ("created", f"{v.created_at} by {v.created_by}"),
        ("token", v.created_by_token or "- (no token: the local or database admin)"),
        ("dataset", v.dataset_id or "-"),
        ("artifact", f"sha256 {v.artifact_digest} ({v.artifact_size:,} bytes)"),
        ("code", f"{v.code_version} {v.git_commit or ''}".strip()),
        ("owners", ", ".join(v.owners) or "-"),
        ("params", _short(v.params)),
        ("metrics", _short(v.metrics)),
        ("gates", _gates(v)),
        ("tags", _short(v.tags)),
    ]


def _gates(v: ModelVersion) -> str:
    if v.gates_passed is None:
        return "-"
    if v.gates_passed:
        return f"passed ({len(v.gates)})"
    return "FAILED: " + ", ".join(v.failed_gates)


def _when(at: str | None) -> datetime | None:
    if at is None:
        return None
    now_ns = int(datetime.now(UTC).timestamp() * 1e6) * 1000
    ns = parse_time(at, now=now_ns)
    return datetime.fromtimestamp(ns // NS_PER_SECOND, UTC).replace(
        microsecond=(ns % NS_PER_SECOND) // 1000
    )


def _resolve_dataset(store: DatasetStore, dataset: str) -> str:
    """The full id of a dataset in this home folder; a well-formed id that is not here
    is kept as given (a shared registry knows datasets of other home folders)."""
    try:
        return store.resolve(dataset)
    except DatasetNotFoundError:
        wanted = dataset.strip().lower()
        if not wanted or any(c not in "0123456789abcdef" for c in wanted):
            raise  # not an id at all: say so instead of finding nothing
        return wanted


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ValidationError(f"--spec: cannot read {path}: {exc}") from exc


def _json_object(text: str, option: str) -> dict[str, Any]:
    value = _json(text, option)
    if not isinstance(value, dict):
        raise ValidationError(f"{option}: expected a JSON object, got {text!r}")
    return value


def _json_list(text: str, option: str) -> list[dict[str, Any]]:
    value = _json(text, option)
    if not isinstance(value, list) or not all(isinstance(g, dict) for g in value):
        raise ValidationError(f"{option}: expected a JSON list of objects, got {text!r}")
    return value


def _json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"{option}: expected JSON, got {text!r} ({exc})") from exc


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValidationError(f"--tag: expected KEY=VALUE, got {text!r}")
    return key, value


def _int(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValidationError(
            f"{option}: expected a version number or 'none', got {text!r}"
        ) from None


def _num(version: int | None) -> str:
    return "-" if version is None else str(version)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 300 else text[:297] + "..."
