"""The canary benchmark's peers: Kayenta's NetflixACAJudge (``benchmarks/_kayenta.py``)
and Flagger's built-in checks (``benchmarks/_flagger.py``).

The Kayenta cases and their expected outcomes are Kayenta's own: ``ClassifierSuite``,
``ScorerSuite`` and ``DetectorSuite`` of ``kayenta-judge`` and ``MannWhitneySuite`` of
``kayenta-mannwhitney``, whose expected intervals and estimates were computed by R's
``wilcox.test``. The samples are copied from those suites. The estimate and interval are
also checked against an independent computation: the median of the pairwise differences,
and the shifts scipy's Mann-Whitney test does not reject.

``benchmarks/`` is not a package, so the scripts are imported by path.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy.stats import mannwhitneyu, norm

from support.scripts import BENCHMARKS, load_script


@pytest.fixture
def kay(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_script("kayenta_peer", BENCHMARKS / "_kayenta.py", monkeypatch)


@pytest.fixture
def flagger(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_script("flagger_peer", BENCHMARKS / "_flagger.py", monkeypatch)


# Kayenta's test samples, copied from its suites
# fmt: off
# MannWhitneySuite "Tie out with R Version" (90 points) and "(Large)" (180 points)
R90_CONTROL = [
    1.5, 6.0, 5.0, 2.5, 2.5, 2.0, 2.0, 3.5, 3.0, 3.0,
    3.0, 2.0, 3.0, 8.0, 4.0, 2.5, 3.0, 2.5, 2.5, 2.0,
    2.5, 2.0, 2.0, 2.5, 3.5, 3.0, 1.5, 5.0, 2.5, 5.5,
    2.0, 2.5, 3.5, 2.0, 2.5, 4.0, 2.0, 2.0, 2.0, 2.0,
    5.5, 4.5, 4.0, 3.0, 3.0, 3.5, 2.5, 3.0, 2.5, 4.0,
    6.0, 2.0, 5.0, 6.0, 3.5, 3.0, 54.5, 3.0, 5.0, 6.0,
    3.5, 4.5, 2.5, 2.0, 6.0, 5.0, 2.5, 3.5, 2.0, 3.0,
    2.5, 3.5, 3.5, 2.5, 3.0, 4.5, 3.0, 15.5, 5.0, 2.5,
    3.0, 4.0, 3.5, 4.0, 4.0, 2.0, 4.5, 2.5, 4.0, 3.0,
]
R90_EXPERIMENT = [
    2.5, 2.5, 2.0, 2.5, 3.5, 2.0, 3.5, 1.5, 3.0, 3.0,
    2.5, 3.5, 2.0, 2.5, 2.0, 2.0, 5.0, 3.0, 2.0, 1.5,
    2.0, 4.0, 3.0, 2.5, 3.0, 2.0, 2.0, 2.0, 2.5, 3.5,
    1.5, 1.5, 3.5, 2.0, 2.5, 2.5, 3.0, 3.5, 2.5, 6.5,
    2.5, 4.0, 2.5, 3.0, 2.5, 6.5, 2.5, 3.0, 1.5, 2.0,
    2.5, 3.0, 7.5, 1.5, 2.0, 4.0, 2.5, 2.0, 2.5, 3.5,
    4.0, 2.5, 3.0, 2.5, 2.0, 3.5, 3.0, 16.5, 3.0, 3.0,
    7.0, 4.5, 5.0, 2.0, 3.5, 6.0, 1.5, 3.0, 2.5, 4.0,
    3.0, 1.5, 5.0, 3.0, 2.5, 5.5, 3.0, 1.5, 2.5, 6.0,
]
R180_EXPERIMENT = [
    1.5, 2.0, 5.0, 1.5, 1.5, 8.5, 1.0, 1.0, 2.0, 1.0,
    1.5, 0.5, 2.0, 1.5, 2.0, 1.5, 1.0, 2.5, 1.5, 1.5,
    2.0, 1.5, 1.5, 1.5, 2.0, 2.0, 1.0, 5.5, 1.5, 2.0,
    1.5, 1.5, 1.0, 2.5, 1.0, 2.0, 1.5, 1.5, 2.0, 2.0,
    1.5, 1.5, 1.0, 1.0, 2.0, 0.5, 1.5, 0.5, 3.5, 1.5,
    3.0, 19.0, 0.5, 1.5, 0.5, 1.5, 2.0, 1.5, 1.5, 1.5,
    1.5, 2.0, 1.5, 2.0, 2.0, 1.5, 1.0, 1.5, 1.0, 2.0,
    1.0, 2.0, 1.5, 1.5, 3.0, 2.0, 1.5, 1.5, 0.5, 2.0,
    1.5, 1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 2.0, 1.5, 1.0,
    1.0, 2.0, 1.5, 1.5, 1.5, 0.5, 1.5, 1.5, 0.5, 1.0,
    1.5, 1.5, 1.5, 1.0, 2.0, 2.0, 2.0, 1.5, 1.0, 1.5,
    1.0, 1.0, 1.5, 3.5, 2.0, 1.5, 1.0, 2.0, 1.5, 5.5,
    0.5, 2.0, 3.5, 1.5, 1.0, 2.0, 0.5, 2.5, 1.0, 1.5,
    0.5, 2.0, 2.0, 1.0, 0.5, 1.5, 1.0, 1.5, 0.5, 0.5,
    1.0, 1.5, 1.0, 1.5, 0.5, 1.5, 1.0, 1.0, 0.5, 1.0,
    0.5, 4.0, 1.0, 1.5, 2.0, 5.5, 1.5, 0.5, 2.0, 1.0,
    1.5, 1.0, 1.5, 1.5, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5,
    1.5, 2.0, 0.5, 1.5, 1.0, 2.0, 1.0, 1.0, 0.5, 1.0,
]
R180_CONTROL = [
    1.5, 1.5, 1.0, 2.0, 1.5, 1.5, 1.5, 2.0, 1.0, 1.0,
    2.0, 1.5, 1.5, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5, 2.0,
    1.0, 1.5, 3.0, 2.0, 1.0, 1.5, 1.5, 1.5, 2.0, 1.5,
    1.0, 1.0, 1.5, 2.5, 2.0, 0.0, 1.0, 2.0, 2.0, 1.5,
    3.0, 2.0, 1.0, 2.5, 0.5, 1.5, 0.5, 2.5, 2.0, 1.5,
    1.5, 2.0, 1.0, 4.5, 2.5, 0.5, 2.5, 1.5, 1.5, 1.0,
    2.0, 1.0, 2.5, 1.5, 2.0, 1.5, 3.0, 1.5, 1.5, 1.5,
    1.5, 2.0, 1.0, 2.5, 1.0, 1.5, 2.5, 1.5, 2.5, 2.0,
    1.5, 1.5, 1.5, 2.5, 1.0, 7.5, 1.5, 3.0, 5.5, 1.0,
    1.5, 2.0, 1.0, 1.5, 2.5, 2.5, 1.0, 1.0, 2.5, 1.5,
    1.5, 3.0, 4.0, 1.0, 1.5, 2.0, 1.5, 1.5, 1.5, 2.5,
    1.5, 3.5, 2.5, 1.5, 2.0, 1.0, 4.0, 1.5, 1.0, 1.5,
    2.5, 2.5, 2.0, 2.5, 1.5, 1.5, 2.0, 1.0, 1.5, 2.0,
    1.5, 1.0, 2.5, 1.5, 1.5, 2.0, 2.0, 1.0, 1.5, 2.5,
    0.5, 2.0, 2.5, 2.0, 1.0, 2.0, 0.5, 1.5, 1.0, 2.5,
    1.0, 1.5, 1.0, 7.0, 1.0, 3.5, 1.5, 2.0, 1.5, 1.5,
    2.0, 3.0, 1.5, 1.5, 2.0, 1.5, 2.0, 1.5, 4.0, 2.0,
    1.5, 1.5, 1.5, 1.5, 1.5, 0.5, 2.0, 1.0, 1.5, 0.5,
]
# ClassifierSuite "High Metric (Large Input)", MannWhitneySuite "Intermediate Values"
LARGE_EXPERIMENT = [
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 1.6666666666666572, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    3.703703703703681, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 1.5625000000000142, 0.0, 0.0,
    0.0, 0.0, 3.333333333333343, 0.0, 1.7543859649122737,
    0.0, 1.8518518518518476, 0.0, 0.0, 1.8518518518518476,
    0.0, 0.0, 1.5151515151515156, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 1.7857142857142776, 1.3333333333333286, 0.0,
    3.125000000000014, 1.9607843137255117, 1.4492753623188293, 2.439024390243887,
    1.6393442622950687,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 1.6129032258064484, 1.9607843137255117, 1.5873015873015817,
    0.0, 0.0, 2.8169014084507182, 0.0, 0.0,
    3.0303030303030454, 0.0, 0.0, 3.3898305084745743, 0.0,
    0.0, 1.234567901234584, 0.0, 0.0, 0.0,
    0.0, 1.7241379310344769, 0.0, 0.0, 0.0,
    0.0, 1.6949152542372872, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 1.470588235294116,
    0.0, 0.0, 1.3698630136986196, 3.225806451612911, 1.754385964912288,
    3.4482758620689538, 0.0, 3.333333333333343, 0.0, 0.0,
    0.0, 1.818181818181813, 0.0, 0.0, 1.4285714285714448,
    0.0, 0.0, 1.8867924528301927, 2.0000000000000284, 0.0,
    0.0, 0.0, 2.985074626865682, 0.0, 0.0,
    1.6666666666666714, 0.0, 0.0, 1.5625, 1.9230769230769198,
    0.0, 1.8518518518518619, 0.0, 2.702702702702709, 0.0,
    0.0, 0.0, 1.3513513513513544, 0.0, 1.818181818181813,
    0.0, 1.6666666666666572, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 1.818181818181813,
    0.0, 1.4285714285714164, 0.0, 0.0, 4.1095890410959015,
    0.0, 0.0, 0.0, 1.8518518518518619, 0.0,
    0.0, 1.8518518518518476, 1.3888888888888857, 0.0, 0.0,
    0.0, 0.0, 1.8867924528301785, 1.4285714285714164, 0.0,
    0.0, 1.5625, 1.8867924528301927, 0.0, 0.0,
    0.0, 0.0, 2.040816326530603, 1.818181818181813, 0.0,
    0.0, 1.6393442622950687, 0.0, 1.7241379310344769, 1.5151515151515156,
    2.564102564102555, 0.0, 0.0, 0.0, 0.0,
    5.555555555555557, 0.0, 0.0, 4.081632653061206, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 3.5714285714285836, 0.0, 2.040816326530603,
    3.1746031746031633, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
]
LARGE_CONTROL = [
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 1.5625000000000142, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 1.3888888888888857,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 1.5384615384615614, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 1.492537313432834, 0.0,
    0.0, 0.0, 1.6949152542373014, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 1.470588235294116, 0.0, 0.0, 0.0,
    0.0, 1.754385964912288, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 1.8518518518518619, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    1.6393442622950687, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 1.7241379310344769, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 1.5873015873015817, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 1.492537313432834, 0.0, 0.0,
    0.0, 3.124999999999986, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 1.492537313432834, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 2.9850746268656536, 0.0, 2.5000000000000284,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 1.7857142857142776, 0.0, 0.0, 0.0,
]
# ClassifierSuite: 30 draws around 10 (canary and baseline of "Pass Metric"), around 20
NORMAL_10 = [
    9.776734312010946, 10.587071850477695, 7.837550638890177, 9.324332688611388,
    8.377450540978442, 8.935926439960628, 8.270766332472851, 9.748430812671693,
    11.623746715547156, 9.275344267963394, 8.153804774917152, 10.562020975754294,
    13.498135575451835, 11.054419256110332, 6.953890359005509, 12.52100834219548,
    9.021635860354644, 4.923485669953166, 11.251360203607172, 11.598449508040337,
    8.435232204668182, 11.110228516867279, 10.70063380164755, 8.921277365211525,
    10.086167067942661, 11.42107515483087, 9.379234781364495, 7.798032014855259,
    10.62339807275746, 11.909642062063739,
]
NORMAL_10B = [
    11.1453586774086, 9.961805988559702, 7.068574306369829, 7.301266181048366,
    9.794463026565673, 9.60379186036873, 6.186779335033939, 12.345599159550174,
    10.371891733859533, 8.609430078501672, 9.913162673361084, 10.361375299003466,
    14.206800387518818, 10.9461537547533, 10.215876627044048, 11.739760899484603,
    10.907627468626439, 12.823353694464775, 8.101860977173214, 8.498161640880493,
    12.113441374697231, 13.272210809932028, 10.114579381663297, 6.946395876797807,
    6.210527854172778, 10.160401684903775, 8.345771206645546, 8.383822063895833,
    7.0020205070083765, 10.755757401808442,
]
NORMAL_20 = [
    20.878412601720026, 21.78550581191622, 19.70828084717019, 15.859946903461562,
    19.510058772176841, 19.392005525270303, 22.926528314912101, 17.156530276709894,
    18.655117916226171, 23.422607911610392, 24.055817684156644, 22.62689958516501,
    21.979472967817678, 21.659318607218694, 20.067707574072426, 22.119570836305414,
    16.44037132663307, 21.559622826341268, 21.000181443489218, 17.779369411412663,
    17.806006358943584, 18.537200618386109, 20.555550300210797, 19.552928184468378,
    21.771118944087092, 21.809622806176627, 20.961762909905271, 20.977571577503021,
    19.106303205498794, 16.976918966987078,
]
NORMAL_20B = [
    20.758113589510348, 22.802059629464559, 20.612340363492208, 20.973274654749986,
    23.469237330498622, 21.53133988954805, 21.767353687439805, 18.308050730374301,
    19.062145167827566, 25.879498436001779, 18.982629726336128, 19.387920182269266,
    18.995398251246982, 24.228420230932805, 20.050985172694688, 18.2340451091756,
    17.870515494460435, 23.058103863806618, 18.400259567501134, 16.971352091177167,
    19.467529066052151, 17.90465423342031, 17.553948617825831, 16.104611843907193,
    24.38171081433039, 15.919294339922635, 20.479409626304697, 19.08307201492406,
    17.455788050722866, 18.853826823235142,
]
# fmt: on
SMALL_BASELINE = [1.0, 2.2, 1.1, 2.5, 3.0]
SMALL_HIGH = [20.0, 22.0, 21.0, 25.0, 30.0]


def classify(kay: ModuleType, control: Any, experiment: Any, direction: str, **kw: Any) -> Any:
    """ClassifierSuite's ``MannWhitneyClassifier(tolerance = 0.10, confLevel = 0.95)`` on the
    samples as given (the suite runs the classifier without the judge's transforms)."""
    kw = {"tolerance": 0.10, "confidence": 0.95, "outliers": "keep", **kw}
    return kay.classify_metric(control, experiment, direction=direction, **kw)


# -- ClassifierSuite ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("control", "experiment", "direction", "expected"),
    [
        pytest.param(NORMAL_10B, NORMAL_10, "either", "Pass", id="pass"),
        pytest.param(NORMAL_10B, NORMAL_20, "either", "High", id="high"),
        pytest.param(NORMAL_20B, NORMAL_10, "either", "Low", id="low"),
        pytest.param(NORMAL_20B, NORMAL_10, "increase", "Pass", id="directional-increase"),
        pytest.param(NORMAL_10B, NORMAL_20, "decrease", "Pass", id="directional-decrease"),
        pytest.param(NORMAL_10B, NORMAL_20, "increase", "High", id="directional-high"),
        pytest.param(NORMAL_20B, NORMAL_10, "decrease", "Low", id="directional-low"),
        pytest.param(LARGE_CONTROL, LARGE_EXPERIMENT, "either", "High", id="high-large-input"),
        pytest.param([1.0, 1.0], [1.0, 1.0, 1.0], "decrease", "Pass", id="tied-observations"),
        pytest.param([5.0, 4, 3, 2, 1], [1.0, 2, 3, 4, 5], "decrease", "Pass", id="identical"),
        pytest.param([1.0] * 5, [0.0, 1, 1, 1, 1], "decrease", "Pass", id="leading-zero"),
        pytest.param([1.0] * 5, [1.0, 1, 1, 1, 10], "either", "Pass", id="majority-tied"),
        pytest.param([1.0] * 5, [10.0] * 5, "either", "High", id="tied-ranks"),
        pytest.param([0.0] * 5, [10.0] * 5, "either", "High", id="tied-ranks-with-zeros"),
    ],
)
def test_the_mann_whitney_classifier_labels_kayentas_cases(
    kay: ModuleType, control: Any, experiment: Any, direction: str, expected: str
) -> None:
    result = classify(kay, control, experiment, direction)
    assert result.classification == expected
    assert not result.critical


