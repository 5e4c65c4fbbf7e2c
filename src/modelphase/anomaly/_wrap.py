"""Detectors that wrap another: its description as plain JSON, and a fresh copy."""

from __future__ import annotations

from typing import Any

from modelphase.anomaly.base import Detector

__all__ = ["describe", "fresh"]


def describe(detector: Detector | dict[str, Any] | None) -> dict[str, Any] | None:
    """A wrapped detector as plain JSON (``{"name", "params"}``) for ``get_params``."""
    if detector is None or isinstance(detector, dict):
        return detector
    return {"name": detector.name, "params": detector.get_params()}


def fresh(
    detector: Detector | dict[str, Any] | None,
    default: tuple[str, dict[str, Any]] = ("zscore", {"halflife": 1000.0}),
) -> Detector:
    """A fresh copy of a wrapped detector (``default``, by name and params, without one)."""
    from modelphase.anomaly.catalog import build_detector

    if detector is None:
        return build_detector(default[0], default[1])
    if isinstance(detector, dict):
        return build_detector(detector["name"], detector.get("params"))
    return type(detector)(**detector.get_params())
