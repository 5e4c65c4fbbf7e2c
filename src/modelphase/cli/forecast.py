"""``modelphase forecast``: batch forecasts from a file or a dataset."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.markup import escape

from modelphase.cli._checks import check_grid, check_input_file, check_output_file
from modelphase.cli._registry import (
    REGISTRY,
    TOKEN,
    TOKEN_FILE,
    open_registry,
    registry_options,
)
from modelphase.cli._render import FitTable, atomic_output, err, print_json, rfc3339
from modelphase.exceptions import ValidationError
from modelphase.forecast import AutoForecast
from modelphase.forecast.catalog import MODEL_NAMES, build_model
from modelphase.forecast.trained import FLAVOR as FORECAST_FLAVOR
from modelphase.forecast.trained import TrainedForecaster
from modelphase.frame import Panel, format_duration, parse_duration
from modelphase.ingest import DatasetStore, prepare, read_csv, read_parquet
from modelphase.limits import MAX_FORECAST_POINTS, MAX_H, MAX_LEVELS, check_at_most


def forecast_command(
    h: int | None = typer.Option(
        None,
        "--h",
        min=1,
        help="Horizon: how many steps ahead, at most 100,000 (default for a registered "
        "model: its horizon).",
    ),
    freq: str | None = typer.Option(
        None, "--freq", help="The data's step: 30s, 5m, 1h, 1d... (needed with data)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="CSV to write."),
    input_path: Path | None = typer.Option(
        None, "--input", "-i", help="Long CSV or Parquet: unique_id, ds, y."
    ),
    dataset: str | None = typer.Option(None, "--dataset", help="Or a dataset id (prefix)."),
    level: list[float] = typer.Option(
        [], "--level", help="Interval level (repeatable, at most 10 of them)."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help=f"One model for every series ({', '.join(MODEL_NAMES)}), or a registered model "
        "NAME@ALIAS or NAME@VERSION (e.g. checkout@production); default: automatic "
        "selection per series by a backtest.",
    ),
    registry: str | None = REGISTRY,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Forecast every series h steps ahead; write unique_id, ds, yhat[, yhat_lo_80, ...].

    Default: the engine of `modelphase train` on the default candidates (seasonal naive
    and MSTL with a daily, and a daily and weekly season, Theta with a daily one; each
    series with the seasons its own history allows), their median and weighted mean,
    backtested on 3 windows of h at the end of each series; each series keeps the
    panel's best unless its own windows favour another by 20%, and forecasts with
    intervals calibrated per level on the backtest errors. A series that never went
    below zero gets no negative forecast.

    With a registered model (--model NAME@ALIAS): without data, the forecast it made when
    it was trained; with --input or --dataset, each series' chosen model refitted on that
    data, with the model's calibrated intervals.
    """
    for lv in level:
        if not 0 < lv < 100:
            raise ValidationError(f"--level: expected a percentage between 0 and 100, got {lv:g}")
    check_at_most("--level", len(level), MAX_LEVELS, "ask for fewer interval levels", " levels")
    if h is not None:
        check_at_most("--h", h, MAX_H, "forecast fewer steps ahead, or use a coarser --freq")
    check_output_file(output)
    if model is not None and "@" in model:
        registry_options(registry, token, token_file)
        _registered(model, h, freq, input_path, dataset, output, level, as_json)
        return
    if h is None or freq is None:
        raise ValidationError(
            "expected --h and --freq to forecast data (they may be left out only with a "
            "registered --model NAME@ALIAS)"
        )
    step = parse_duration(freq)
    panel = load_input(input_path, dataset, step)
    _check_size(panel, h)
    models = [build_model(model, {}, step=step)] if model else None
    with err.status(f"forecasting {panel.n_series} series, h={h}"):
        runner = AutoForecast(models, ensemble=models is None)
        result = runner.fit_predict(panel, h, level=sorted(level))
    table = _write(result, output)
    chosen = Counter(runner.chosen_.values())
    summary: dict[str, Any] = {
        "output": str(output),
        "series": panel.n_series,
        "h": h,
        "freq": format_duration(step),
        "chosen": dict(chosen),
        "fallbacks": [f.__dict__ for f in runner.fallbacks_],
    }
    if as_json:
        print_json(summary)
        return
    picks = FitTable(title="model per series", title_justify="left")
    picks.add_column("model")
    picks.add_column("series", justify="right")
    for name, count in chosen.most_common():
        picks.add_row(name, str(count))
    err.print(picks)
    for fb in runner.fallbacks_[:20]:
        err.print(
            f"[yellow]fallback:[/] {escape(fb.unique_id)}: {fb.model} failed ({escape(fb.reason)})"
        )
    err.print(f"wrote {len(table):,} rows ({panel.n_series} series x {h} steps) to {output}")


