"""The policy read from a spec's monitoring: and canary: sections."""

from __future__ import annotations

import pytest

from modelphase.exceptions import SpecError
from modelphase.monitor import Policy


def test_defaults_and_a_full_policy() -> None:
    default = Policy.of({}, None)
    assert default.steps == (10.0, 50.0, 100.0)
    assert default.window_ns == 86_400 * 10**9
    assert default.shadow
    given = Policy.of(
        {"window": "6h", "cooldown": "1h", "drift": {"share": 0.5}, "accuracy": {"max_mase": 2}},
        {"steps": [25, 50], "min_samples": 30, "shadow": False},
    )
    assert given.window_ns == 6 * 3600 * 10**9
    assert given.steps == (25.0, 50.0, 100.0)  # the last step is production
    assert (given.drift_share, given.max_mase, given.min_samples) == (0.5, 2.0, 30)
    assert not given.shadow


def test_the_trigger_window_and_the_retrain_delay() -> None:
    default = Policy.of({}, None)
    assert default.trigger_window_ns == 3 * 3600 * 10**9
    assert default.max_mase_ratio == 4.0
    assert default.retrain_delay_ns is None  # the backtest's span of the spec
    given = Policy.of({"retrain_delay": "2h", "accuracy": {"window": "6h"}}, None)
    assert given.trigger_window_ns == 6 * 3600 * 10**9
    assert given.retrain_delay_ns == 2 * 3600 * 10**9
    assert Policy.of({"retrain_delay": "0s"}, None).retrain_delay_ns == 0


@pytest.mark.parametrize(
    ("monitoring", "canary", "message"),
    [
        ({"windw": "1d"}, None, "unknown key"),
        ({"drift": {"alpah": 0.1}}, None, "monitoring.drift: unknown key"),
        ({"drift": 3}, None, "expected a mapping"),
        ({}, {"steps": [50, 10]}, "increasing"),
        ({}, {"steps": [0]}, "increasing"),
        ({"min_points": 0}, None, "integer >= 1"),
        ({"drift": {"alpha": 2}}, None, "fraction"),
        ({"window": "soon"}, None, "monitoring/canary"),
        ({"retrain_delay": "later"}, None, "monitoring/canary"),
        ({"accuracy": {"window": "-1h"}}, None, "monitoring/canary"),
    ],
)
def test_bad_sections_are_one_clear_spec_error(
    monitoring: dict[str, object], canary: dict[str, object] | None, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        Policy.of(monitoring, canary)
