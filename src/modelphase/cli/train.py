"""``modelphase train SPEC``: backtest, gate, report and register a model from a spec."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from modelphase.cli._checks import check_output_file
from modelphase.cli._registry import (
    REGISTRY,
    TOKEN,
    TOKEN_FILE,
    open_registry,
    registry_options,
)
from modelphase.cli._render import FitTable, err, print_json, progress, stages
from modelphase.cli.models import git_commit
from modelphase.config import get_settings
from modelphase.frame import Panel, format_duration
from modelphase.ingest import load_target
from modelphase.limits import MAX_JOBS, check_at_most
from modelphase.monitor import Policy
from modelphase.report import write_training_report
from modelphase.serve.table import fitted_budget
from modelphase.spec import ModelSpec, load_spec
from modelphase.train import (
    BASELINE,
    TrainingRun,
    detector_of,
    register_detector,
    register_run,
    spec_text,
    train,
    train_detector,
)

#: Exit code of a run whose gates failed (errors exit 1, usage errors 2).
GATES_FAILED = 3


def train_command(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="The model spec (YAML)."),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Train on this dataset id (prefix) instead of the spec's target."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Where to write the HTML report (default: <home>/reports/)."
    ),
    register: bool = typer.Option(
        True, "--register/--no-register", help="Register the model (default) or only report."
    ),
    drop_short: bool = typer.Option(
        False, "--drop-short", help="Drop series too short for the backtest instead of failing."
    ),
    n_jobs: int | None = typer.Option(
        None,
        "--n-jobs",
        help="Processes (default: the cores for large panels; -1 = all; at most 64).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    registry: str | None = REGISTRY,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Backtest the spec's candidates, choose a model per series, check the gates, refit,
    write an HTML report and register the model with its lineage.

    Exits 0 when every gate passes; 3 when a gate fails (the report is written and the
    version is registered as not promotable, so a CI pipeline can stop there); 1 on bad
    input.
    """
    if n_jobs is not None:
        check_at_most("--n-jobs", n_jobs, MAX_JOBS, "use fewer processes, or -1 for the cores")
    if report is not None:
        check_output_file(report, "--report")
    spec = load_spec(spec_path)
    Policy.of(spec.monitoring, spec.canary)  # a policy the monitor cannot read exits 1 now
    registry_options(registry, token, token_file)
    if spec.kind == "anomaly":
        detector_of(spec)  # a detector that cannot be built exits 1 before the data loads
        panel, dataset_id = _data(spec, dataset)
        _train_detector(spec, panel, dataset_id, register, as_json)
        return
    panel, dataset_id = _data(spec, dataset)
    err.print(
        f"training [bold]{escape(spec.name)}[/] on dataset {dataset_id}: {panel.n_series:,} "
        f"series x {panel.n_points // max(panel.n_series, 1):,} points every "
        f"{format_duration(panel.step or 0)}, horizon {spec.horizon}, "
        f"{spec.backtest.windows} backtest window(s), candidates "
        f"{', '.join(spec.candidate_names)}"
    )
    with stages() as note:
        run = train(
            spec, panel, dataset_id=dataset_id, n_jobs=n_jobs, progress=note, drop_short=drop_short
        )
    version = None
    if register:
        with open_registry() as reg:
            version = register_run(run, reg, git_commit=git_commit())
    path = report or _default_report(spec, version.version if version else None)
    with err.status("writing the report"):
        write_report(run, version.version if version else None, path)
    _show(run, version.version if version else None, path, as_json)
    if not run.passed:
        raise typer.Exit(GATES_FAILED)


