"""Field types shared by the Sloth and OpenSLO readers: label values, PromQL templates,
durations, and the limits on what a file may hold."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from modelphase.decide.slo._promql import template_problem
from modelphase.exceptions import ValidationError
from modelphase.frame import parse_duration
from modelphase.limits import MAX_QUERY_CHARS

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_SLOS",
    "LabelValue",
    "Name",
    "Query",
    "Strict",
    "check_query",
    "duration_seconds",
]

#: the most SLOs one file may hold
MAX_SLOS = 500
#: the longest service, SLO or alert name
MAX_NAME_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SECOND_NS = 1_000_000_000


class Strict(BaseModel):
    # strict: a number is a number (not "5", not true), text is text, a flag is a flag
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


def _label_text(value: Any) -> Any:
    """A YAML scalar as the text Sloth reads into a label (``tier: 2`` is ``"2"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return value


def check_query(value: Any) -> Any:
    """A query Sloth could render: ``{{.window}}`` is its only template (ValueError)."""
    if isinstance(value, str):
        problem = template_problem(value)
        if problem:
            raise ValueError(
                f"expected PromQL whose only template is {{{{.window}}}}, got {problem}. "
                "Fix: write the query with [{{.window}}] where the range goes"
            )
        if not value.strip():
            raise ValueError("expected a PromQL query, got empty text. Fix: write the query")
    return value


def _name(value: Any) -> Any:
    if isinstance(value, str) and (not value.strip() or _CONTROL.search(value)):
        raise ValueError(f"expected a name without control characters, got {value!r}. Fix: name it")
    return value


LabelValue = Annotated[str, BeforeValidator(_label_text)]
Query = Annotated[str, BeforeValidator(check_query), Field(max_length=MAX_QUERY_CHARS)]
Name = Annotated[str, BeforeValidator(_name), Field(min_length=1, max_length=MAX_NAME_CHARS)]


def duration_seconds(text: str, *, zero: bool = False) -> int:
    """Whole seconds in a Prometheus duration (``5m``, ``1h30m``, ``30d``); raise
    ``ValueError`` with an expected/got/fix message otherwise."""
    if zero and text.strip() in ("0", "0s", "0m"):
        return 0
    try:
        ns = parse_duration(text)
    except ValidationError:
        ns = 0
    if ns <= 0 or ns % _SECOND_NS:
        raise ValueError(
            f"expected a duration such as 5m, 1h30m or 30d, got {text!r}. "
            "Fix: use the units s, m, h, d, w"
        )
    return ns // _SECOND_NS
