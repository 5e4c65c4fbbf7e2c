"""``modelphase forecast``: batch forecasts from a file or a dataset."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._render import atomic_output, err, print_json, rfc3339
from modelphase.exceptions import ValidationError
from modelphase.forecast import AutoForecast, SeasonalNaive, default_season
from modelphase.frame import Panel, format_duration, parse_duration
from modelphase.ingest import DatasetStore, prepare, read_csv, read_parquet

#: Models that --model may name; each is built with the data's daily season.
NAMED = ("SeasonalNaive", "MSTL", "AutoETS", "AutoTheta", "AutoARIMA", "Naive")


def forecast_command(
    h: int = typer.Option(..., "--h", min=1, help="Horizon: how many steps ahead."),
    freq: str = typer.Option(..., "--freq", help="The data's step: 30s, 5m, 1h, 1d..."),
    output: Path = typer.Option(..., "--output", "-o", help="CSV to write."),
    input_path: Path | None = typer.Option(
        None, "--input", "-i", help="Long CSV or Parquet: unique_id, ds, y."
    ),
    dataset: str | None = typer.Option(None, "--dataset", help="Or a dataset id (prefix)."),
    level: list[float] = typer.Option([], "--level", help="Interval level (repeatable)."),
    model: str | None = typer.Option(
        None,
        "--model",
        help=f"One model for every series ({', '.join(NAMED)}); default: automatic "
        "selection per series by a backtest.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Forecast every series h steps ahead; write unique_id, ds, yhat[, yhat_lo_80, ...].

    Default: SeasonalNaive, MSTL (daily, and weekly when the history allows) and their
    median are backtested on the last h points of each series; the best is refitted and
    forecasts, with conformal intervals calibrated on the backtest errors.
    """
    step = parse_duration(freq)
    panel = _load(input_path, dataset, step)
    for lv in level:
        if not 0 < lv < 100:
            raise ValidationError(f"--level: expected a percentage between 0 and 100, got {lv:g}")
    models = [_named(model, step)] if model else None
    with err.status(f"forecasting {panel.n_series} series, h={h}"):
        runner = AutoForecast(models, ensemble=models is None)
        result = runner.fit_predict(panel, h, level=sorted(level))
    table = result.drop(columns="model")
    table["ds"] = rfc3339(table["ds"])
    table.columns = [str(c).replace("-", "_") for c in table.columns]
    with atomic_output(output) as tmp:
        table.to_csv(tmp, index=False)
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
    picks = Table(title="model per series", title_justify="left")
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


def _load(input_path: Path | None, dataset: str | None, step: int) -> Panel:
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
    suffix = input_path.suffix.lower()
    raw = read_parquet(input_path) if suffix in (".parquet", ".pq") else read_csv(input_path)
    panel = prepare(raw)  # on the step the data has; --freq must name it
    if panel.step != step:
        own = format_duration(panel.step or 0)
        raise ValidationError(
            f"--freq {format_duration(step)} does not match the data, which is sampled every "
            f"{own}. Fix: pass --freq {own}"
        )
    return panel


def _named(name: str, step: int) -> Any:
    season = default_season(step)
    if name == "SeasonalNaive":
        return SeasonalNaive(season_length=season)
    from statsforecast import models as sf

    factories = {
        "MSTL": lambda: sf.MSTL(season_length=season, alias="MSTL"),
        "AutoETS": lambda: sf.AutoETS(season_length=min(season, 24)),
        "AutoTheta": lambda: sf.AutoTheta(season_length=season),
        "AutoARIMA": lambda: sf.AutoARIMA(season_length=min(season, 24)),
        "Naive": lambda: sf.Naive(),
    }
    if name not in factories:
        raise ValidationError(f"--model: expected one of {', '.join(NAMED)}, got {name!r}")
    return factories[name]()  # type: ignore[no-untyped-call]
