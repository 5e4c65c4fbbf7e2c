"""The calibration scale of a series (modelphase.forecast.select.period_scale)."""

from __future__ import annotations

import numpy as np
import pytest

from modelphase.forecast.select import period_scale


def test_period_scale_reads_the_same_stretch_a_period_earlier() -> None:
    """The scale of the next h points is the seasonal change on the stretch one period
    back: a calm stretch there gives a small scale, a swing a large one."""
    season, period, h = 4, 12, 4
    calm = np.tile([1.0, 2.0, 3.0, 4.0], 6)  # 24 points, no seasonal change at all
    swing = calm.copy()
    swing[12:16] += 8.0  # the stretch one period before the next 4 points changes by 8
    assert period_scale(swing, season=season, period=period, h=h) == pytest.approx(8.0)
    # the stretch a period before a later window is calm: floored at a quarter of the
    # whole history's mean change
    shifted = np.append(swing, np.tile([1.0, 2.0, 3.0, 4.0], 2))
    assert period_scale(shifted, season=season, period=period, h=h) == pytest.approx(
        0.25 * np.mean(np.abs(shifted[season:] - shifted[:-season]))
    )
    # a constant series has no scale (zero-width intervals); a seasonal-constant one
    # falls back on the one-step change
    assert period_scale(np.full(30, 5.0), season=season, period=period, h=h) == 0.0
    assert period_scale(calm, season=season, period=period, h=h) == pytest.approx(
        np.mean(np.abs(np.diff(calm)))
    )
    # shorter than a period: the whole history's seasonal change
    short = swing[4:18]
    assert period_scale(short, season=season, period=period, h=h) == pytest.approx(
        np.mean(np.abs(short[season:] - short[:-season]))
    )
    # gaps are skipped
    gappy = swing.copy()
    gappy[13] = np.nan
    assert period_scale(gappy, season=season, period=period, h=h) == pytest.approx(8.0)
