"""An SLI's events from where they live: Prometheus (the SLO's own queries) or a
stored dataset's series. With :mod:`~modelphase.decide.slo.reader`, the IO of
:mod:`modelphase.decide.slo`.

From Prometheus, the SLI's queries are run as Sloth's recording rules run them, with
``{{.window}}`` set to the step, over the period: each answer is a rate of events per
second over the step before its time (what ``rate()`` gives), so a step holds
``rate x step`` events. A raw SLI (an error ratio query) without a total query counts
every step as one event: its budget is then a share of time, not of requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from modelphase.decide.slo._promql import render_window
from modelphase.decide.slo.budget import SliEvents
from modelphase.decide.slo.model import SLO
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, Panel

if TYPE_CHECKING:  # canary_source reads the SLO package's error helpers
    from modelphase.decide.canary_source import RangeQuerier

__all__ = ["events_from_panel", "events_from_prometheus"]


def _summed(client: RangeQuerier, query: str, start: int, end: int, step: int) -> dict[int, float]:
    """The query's values per time (ns), summed over the series it returns."""
    found = client.query_range(query, start, end, step).panel
    out: dict[int, float] = {}
    for t, y in zip(found.ds.tolist(), found.y.tolist(), strict=True):
        if np.isfinite(y):
            out[t] = out.get(t, 0.0) + y
    return out


def events_from_prometheus(
    client: RangeQuerier, slo: SLO, *, start: int, end: int, step: int
) -> SliEvents:
    """The SLI's events from ``start`` to ``end`` (ns) in steps of ``step`` ns, from
    the SLO's queries. A query that matches nothing raises
    :class:`~modelphase.ingest.prometheus.NoSeriesError` naming it."""
    seconds = step // NS_PER_SECOND
    sli = slo.sli
    total: dict[int, float] | None = None
    if sli.total_query is not None:
        total = _summed(client, render_window(sli.total_query, seconds), start, end, step)
    if sli.error_ratio_query is not None:
        ratio = _summed(client, render_window(sli.error_ratio_query, seconds), start, end, step)
        times = sorted(ratio if total is None else ratio.keys() & total.keys())
        n = np.array([1.0 if total is None else total[t] * seconds for t in times])
        e = np.array([ratio[t] for t in times]) * n
    else:
        assert sli.error_query is not None
        assert total is not None
        errors = _summed(client, render_window(sli.error_query, seconds), start, end, step)
        # a step with traffic and no error series (nothing failed yet) has no errors
        times = sorted(total)
        n = np.array([total[t] * seconds for t in times])
        e = np.array([errors.get(t, 0.0) * seconds for t in times])
    # a rate at time t is of the step that ends at t
    ds = np.array(times, dtype=np.int64) - step
    return SliEvents.on_grid(ds, np.clip(e, 0.0, None), np.clip(n, 0.0, None), step)


def events_from_panel(
    panel: Panel,
    *,
    errors: str | None = None,
    error_ratio: str | None = None,
    total: str | None = None,
    rates: bool = True,
) -> SliEvents:
    """The SLI's events from a panel's series (named by their ids): ``errors`` and
    ``total``, or ``error_ratio`` with an optional ``total``. ``rates``: the counts are
    per second (as Prometheus' ``rate()``), not per step. Raise
    :class:`~modelphase.exceptions.ValidationError` on a missing series or a bad
    combination."""
    if panel.step is None:
        raise ValidationError("expected a dataset on a regular grid, got one without a step")
    if (errors is None) == (error_ratio is None):
        raise ValidationError(
            "expected either an errors series with a total, or an error ratio series",
            hint="pass --errors SERIES --total SERIES, or --error-ratio SERIES",
        )
    if errors is not None and total is None:
        raise ValidationError(
            f"expected a total series with the errors series {errors!r}, got none",
            hint="pass --total SERIES (all events), or use --error-ratio",
        )
    named = {"errors": errors, "error_ratio": error_ratio, "total": total}
    known = set(panel.ids)
    values: dict[str, Mapping[int, float]] = {}
    for role, uid in named.items():
        if uid is None:
            continue
        if uid not in known:
            close = sorted(u for u in panel.ids if uid.split("{")[0] in u)[:5]
            raise ValidationError(
                f"expected a series of the dataset for {role.replace('_', ' ')}, got "
                f"{uid!r}, which it does not have",
                hint=f"pass one of its series ids{': ' + ', '.join(close) if close else ''}",
            )
        ds, y = panel.series(uid)
        values[role] = dict(zip(ds.tolist(), y.tolist(), strict=True))
    scale = panel.step / NS_PER_SECOND if rates else 1.0
    if error_ratio is not None:
        ratio = values["error_ratio"]
        n_of = values.get("total")
        times = sorted(ratio if n_of is None else ratio.keys() & n_of.keys())
        n = np.array([1.0 if n_of is None else n_of[t] * scale for t in times])
        bad = np.array([ratio[t] for t in times])
        if (bad[np.isfinite(bad)] > 1).any():
            raise ValidationError(
                f"expected an error ratio from 0 to 1 in {error_ratio!r}, got a value above 1",
                hint="pass a ratio (0.01 for 1%), or the errors as --errors with --total",
            )
        e = bad * n
    else:
        e_of, n_of = values["errors"], values["total"]
        times = sorted(n_of)
        n = np.array([n_of[t] * scale for t in times])
        e = np.array([e_of.get(t, 0.0) * scale for t in times])
    return SliEvents.on_grid(np.array(times, dtype=np.int64), e, n, panel.step)