@pytest.mark.parametrize(
    ("control", "experiment", "direction", "effect_size", "expected"),
    [
        pytest.param(SMALL_BASELINE, SMALL_HIGH, "either", (0.8, 1.2), "High", id="high"),
        pytest.param(NORMAL_20B, NORMAL_10, "decrease", (0.8, 1.2), "Low", id="low"),
        pytest.param(
            SMALL_HIGH, [10.0, 12.2, 10.1, 12.5, 23.0], "either", (0.5, 1.0), "Pass", id="pass"
        ),
        pytest.param(LARGE_CONTROL, LARGE_EXPERIMENT, "either", (1.0, 5.0), "Pass", id="large"),
    ],
)
def test_the_mean_ratio_must_pass_the_effect_size_too(
    kay: ModuleType,
    control: Any,
    experiment: Any,
    direction: str,
    effect_size: tuple[float, float],
    expected: str,
) -> None:
    result = classify(kay, control, experiment, direction, effect_size=effect_size)
    assert result.classification == expected


@pytest.mark.parametrize(
    ("control", "experiment", "sizes", "expected", "critical"),
    [
        pytest.param(
            SMALL_BASELINE, SMALL_HIGH, {"critical_effect_size": (1.0, 1.2)}, "High", True,
            id="critical-high",
        ),
        pytest.param(
            [10.0, 20.2, 10.1, 20.5, 30.0], [2.0, 2, 2, 2, 3],
            {"critical_effect_size": (1.2, 1.0)}, "Low", True, id="critical-low",
        ),
        pytest.param(
            SMALL_BASELINE, SMALL_HIGH,
            {"effect_size": (1.0, 5.0), "critical_effect_size": (1.0, 13.0)}, "High", False,
            id="high-below-the-critical-size",
        ),
        pytest.param(
            SMALL_BASELINE, SMALL_HIGH,
            {"effect_size": (1.0, 13.0), "critical_effect_size": (1.0, 15.0)}, "Pass", False,
            id="pass",
        ),
        pytest.param(SMALL_BASELINE, SMALL_HIGH, {}, "High", True, id="default-thresholds"),
    ],
)  # fmt: skip
def test_a_critical_metric_is_critical_past_the_critical_effect_size(
    kay: ModuleType,
    control: Any,
    experiment: Any,
    sizes: dict[str, Any],
    expected: str,
    critical: bool,
) -> None:
    result = classify(kay, control, experiment, "either", critical=True, **sizes)
    assert (result.classification, result.critical) == (expected, critical)


