"""The alert templates a test can predict: Prometheus expands annotations (and label
values) with Go's text/template; a generated test must know the text exactly.

Supported: ``{{$labels.name}}``, ``{{ index $labels "name" }}``, ``{{$value}}`` and
``{{ $value | humanizePercentage }}`` (spaces inside the braces as you like); anything
else makes :func:`expand` return None, and that SLO's tests are left out.

>>> expand("{{$labels.slo}} at {{ $value | humanizePercentage }}", {"slo": "api"}, 0.0125)
'api at 1.25%'
>>> expand("{{ $value | humanize }}", {}, 1.0) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from modelphase.decide.slo._promql import go_g

__all__ = ["expand"]

_ACTION = re.compile(
    r"\{\{\s*(?:\$labels\.(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)"
    r"|index\s+\$labels\s+\"(?P<indexed>[^\"\\]*)\""
    r"|\$value(?:\s*\|\s*(?P<pipe>humanizePercentage))?)\s*\}\}"
)


def _percent(value: float) -> str:
    """Prometheus' ``humanizePercentage``: ``%.4g%%`` of the value x 100."""
    return f"{value * 100:.4g}%"


def expand(text: str, labels: Mapping[str, str], value: float) -> str | None:
    """``text`` with its template actions filled in, or None when it has one this
    module does not know (missing labels are empty, as for Prometheus' label map)."""

    def fill(found: re.Match[str]) -> str:
        name = found["label"] or found["indexed"]
        if name is not None:
            return labels.get(name, "")
        return _percent(value) if found["pipe"] else go_g(value)

    out = _ACTION.sub(fill, text)
    leftover = _ACTION.sub("", text)
    return None if "{{" in leftover else out
