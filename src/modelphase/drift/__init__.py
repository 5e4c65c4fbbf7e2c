"""Drift: two-sample comparisons of a reference and a current sample
(:mod:`modelphase.drift.compare`)."""

from modelphase.drift.compare import (
    ALPHA,
    MIN_EFFECT,
    ColumnDrift,
    compare,
    compare_columns,
    effect_size,
    js_distance,
    psi,
)

__all__ = [
    "ALPHA",
    "MIN_EFFECT",
    "ColumnDrift",
    "compare",
    "compare_columns",
    "effect_size",
    "js_distance",
    "psi",
]