def _train_detector(
    spec: ModelSpec, panel: Panel, dataset_id: str, register: bool, as_json: bool
) -> None:
    """An anomaly spec: run its detector over the data, gate the alert rates, register."""
    err.print(
        f"training detector [bold]{escape(spec.name)}[/] on dataset {dataset_id}: "
        f"{panel.n_series:,} series"
    )
    with progress("scoring series", panel.n_series) as update:
        run = train_detector(spec.name, panel, spec=spec, dataset_id=dataset_id, progress=update)
    version = None
    if register:
        with open_registry() as reg:
            version = register_detector(run, reg, git_commit=git_commit())
    table = FitTable(title="alerts on the training data", title_justify="left")
    for col in ("metric", "value"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for key, value in run.metrics.items():
        table.add_row(key, _cell(value))
    err.print(table)
    _gates(run.gates)
    where = f"registered {spec.name} version {version.version}" if version else "not registered"
    verdict = (
        "[green]gates passed[/]" if run.passed else "[bold red]gates FAILED: not promotable[/]"
    )
    err.print(f"{verdict}; {where}")
    if as_json:
        print_json(
            {
                "name": spec.name,
                "version": version.version if version else None,
                "dataset_id": dataset_id,
                "passed": run.passed,
                "gates": run.gates,
                "metrics": run.metrics,
                "detector": run.alerter.get_params(),
                "seconds": round(run.seconds, 3),
            }
        )
    if not run.passed:
        raise typer.Exit(GATES_FAILED)


def write_report(run: TrainingRun, version: int | None, path: Path) -> Path:
    """The run's HTML report at ``path``."""
    return write_training_report(
        path,
        title=run.spec.name,
        summary=_summary(run, version),
        gates=run.gates,
        candidates=run.candidate_metrics,
        per_series=_per_series(run),
        backtest=run.backtest,
        history=run.panel,
        forecast=run.forecast,
        levels=run.spec.levels,
        fallbacks=[fb.__dict__ for fb in run.fallbacks],
        spec_text=spec_text(run.spec),
        season_length=run.model.season,
        models=run.model.models,
    )


def _data(spec: ModelSpec, dataset: str | None) -> tuple[Panel, str]:
    with ExitStack() as spinner:  # shown while Prometheus answers, if it is asked

        def querying(url: str) -> None:
            spinner.enter_context(err.status(f"querying Prometheus at {url}"))

        loaded = load_target(spec.target, dataset=dataset, on_query=querying)
    for message in loaded.warnings:
        err.print(f"[yellow]prometheus warning:[/] {escape(message)}")
    return loaded.panel, loaded.dataset_id


def _default_report(spec: ModelSpec, version: int | None) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"v{version}" if version is not None else stamp
    return get_settings().home / "reports" / f"{spec.name}-{suffix}.html"


def _summary(run: TrainingRun, version: int | None) -> dict[str, Any]:
    spec = run.spec
    step = run.panel.step or 0
    first, last = run.folds[0].to_dict()["cutoff"], run.folds[-1].to_dict()["cutoff"]
    return {
        "model": spec.name
        + (f" version {version}" if version is not None else " (not registered)"),
        "gates": "passed" if run.passed else "FAILED",
        "dataset": run.dataset_id or "-",
        "series": run.panel.n_series,
        "points": run.panel.n_points,
        "step": format_duration(run.panel.step or 0),
        "horizon": f"{spec.horizon} steps ({format_duration(spec.horizon * step)})",
        "backtest windows": f"{len(run.folds)}, cutoffs {first} .. {last}",
        "selection": "per series, out of sample"
        + (" (one window: in sample)" if run.selection_in_sample else ""),
        "intervals": ", ".join(f"{lv:g}% {how}" for lv, how in sorted(run.calibration.items())),
        "serving budget": _budget(run),
        "fallbacks": len(run.fallbacks),
        "owners": ", ".join(spec.owners) or "-",
        "duration": f"{run.seconds:.1f} s",
        "code": str(run.model.info.get("trained_with", "")),
    }


def _budget(run: TrainingRun) -> str:
    """The latency budget serving will give the model, beside its measured refit time."""
    refit = run.metrics.get("refit_p95_ms", 0.0)
    given = run.spec.latency_budget_ns
    if given is None:
        return f"{fitted_budget(refit) * 1000:.0f} ms (fitted: refit p95 {refit:.0f} ms)"
    return f"{given / 1e6:g} ms (the spec's; refit p95 {refit:.0f} ms)"


def _per_series(run: TrainingRun) -> Any:
    table = run.per_series.copy()
    failed = {fb.unique_id for fb in run.fallbacks}
    table["fallback"] = table["unique_id"].isin(failed)
    return table


def _show(run: TrainingRun, version: int | None, path: Path, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "name": run.spec.name,
                "version": version,
                "dataset_id": run.dataset_id,
                "passed": run.passed,
                "gates": run.gates,
                "metrics": run.metrics,
                "chosen": run.per_series["model"].value_counts().to_dict(),
                "report": str(path),
                "seconds": round(run.seconds, 3),
            }
        )
    err.print(candidates_table(run.candidate_metrics, run.spec.levels))
    _gates(run.gates)
    for fb in run.fallbacks[:10]:
        err.print(f"[yellow]fallback:[/] {escape(fb.unique_id)}: {fb.model} ({escape(fb.reason)})")
    budget = run.spec.latency_budget_ns
    refit = run.metrics.get("refit_p95_ms", 0.0)
    if budget is not None and refit * 1e6 > budget:
        err.print(
            f"[yellow]warning:[/] refitting a series takes {refit:.0f} ms (p95), more than the "
            f"spec's latency_budget of {run.spec.latency_budget}: serving would answer most "
            "requests with values from the fallback. Fix: raise latency_budget, or leave it out "
            "to fit it to the model"
        )
    where = f"registered {run.spec.name} version {version}" if version else "not registered"
    err.print(f"{_verdict(run.passed)}; {where}; report: {path}")
    if not as_json:
        typer.echo(str(path))