def test_missing_data_is_nodata_or_a_pass_when_nans_are_replaced(kay: ModuleType) -> None:
    base = [1.0, 2.0, 3.0, 4.0, 5.0]
    nodata = classify(kay, base, [], "decrease")
    assert (nodata.classification, nodata.critical) == ("Nodata", False)
    critical = classify(kay, base, [], "decrease", critical=True)
    assert (critical.classification, critical.critical) == ("Nodata", True)
    assert classify(kay, base, [], "decrease", nan_strategy="replace").classification == "Pass"
    assert classify(kay, [], [], "decrease", critical=True).reason  # "Missing data for ..."
    # MannWhitneyClassifier.scala: required data, not critical, fails the metric instead
    required = classify(kay, base, [], "decrease", must_have_data=True)
    assert (required.classification, required.critical) == ("NodataFailMetric", False)
    assert classify(kay, base, [], "decrease", must_have_data=True, critical=True).critical


# -- MannWhitneySuite (expected values from R's wilcox.test) --------------------------

E = 1e-6


def test_the_interval_and_estimate_of_a_clear_shift(kay: ModuleType) -> None:
    shift = kay.shift_interval([10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0], 0.95)
    assert shift.lower == pytest.approx(6.0, abs=E)
    assert shift.upper == pytest.approx(39.0, abs=E)
    assert shift.estimate == pytest.approx(22.5, abs=E)


