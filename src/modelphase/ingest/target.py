"""A model's training data from where its spec says it comes: a dataset snapshot, or a
Prometheus range query snapshotted first.

:func:`load_target` is what ``modelphase train`` and the monitor's retrain step both
call, so that a retrain reads its data exactly as the first training did. A Prometheus
target's ``start`` and ``end`` are read relative to ``now`` (``now-14d``), so the same
spec gives a fresh window on every retrain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from modelphase.config import PrometheusSettings, get_settings
from modelphase.exceptions import ValidationError
from modelphase.frame import (
    NS_PER_SECOND,
    Panel,
    format_duration,
    format_time,
    parse_duration,
    parse_time,
)
from modelphase.ingest.datasets import DatasetStore
from modelphase.ingest.pipeline import ingest_prometheus
from modelphase.ingest.prometheus import PrometheusClient
from modelphase.ingest.validate import check
from modelphase.limits import MAX_RANGE_POINTS, check_at_most

__all__ = ["LoadedTarget", "check_range", "load_target", "query_window"]


class PrometheusQuery(Protocol):
    """The fields of a spec's ``target.prometheus`` this module reads."""

    @property
    def query(self) -> str: ...
    @property
    def start(self) -> str: ...
    @property
    def end(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def url(self) -> str | None: ...


class Expectations(Protocol):
    """The fields of a spec's ``target.expect``."""

    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...
    @property
    def max_missing(self) -> float | None: ...


class Target(Protocol):
    """The fields of a spec's ``target`` this module reads (``modelphase.spec.TargetSpec``)."""

    @property
    def dataset(self) -> str | None: ...
    @property
    def prometheus(self) -> PrometheusQuery | None: ...
    @property
    def series(self) -> Sequence[str] | None: ...
    @property
    def expect(self) -> Expectations | None: ...


@dataclass(frozen=True)
class LoadedTarget:
    """The panel a target gave, the dataset it is (or was snapshotted as), and what
    Prometheus warned about while answering."""

    panel: Panel
    dataset_id: str
    warnings: list[str] = field(default_factory=list)


def check_range(start: int, end: int, step: int, what: str) -> None:
    """Refuse a range query of more than ``MAX_RANGE_POINTS`` points per series."""
    if step <= 0 or end < start:
        return  # the query's own checks say what is wrong
    check_at_most(
        f"{what} from {format_time(start)} to {format_time(end)} every {format_duration(step)}",
        (end - start) // step + 1,
        MAX_RANGE_POINTS,
        "shorten the range or use a larger step",
        " points per series",
    )


def query_window(
    start: str, end: str, step: str, *, now: datetime, what: str, align: bool = False
) -> tuple[int, int, int]:
    """``start``, ``end`` (RFC 3339, Unix seconds or ``now-<duration>``, read at ``now``)
    and ``step`` in nanoseconds, the range's size checked. ``align`` moves both times
    down to a multiple of the step (as Grafana does), so that every query of a target
    evaluates on the same grid whenever it runs: a model's forecasts and the actuals
    the monitor later reads fall on the same times."""
    now_ns = int(now.timestamp()) * NS_PER_SECOND
    start_ns, end_ns = parse_time(start, now=now_ns), parse_time(end, now=now_ns)
    step_ns = parse_duration(step)
    if align and step_ns > 0:
        start_ns, end_ns = start_ns - start_ns % step_ns, end_ns - end_ns % step_ns
    check_range(start_ns, end_ns, step_ns, what)
    return start_ns, end_ns, step_ns


def load_target(
    target: Target,
    *,
    dataset: str | None = None,
    store: DatasetStore | None = None,
    settings: PrometheusSettings | None = None,
    now: datetime | None = None,
    on_query: Callable[[str], None] | None = None,
) -> LoadedTarget:
    """The panel of ``target``: ``dataset`` (an id or a unique prefix) when given, else
    the target's dataset, else its Prometheus query run at ``now`` (on a grid aligned to
    its step, :func:`query_window`) and snapshotted into
    ``store``; then only the target's ``series`` when it names some, checked against
    the target's ``expect`` (:func:`modelphase.ingest.validate.check`).

    ``settings`` are the Prometheus connection (default: the environment's), its URL
    replaced by the target's own ``url``; ``on_query`` is told the URL before the query
    is sent (the CLI shows a spinner). Raises
    :class:`~modelphase.exceptions.ValidationError` when ``series`` names a series the
    data does not have, and the ingest errors of a dataset or query that fails.
    """
    store = store if store is not None else DatasetStore()
    warnings: list[str] = []
    chosen = dataset if dataset is not None else target.dataset
    if chosen is not None:
        dataset_id = store.resolve(chosen)
        panel = store.load(dataset_id)
    else:
        query = target.prometheus
        if query is None:
            raise ValidationError(
                "expected a target with a dataset or a Prometheus query, got neither",
                hint="give target.dataset or target.prometheus in the spec, or --dataset",
            )
        when = now if now is not None else datetime.now(UTC)
        start, end, step = query_window(
            query.start, query.end, query.step, now=when, align=True,
            what="target.prometheus start/end/step",
        )  # fmt: skip
        conn = settings if settings is not None else get_settings().prometheus
        if query.url:
            conn = replace(conn, url=query.url)
        client = PrometheusClient.from_settings(conn)
        if on_query is not None:
            on_query(client.base_url)
        with client:
            manifest, warnings = ingest_prometheus(
                client, query.query, store, start=start, end=end, step=step, now=when
            )
        dataset_id = manifest.id
        panel = store.load(dataset_id)
    if target.series:
        missing = sorted(set(target.series) - set(panel.ids))
        if missing:
            raise ValidationError(
                f"target.series names {len(missing)} series the dataset does not have: "
                f"{', '.join(missing[:3])}",
                unique_ids=missing,
                hint=f"`modelphase datasets show {dataset_id}` lists its series",
            )
        panel = panel.subset(list(target.series))
    expect = target.expect
    if expect is not None:
        check(
            panel,
            min=expect.min,
            max=expect.max,
            max_missing=expect.max_missing,
            what=f"dataset {dataset_id}",
        )
    return LoadedTarget(panel, dataset_id, list(warnings))
