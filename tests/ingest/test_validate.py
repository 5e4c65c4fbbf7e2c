"""Range and completeness checks of training data against the spec's target.expect."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from modelphase.exceptions import ValidationError
from modelphase.frame import Panel
from modelphase.ingest import DatasetStore, ingest_panel, load_target
from modelphase.ingest.validate import check, violations
from modelphase.spec import parse_spec

MIN = 60 * 10**9


def panel() -> Panel:
    t = np.arange(10) * MIN
    ratio = np.linspace(0.1, 0.9, 10)
    pct = ratio * 100  # a ratio scraped as a percentage
    holes = ratio.copy()
    holes[:6] = np.nan
    return Panel.from_series([("ok", t, ratio), ("pct", t, pct), ("holes", t, holes)], step=MIN)


def test_each_series_and_the_rule_it_breaks() -> None:
    found = violations(panel(), min=0.0, max=1.0, max_missing=0.5)
    assert [(v.unique_id, v.rule, v.points) for v in found] == [
        ("holes", "max_missing", 6),
        ("pct", "max", 10),
    ]
    assert violations(panel(), min=None, max=None, max_missing=None) == []


def test_check_names_the_series_and_the_fix() -> None:
    with pytest.raises(ValidationError, match=r"2 series break target.expect.*Fix") as err:
        check(panel(), max=1.0, max_missing=0.5, what="dataset abc")
    assert err.value.unique_ids == ["holes", "pct"]


def test_load_target_refuses_data_that_breaks_the_spec(home: Path) -> None:
    manifest = ingest_panel(panel(), DatasetStore(), {"kind": "test"}, now=datetime.now(UTC))
    base = f"""
name: ratios
kind: forecast
target: {{dataset: {manifest.id}, series: [ok, pct], expect: {{min: 0, max: 1}}}}
frequency: 1m
horizon: 2
"""
    with pytest.raises(ValidationError, match="pct: 10 point"):
        load_target(parse_spec(base).target)
    fine = base.replace("series: [ok, pct]", "series: [ok]")
    assert load_target(parse_spec(fine).target).panel.ids == ["ok"]
    with pytest.raises(Exception, match="min is above max"):
        parse_spec(base.replace("min: 0, max: 1", "min: 2, max: 1"))