@pytest.mark.parametrize(
    ("experiment", "control", "confidence", "lower", "upper", "estimate"),
    [
        pytest.param(
            R90_EXPERIMENT, R90_CONTROL, 0.95, -0.500002521696696, -3.486287505871302e-5,
            -0.4999393907180323, id="90-points",
        ),
        pytest.param(
            R180_EXPERIMENT, R180_CONTROL, 0.98, -0.4999173250549087, -6.912685789769486e-6,
            -3.45044082729315e-5, id="180-points",
        ),
    ],
)  # fmt: skip
def test_the_interval_ties_out_with_r(
    kay: ModuleType,
    experiment: list[float],
    control: list[float],
    confidence: float,
    lower: float,
    upper: float,
    estimate: float,
) -> None:
    shift = kay.shift_interval(experiment, control, confidence)
    assert shift.lower == pytest.approx(lower, abs=E)
    assert shift.upper == pytest.approx(upper, abs=E)
    assert shift.estimate == pytest.approx(estimate, abs=1e-4)  # Kayenta's tolerance


def test_the_intermediate_values_tie_out_with_r(kay: ModuleType) -> None:
    x, y = np.array(LARGE_EXPERIMENT), np.array(LARGE_CONTROL)
    mu_min, mu_max = x.min() - y.max(), x.max() - y.min()
    assert (mu_min, mu_max) == pytest.approx((-3.124999999999986, 5.555555555555557), abs=E)
    zq = -norm.ppf(0.025)
    assert zq == pytest.approx(1.9599639845400536, abs=E)
    values = [kay.wilcoxon_diff(mu, z, x, y) for z in (zq, -zq) for mu in (mu_min, mu_max)]
    r = [17.090968923762254, -20.997687930433106, 21.01089689284236, -17.077759961353]
    assert values == pytest.approx(r, abs=E)
    shift = kay.shift_interval(x, y, 0.95)
    assert shift.lower == pytest.approx(3.521755377702165e-5, abs=E)
    assert shift.upper == pytest.approx(2.02456461662334e-5, abs=E)
    assert shift.estimate == pytest.approx(2.6279243045155653e-5, abs=E)


