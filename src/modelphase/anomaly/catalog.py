"""The detectors a spec or ``modelphase detect --detector NAME`` can name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelphase.anomaly.base import Detector
from modelphase.anomaly.calibrated import Calibrated
from modelphase.anomaly.context import ContextualNovelty
from modelphase.anomaly.flagship import Modelphase
from modelphase.anomaly.knn import NearestNeighbor
from modelphase.anomaly.likelihood import Likelihood
from modelphase.anomaly.maxof import MaxOf
from modelphase.anomaly.seasonal import SeasonalProfile
from modelphase.anomaly.sumof import SumOf
from modelphase.anomaly.sustained import Sustained
from modelphase.anomaly.zscore import ZScore
from modelphase.exceptions import SpecError

__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "build_detector"]

#: name -> detector class
DETECTORS: dict[str, type[Detector]] = {
    cls.name: cls
    for cls in (
        Modelphase,
        Calibrated,
        ContextualNovelty,
        Likelihood,
        MaxOf,
        NearestNeighbor,
        SeasonalProfile,
        SumOf,
        Sustained,
        ZScore,
    )
}
#: the detector used when none is named
DEFAULT_DETECTOR = Modelphase.name


def build_detector(name: str | None = None, params: Mapping[str, Any] | None = None) -> Detector:
    """A fresh detector by name (the default one without a name), with ``params``."""
    name = name or DEFAULT_DETECTOR
    if name not in DETECTORS:
        raise SpecError(
            f"unknown detector {name!r}; expected one of {', '.join(sorted(DETECTORS))}",
            errors=[f"unknown detector {name!r}"],
        )
    try:
        return DETECTORS[name](**dict(params or {}))
    except TypeError as exc:
        raise SpecError(
            f"{name}: bad parameters {sorted(params or {})} ({exc})",
            errors=[f"{name}: bad parameters"],
        ) from exc