def _verdict(passed: bool) -> str:
    return "[green]gates passed[/]" if passed else "[bold red]gates FAILED: not promotable[/]"


def _gates(results: list[dict[str, Any]]) -> None:
    err.print(gates_table(results))


def candidates_table(metrics: Any, levels: Sequence[float]) -> FitTable:
    """The candidates' backtest metrics, scale-free only, so that series in different
    units (bytes beside ratios) can be averaged: MASE, MASE relative to the seasonal
    naive baseline's (``vs naive``, below 1 beats it), sMAPE and the coverage of each
    interval level (the selected model's; candidates have no intervals of their own).
    MAE is in base units and only means something per series: the report has it there.
    Short headers keep the table within 80 columns for up to three levels."""
    base = metrics["mase"].get(BASELINE) if "mase" in metrics.columns else None
    table = FitTable(
        title="candidates (backtest, scored windows)",
        title_justify="left",
        caption="vs naive: MASE / the baseline's (below 1 beats it); NN%: interval coverage",
        caption_justify="left",
    )
    table.add_column("candidate", no_wrap=True)
    for head in ("MASE", "vs naive", "sMAPE", *[f"{lv:g}%" for lv in levels], "series"):
        table.add_column(head, justify="right")
    for name, row in metrics.iterrows():
        mase = row.get("mase")
        ratio = mase / base if base and mase == mase and base == base else None
        cells = [_cell(mase), _cell(ratio), _cell(row.get("smape"))]
        cells += [_percent(row.get(f"coverage_{lv:g}")) for lv in levels]
        cells.append(_cell(row.get("series_chosen")))
        table.add_row(f"[bold]{name}[/]" if name == "selected" else escape(str(name)), *cells)
    return table


def gates_table(results: list[dict[str, Any]]) -> FitTable:
    """One row a gate: its name over its metric, the value, the threshold and the result
    (the name and metric share a column so that long metric names fit 80 columns)."""
    table = FitTable(title="gates", title_justify="left")
    for col in ("gate / metric", "value", "threshold", "result"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for g in results:
        mark = "[green]pass[/]" if g["passed"] else "[bold red]FAIL[/]"
        name = f"{escape(str(g['name']))}\n[dim]{escape(str(g['metric']))}[/]"
        table.add_row(name, _cell(g["value"]), escape(str(g["threshold"])), mark)
    return table


def _percent(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if number != number else f"{number:.1%}"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number != number:
        return "-"
    return f"{number:,.0f}" if number.is_integer() and abs(number) >= 1 else f"{number:.4g}"