def test_all_observations_tied_is_an_error(kay: ModuleType) -> None:
    with pytest.raises(kay.TiedError):
        kay.wilcoxon_diff(0.0, 0.0, np.array([2.0, 2.0]), np.array([2.0]))


# -- the estimate and interval against an independent computation ---------------------


def samples() -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    rng = np.random.default_rng(7)
    return [
        (np.array(NORMAL_10), np.array(NORMAL_10B)),
        (np.array(NORMAL_20), np.array(NORMAL_10B)),
        (rng.normal(10, 2, 25), rng.normal(11, 3, 40)),
        (rng.lognormal(0, 1, 7), rng.lognormal(0.5, 1, 9)),
    ]


@pytest.mark.parametrize("case", range(4))
def test_the_estimate_is_the_median_of_the_pairwise_differences(kay: ModuleType, case: int) -> None:
    """R's asymptotic estimate is the root at which half the pairwise differences lie on
    each side, so it is within one order statistic of the Hodges-Lehmann median."""
    x, y = samples()[case]
    shift = kay.shift_interval(x, y, 0.98)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    assert abs(np.searchsorted(diffs, shift.estimate) - diffs.size / 2) <= 1
    middle = diffs[(diffs.size - 1) // 2 - 1 : diffs.size // 2 + 2]
    assert middle[0] - 1e-4 <= shift.estimate <= middle[-1] + 1e-4
    assert shift.estimate == pytest.approx(np.median(diffs), abs=np.ptp(middle) + 1e-4)


@pytest.mark.parametrize("case", range(4))
@pytest.mark.parametrize("confidence", [0.95, 0.98])
def test_the_interval_is_the_shifts_scipy_does_not_reject(
    kay: ModuleType, case: int, confidence: float
) -> None:
    """scipy's two-sided asymptotic Mann-Whitney test, tie and continuity corrected, keeps
    the shifts just inside the interval and rejects those just outside at 1 - confidence."""
    x, y = samples()[case]
    shift = kay.shift_interval(x, y, confidence)
    alpha = 1 - confidence

    def p(mu: float) -> float:
        test = mannwhitneyu(x - mu, y, method="asymptotic", use_continuity=True)
        return float(test.pvalue)

    delta = 1e-3
    assert p(shift.lower - delta) < alpha < p(shift.lower + delta)
    assert p(shift.upper + delta) < alpha < p(shift.upper - delta)


# -- DetectorSuite and the judge's transforms ----------------------------------------


@pytest.mark.parametrize(
    ("data", "factor", "reduce", "truth"),
    [
        pytest.param(
            [21.0, 23, 24, 25, 50, 29, 23, 21], 1.5, False, [4], id="iqr",
        ),
        pytest.param(
            [1.0, 1, 1, 5, -1, -1, -1, -5], 1.5, False, [3, 7], id="two-sided",
        ),
        pytest.param(
            [1.0] * 5 + [20.0] + [1.0] * 5, 3.0, True, [], id="reduce-sensitivity",
        ),
        pytest.param([], 1.5, False, [], id="empty"),
    ],
)  # fmt: skip
def test_the_iqr_detector_finds_kayentas_outliers(
    kay: ModuleType, data: list[float], factor: float, reduce: bool, truth: list[int]
) -> None:
    flags = kay.iqr_outliers(data, factor, reduce)
    assert np.flatnonzero(flags).tolist() == truth


def test_the_judge_removes_outliers_only_past_the_1st_and_99th_percentiles(
    kay: ModuleType,
) -> None:
    rng = np.random.default_rng(0)
    short = np.append(rng.normal(10, 1, 60), 1000.0)  # under 99 points: the max is the fence
    assert kay.transform(short).size == short.size
    long = np.append(rng.normal(10, 1, 300), 1000.0)
    assert kay.transform(long).max() < 1000.0
    assert kay.transform(long, outliers="keep").size == long.size


def test_nans_are_removed_or_replaced_by_zero(kay: ModuleType) -> None:
    values = [1.0, np.nan, 3.0]
    assert kay.transform(values).tolist() == [1.0, 3.0]
    assert kay.transform(values, "replace").tolist() == [1.0, 0.0, 3.0]
    gone = kay.classify_metric([1.0, 2.0, 3.0], [np.nan, np.nan])
    assert gone.classification == "Nodata"
    assert gone.experiment.count == 0


def test_a_metric_result_carries_the_test_and_the_summaries(kay: ModuleType) -> None:
    result = kay.classify_metric(NORMAL_10B, NORMAL_20, name="latency", group="http")
    assert (result.name, result.group, result.classification) == ("latency", "http", "High")
    assert result.reason == "latency was classified as High"
    assert result.lower is not None
    assert result.upper is not None
    assert result.lower < result.estimate < result.upper
    assert result.ratio == pytest.approx(np.mean(NORMAL_20) / np.mean(NORMAL_10B))
    assert result.control.count == 30
    assert result.experiment.std == pytest.approx(np.std(NORMAL_20, ddof=1))


def test_the_tolerance_is_a_share_of_the_estimate(kay: ModuleType) -> None:
    """High needs the interval's lower end above tolerance x |estimate|: a wide enough
    tolerance passes a clear shift."""
    assert classify(kay, NORMAL_10B, NORMAL_20, "either").classification == "High"
    wide = classify(kay, NORMAL_10B, NORMAL_20, "either", tolerance=0.9)
    assert wide.lower is not None
    assert wide.estimate is not None
    assert wide.lower < 0.9 * abs(wide.estimate)
    assert wide.classification == "Pass"


def test_unknown_settings_are_refused(kay: ModuleType) -> None:
    with pytest.raises(ValueError, match="direction"):
        kay.classify_metric([1.0], [2.0], direction="up")
    with pytest.raises(ValueError, match="nan_strategy"):
        kay.classify_metric([1.0], [2.0], nan_strategy="drop")


# -- ScorerSuite and the judge -------------------------------------------------------


def labelled(kay: ModuleType, label: str, group: str, critical: bool = False) -> Any:
    empty = kay.Stats.of(np.zeros(0))
    return kay.MetricResult(label, None, critical, 1.0, f"m-{label}", group, empty, empty)


@pytest.mark.parametrize(
    ("labels", "weights", "expected"),
    [
        pytest.param([("Pass", "g")], {}, 100.0, id="single-pass"),
        pytest.param([("High", "g")], {}, 0.0, id="single-fail"),
        pytest.param([("Pass", "g"), ("High", "g")], {}, 50.0, id="one-group-two-metrics"),
        pytest.param(
            [("Pass", "g"), ("High", "g"), ("Low", "g")], {}, 33.33, id="one-group-three-metrics"
        ),
        pytest.param(
            [("Pass", "group-1"), ("Pass", "group-1"), ("High", "group-2")],
            {"group-1": 75.0, "group-2": 25.0}, 75.0, id="two-groups",
        ),
        pytest.param(
            [("Pass", "group-1"), ("High", "group-1"), ("High", "group-2")],
            {"group-1": 50.0, "group-2": 50.0}, 25.0, id="two-groups-equal-weight",
        ),
        pytest.param([("Nodata", "g")], {}, 0.0, id="no-data"),
    ],
)  # fmt: skip
def test_the_weighted_sum_scorer_scores_kayentas_cases(
    kay: ModuleType, labels: list[tuple[str, str]], weights: dict[str, float], expected: float
) -> None:
    results = [labelled(kay, label, group) for label, group in labels]
    score, _, _ = kay.weighted_score(results, weights)
    assert score == pytest.approx(expected, abs=1e-2)


def test_groups_without_a_weight_share_what_is_left(kay: ModuleType) -> None:
    results = [
        labelled(kay, "Pass", "a"),
        labelled(kay, "High", "b"),
        labelled(kay, "Pass", "c"),
        labelled(kay, "Nodata", "d"),  # no scored label: the group counts 100
    ]
    score, reason, groups = kay.weighted_score(results, {"a": 40.0})
    assert score == pytest.approx(40 + 20 * 0 + 20 * 1 + 20 * 1)
    assert reason is None
    assert [g.no_data for g in groups] == [False, False, False, True]


def test_nodata_fail_metric_counts_as_a_failure_and_error_not_at_all(kay: ModuleType) -> None:
    results = [labelled(kay, "Pass", "g"), labelled(kay, "NodataFailMetric", "g")]
    assert kay.weighted_score(results)[0] == 50.0
    results = [labelled(kay, "Pass", "g"), labelled(kay, "Error", "g")]
    assert kay.weighted_score(results)[0] == 100.0


def test_a_critical_failure_or_half_nodata_zeroes_the_score(kay: ModuleType) -> None:
    passing = [labelled(kay, "Pass", "g") for _ in range(3)]
    score, reason, _ = kay.weighted_score([*passing, labelled(kay, "High", "g", critical=True)])
    assert score == 0.0
    assert reason is not None
    assert reason.startswith("Canary Failed")
    nodata = [labelled(kay, "Nodata", "g"), labelled(kay, "Nodata", "h")]
    assert kay.weighted_score([*passing[:2], *nodata])[0] == 0.0  # 50% Nodata
    assert kay.weighted_score([*passing, *nodata])[0] == 100.0  # 40%


def test_the_judge_summarises_pass_marginal_and_fail(kay: ModuleType) -> None:
    same = [5.0, 4.0, 3.0, 2.0, 1.0]

    def metrics(n_pass: int, n_high: int, critical: bool = False) -> list[Any]:
        ok = [kay.MetricInput(f"p{i}", "g", same, same[::-1]) for i in range(n_pass)]
        bad = [
            kay.MetricInput(f"h{i}", "g", SMALL_BASELINE, SMALL_HIGH, critical=critical)
            for i in range(n_high)
        ]
        return ok + bad

    assert kay.judge(metrics(19, 1)).summary == "Pass"  # 95
    assert kay.judge(metrics(3, 1)).summary == "Marginal"  # 75
    assert kay.judge(metrics(2, 1)).summary == "Fail"  # 66.67
    assert kay.judge(metrics(2, 1), marginal_threshold=60).summary == "Marginal"
    forced = kay.judge(metrics(19, 1, critical=True))
    assert (forced.score, forced.summary) == (0.0, "Fail")
    assert [m.classification for m in forced.metrics][-1] == "High"
    assert kay.judge(metrics(19, 1), group_weights={"g": 100.0}).score == 95.0


def test_the_judge_reads_each_metrics_direction(kay: ModuleType) -> None:
    up = kay.MetricInput("errors", "g", SMALL_BASELINE, SMALL_HIGH, direction="decrease")
    assert kay.judge([up]).summary == "Pass"
    assert kay.judge([up]).groups[0].counts == {"Pass": 1}


# -- Flagger ---------------------------------------------------------------------------


def test_flagger_fails_a_check_strictly_past_its_thresholds(flagger: ModuleType) -> None:
    assert flagger.check([99.0, 99.0], [500.0, 500.0]) == (True, [])
    ok, reasons = flagger.check([99.0, 98.9], [100.0])
    assert not ok
    assert reasons == ["success rate 98.95% < 99%"]
    slow = [100.0] * 90 + [5000.0] * 10  # the p99 of the interval's samples, not the mean
    ok, reasons = flagger.check([100.0], slow)
    assert not ok
    assert reasons == ["request duration p99 5000ms > 500ms"]
    assert flagger.check([100.0], [100.0] * 99 + [5000.0]) == (True, [])  # p99 149 ms
    assert flagger.check([95.0], [100.0], min_success=90.0) == (True, [])


def test_flagger_fails_a_check_without_values(flagger: ModuleType) -> None:
    ok, reasons = flagger.check([np.nan], [])
    assert not ok
    assert len(reasons) == 2
    assert flagger.check([100.0, np.nan], [10.0, np.nan]) == (True, [])


def test_flagger_rolls_back_at_the_run_after_the_threshold_th_failed_check(
    flagger: ModuleType,
) -> None:
    analysis = flagger.FlaggerAnalysis()  # threshold 5, the docs' example
    runs = [False, True, False, False, True, False, False, True]
    verdicts = [analysis.step(ok) for ok in runs]
    assert verdicts == ["progress"] * 7 + ["rollback"]  # passes do not reset the count
    assert analysis.failed_checks_ == 5
    assert analysis.step(True) == "rollback"  # final
    one = flagger.FlaggerAnalysis(threshold=1)
    assert [one.step(False), one.step(True)] == ["progress", "rollback"]
    never = flagger.FlaggerAnalysis(threshold=2)
    assert {never.step(True) for _ in range(50)} == {"progress"}
    with pytest.raises(ValueError, match="threshold"):
        flagger.FlaggerAnalysis(threshold=0)