def _write(result: pd.DataFrame, output: Path) -> pd.DataFrame:
    table = result.drop(columns="model")
    table["ds"] = rfc3339(table["ds"])
    table.columns = [str(c).replace("-", "_") for c in table.columns]
    with atomic_output(output) as tmp:
        table.to_csv(tmp, index=False)
    return table


def _registered(
    ref: str,
    h: int | None,
    freq: str | None,
    input_path: Path | None,
    dataset: str | None,
    output: Path,
    level: list[float],
    as_json: bool,
) -> None:
    name, _, which = ref.partition("@")
    found, model = registered_forecaster(ref)
    levels = sorted(level) if level else None
    fallbacks: list[Any] = []
    if input_path is None and dataset is None:
        if freq is not None and parse_duration(freq) != model.step:
            raise ValidationError(
                f"--freq {freq} does not match the model's step {format_duration(model.step)}"
            )
        result = model.predict(h, level=levels)
        source = "the forecast made at training"
    else:
        step = parse_duration(freq) if freq is not None else model.step
        panel = load_input(input_path, dataset, step)
        _check_size(panel, h or int(model.horizon))
        with err.status(f"forecasting {panel.n_series} series with {name}@{which}"):
            result, fallbacks = model.forecast(panel, h, level=levels)
        source = "refitted on the data"
    table = _write(result, output)
    steps = int(table.groupby("unique_id").size().max()) if len(table) else 0
    summary = {
        "output": str(output),
        "model": name,
        "version": found.version,
        "series": int(table["unique_id"].nunique()),
        "h": steps,
        "source": source,
        "chosen": dict(Counter(result.drop_duplicates("unique_id")["model"])),
        "fallbacks": [f.__dict__ for f in fallbacks],
    }
    if as_json:
        print_json(summary)
        return
    err.print(
        f"{name} version {found.version} ({source}): wrote {len(table):,} rows "
        f"({summary['series']} series x {steps} steps) to {output}"
    )


def registered_forecaster(ref: str) -> tuple[Any, TrainedForecaster]:
    """The registry's version and the forecaster of ``NAME@ALIAS`` or ``NAME@VERSION``
    (the registry options already set); refused when it is not a forecaster."""
    name, _, which = ref.partition("@")
    version = int(which.removeprefix("v")) if which.removeprefix("v").isdigit() else None
    alias = None if version is not None else which
    with open_registry() as reg:
        found = reg.get(name, version, alias=alias)
        if found.flavor != FORECAST_FLAVOR:
            raise ValidationError(
                f"{name} version {found.version} is a {found.flavor!r} model, not a "
                "forecaster trained by `modelphase train`",
                hint="name a model registered by `modelphase train`",
            )
        return found, TrainedForecaster.from_bytes(reg.load_artifact(name, found.version))


def load_input(input_path: Path | None, dataset: str | None, step: int) -> Panel:
    if (input_path is None) == (dataset is None):
        raise ValidationError("expected --input FILE or --dataset ID (one of them)")
    if dataset is not None:
        panel = DatasetStore().load(dataset)
        if panel.step != step:
            raise ValidationError(
                f"--freq {format_duration(step)} does not match the dataset's step "
                f"{format_duration(panel.step or 0)}"
            )
        return panel
    assert input_path is not None
    check_input_file(input_path, "--input")
    suffix = input_path.suffix.lower()
    raw = read_parquet(input_path) if suffix in (".parquet", ".pq") else read_csv(input_path)
    check_grid(raw, None, nonfinite="error", what=f"--input {input_path}")
    panel = prepare(raw)  # on the step the data has; --freq must name it
    if panel.step != step:
        own = format_duration(panel.step or 0)
        raise ValidationError(
            f"--freq {format_duration(step)} does not match the data, which is sampled every "
            f"{own}. Fix: pass --freq {own}"
        )
    return panel


def _check_size(panel: Panel, h: int) -> None:
    """Refuse a forecast of more than ``MAX_FORECAST_POINTS`` series x steps."""
    check_at_most(
        f"--h {h} for {panel.n_series:,} series",
        panel.n_series * h,
        MAX_FORECAST_POINTS,
        "forecast fewer steps ahead, or fewer series at once (split the input)",
        " forecast points",
    )
