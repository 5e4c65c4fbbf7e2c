"""Every detector passes the conformance checks; the checks catch a bad one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelphase.anomaly import DETECTORS, Detector, ZScore, build_detector, score_stream
from modelphase.testing import check_detector


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_detector_conforms(name: str) -> None:
    check_detector(lambda: build_detector(name))


values = st.one_of(st.just(float("nan")), st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(DETECTORS)), st.lists(values, min_size=1, max_size=400), st.data())
def test_appending_rows_never_changes_earlier_scores(
    name: str, ys: list[float], data: st.DataObject
) -> None:
    """Online: the score of row t uses rows <= t only."""
    more = data.draw(st.lists(values, min_size=1, max_size=50))
    detector = build_detector(name, {"warmup": 5} if name in {"modelphase", "calibrated"} else {})
    short = score_stream(detector, ys)
    longer = score_stream(detector, ys + more)
    np.testing.assert_array_equal(longer[: len(ys)], short)


class Peeking(ZScore):
    """Scores with the next value it will learn: look-ahead through score_many."""

    def score_many(self, values: Any, times: Any = None) -> Any:
        out = super().score_many(values, times)
        return np.append(out[1:], 0.0)


class Hoarding(ZScore):
    """Keeps every value it learns: state that grows with the stream."""

    def reset(self) -> Hoarding:
        super().reset()
        self.seen_: list[float] = []
        return self

    def learn_one(self, x: float, t: int | None = None) -> None:
        super().learn_one(x, t)
        self.seen_.append(x)


def test_the_checks_catch_a_detector_that_looks_ahead_or_grows() -> None:
    with pytest.raises(AssertionError, match="one by one"):
        check_detector(lambda: Peeking())
    with pytest.raises(AssertionError, match="bounded"):
        check_detector(lambda: Hoarding())


def test_unknown_detector_and_bad_params_are_spec_errors() -> None:
    from modelphase.exceptions import SpecError

    with pytest.raises(SpecError, match="unknown detector 'nope'"):
        build_detector("nope")
    with pytest.raises(SpecError, match="bad parameters"):
        build_detector("zscore", {"window": 3})
    assert isinstance(build_detector(), Detector)
