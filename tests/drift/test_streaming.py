"""Streaming change detectors: each finds a mean shift soon and stays quiet on 10,000
stationary values, BOCPD finds a change of variance, NaN is skipped, parameters
round-trip and are checked, and Page-Hinkley flags the same points as river's."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from modelphase.drift import ADWIN, BOCPD, CUSUM, PageHinkley, StreamingDetector
from modelphase.exceptions import ValidationError

# Page-Hinkley works in the data's units: delta 0.2 suits values of sd 1
DETECTORS = [PageHinkley(delta=0.2), ADWIN(), CUSUM(), BOCPD(max_run_lengths=50)]


def flags(detector: StreamingDetector, values: np.ndarray) -> list[int]:
    found = []
    for i, x in enumerate(values):
        detector.update(x)
        if detector.drift_detected:
            found.append(i)
    return found


def fresh(detector: StreamingDetector) -> StreamingDetector:
    return type(detector)(**detector.get_params())


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
def test_a_mean_shift_is_found_soon_and_stationary_values_raise_nothing(
    detector: StreamingDetector,
) -> None:
    rng = np.random.default_rng(7)
    assert flags(fresh(detector), rng.normal(0, 1, 10_000)) == []
    shifted = np.r_[rng.normal(0, 1, 500), rng.normal(2, 1, 300)]
    found = flags(fresh(detector), shifted)
    assert found
    assert 500 <= found[0] < 540


def test_bocpd_finds_a_change_of_variance() -> None:
    rng = np.random.default_rng(3)
    values = np.r_[rng.normal(0, 1, 400), rng.normal(0, 3, 200)]
    found = flags(BOCPD(), values)
    assert found
    assert 400 <= found[0] < 430
    detector = BOCPD(max_run_lengths=40)
    flags(detector, values)
    assert len(detector.runs_) <= 40  # memory stays bounded


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
def test_nan_is_counted_and_ignored(detector: StreamingDetector) -> None:
    rng = np.random.default_rng(5)
    values = np.r_[rng.normal(0, 1, 500), rng.normal(2, 1, 300)]
    holed = values.copy().tolist()
    for at in (10, 200, 600):
        holed.insert(at, float("nan"))
    holed.insert(300, float("inf"))
    plain, with_holes = fresh(detector), fresh(detector)
    found = flags(plain, values)
    found_holed = flags(with_holes, np.asarray(holed))
    assert len(found_holed) == len(found)
    assert with_holes.n_missing_ == 4
    assert with_holes.n_ == plain.n_ == len(values)


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
def test_params_round_trip_as_json_and_pickle(detector: StreamingDetector) -> None:
    params = detector.get_params()
    assert json.loads(json.dumps(params)) == params
    assert type(detector)(**params).get_params() == params
    d = fresh(detector)
    values = np.random.default_rng(1).normal(0, 1, 300)
    flags(d, values[:200])
    copy = pickle.loads(pickle.dumps(d))
    assert flags(copy, values[200:]) == flags(d, values[200:])
    assert copy.get_params() == params  # learning does not touch the parameters


def test_drift_detected_is_read_only_and_false_before_updates() -> None:
    detector = CUSUM()
    assert detector.drift_detected is False
    with pytest.raises(AttributeError):
        detector.drift_detected = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("detector", "message"),
    [
        (PageHinkley(mode="sideways"), "mode: expected 'up', 'down' or 'both'"),
        (ADWIN(delta=2.0), r"delta: expected a number in \(0, 1\)"),
        (CUSUM(h=0.0), "h: expected a number > 0"),
        (BOCPD(threshold=1.5), r"threshold: expected a number in \(0, 1\)"),
    ],
)
def test_bad_parameters_are_refused_at_the_first_update(
    detector: StreamingDetector, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        detector.update(1.0)


def test_page_hinkley_flags_what_rivers_flags() -> None:
    river_drift = pytest.importorskip("river.drift")
    rng = np.random.default_rng(11)
    values = np.r_[rng.normal(0, 1, 600), rng.normal(1.5, 1, 600), rng.normal(-1, 2, 600)]
    ours, theirs = PageHinkley(), river_drift.PageHinkley()
    assert flags(ours, values) == flags(theirs, values)  # type: ignore[arg-type]
    assert flags(ours, values)
