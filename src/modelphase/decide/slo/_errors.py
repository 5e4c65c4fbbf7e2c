"""Problems with an SLO or windows file, and the one-line error that lists them.

Every problem names its field path, what was expected and what came; the error's
message ends with the fixes, e.g. ``slo.yaml: slos.0.objective: expected a percentage
strictly between 0 and 100, got 120. Fix: write the objective as a percentage (99.9)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic

from modelphase.exceptions import SloSpecError

__all__ = [
    "Problem",
    "check_labels",
    "from_pydantic",
    "raise_problems",
    "shown",
    "strip_unknown",
]

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
#: what strict validation wanted, by pydantic's error type
_TYPES = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "a mapping (key: value lines)",
    "list_type": "a list",
    "model_type": "a mapping (key: value lines)",
    "finite_number": "a finite number",
}

#: what a bound wanted, by pydantic's error type (its context fills the braces)
_BOUNDS = {
    "too_short": "at least {min_length} item(s)",
    "too_long": "at most {max_length} item(s)",
    "string_too_short": "text of at least {min_length} character(s)",
    "string_too_long": "text of at most {max_length} characters",
    "greater_than": "a number above {gt}",
    "greater_than_equal": "a number of at least {ge}",
    "less_than": "a number below {lt}",
    "less_than_equal": "a number of at most {le}",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file: where, what was expected, what came, how to fix it."""

    path: str
    expected: str
    got: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.path}: expected {self.expected}, got {self.got}"


def shown(value: Any) -> str:
    """A value as a message shows it: short text quoted, containers by their kind."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        text = value if len(value) <= 80 else value[:77] + "..."
        return repr(text)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def raise_problems(source: str, problems: Sequence[Problem], *, hints: Sequence[str] = ()) -> None:
    """Raise one :class:`SloSpecError` listing ``problems`` (nothing when empty); the
    ``hints`` that name unknown fields are added, since a misspelt field is often why
    a required one is missing."""
    if not problems:
        return
    fixes = list(dict.fromkeys(p.fix for p in problems if p.fix))
    unknown = [h.split(":")[0] for h in hints if "unknown field" in h]
    if unknown:
        fixes.append(f"check the spelling of the unknown field(s) {', '.join(unknown)}")
    fix = f". Fix: {'; '.join(fixes)}" if fixes else ""
    head = f"{source}: " if source else ""
    if len(problems) == 1:
        message = f"{head}{problems[0]}{fix}"
    else:
        listed = "; ".join(str(p) for p in problems)
        message = f"{head}{len(problems)} problems: {listed}{fix}"
    raise SloSpecError(message, errors=[str(p) for p in problems], source=source)


def from_pydantic(exc: pydantic.ValidationError, prefix: str = "") -> list[Problem]:
    """pydantic's errors as problems with dotted field paths."""
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        path = ".".join(([prefix] if prefix else []) + loc) or "(top level)"
        kind = str(err.get("type", ""))
        got = err.get("input")
        if kind == "missing":
            problems.append(Problem(path, "a value (it is required)", "nothing", f"add {path}"))
        elif kind == "extra_forbidden":  # unknown fields are notes, not errors (see _known)
            problems.append(Problem(path, "a known field", "an unknown one", "check its spelling"))
        elif kind in _TYPES:
            expected = _TYPES[kind]
            fix = f"write {path} as {expected}"
            if kind == "string_type" and isinstance(got, int | float) and not isinstance(got, bool):
                fix = f"quote {path}"
            problems.append(Problem(path, expected, shown(got), fix))
        elif kind in _BOUNDS:
            ctx = {
                k: f"{v:g}" if isinstance(v, float) else v
                for k, v in (err.get("ctx") or {}).items()
            }
            expected = _BOUNDS[kind].format(**ctx)
            size = len(got) if isinstance(got, list | str | Mapping) else None
            came = (
                f"{size}"
                if (size is not None and "length" in kind) or kind.startswith("too")
                else shown(got)
            )
            problems.append(Problem(path, expected, came, f"correct {path}"))
        else:
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            expected, _, rest = message.removeprefix("expected ").partition(", got ")
            came, _, fix = rest.partition(". Fix: ")
            problems.append(Problem(path, expected, came or shown(got), fix or f"correct {path}"))
    return problems


def check_labels(
    labels: Mapping[str, str], path: str, *, annotations: bool = False
) -> Iterable[Problem]:
    """Label (or annotation) names Prometheus accepts; label values that are not empty."""
    for key, value in labels.items():
        if not _LABEL_NAME.match(key) or (key == "__name__" and not annotations):
            yield Problem(
                f"{path}.{key}",
                "a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                repr(key),
                "use letters, digits and _ in label and annotation names",
            )
        elif value == "" and not annotations:
            yield Problem(f"{path}.{key}", "a label value", "an empty one", "give it a value")


def strip_unknown(data: Any, model: type[pydantic.BaseModel], path: str, notes: list[str]) -> Any:
    """``data`` without the keys ``model`` (and the models nested in it) does not know,
    each one noted: Sloth and OpenSLO readers ignore unknown fields, so a file written
    for a newer version still reads, and a misspelt field is pointed out."""
    if not isinstance(data, Mapping):
        return data
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        keys = {name, info.alias}
        alias = info.validation_alias
        if isinstance(alias, str):
            keys.add(alias)
        elif isinstance(alias, pydantic.AliasChoices):
            keys.update(c for c in alias.choices if isinstance(c, str))
        for key in keys - {None}:
            fields[str(key)] = info.annotation
    kept = {}
    for key, value in data.items():
        where = f"{path}{key}"
        if not isinstance(key, str) or key not in fields:
            notes.append(f"{where}: unknown field, ignored; check its spelling")
            continue
        kept[key] = _walk(value, fields[key], where, notes)
    return kept


def _walk(value: Any, annotation: Any, path: str, notes: list[str]) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return strip_unknown(value, annotation, path + ".", notes)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _walk(value, args[0], path, notes)
    if origin in (Union, UnionType):
        for arg in args:
            model = isinstance(arg, type) and issubclass(arg, pydantic.BaseModel)
            if (model and isinstance(value, Mapping)) or (
                get_origin(arg) is list and isinstance(value, list)
            ):
                return _walk(value, arg, path, notes)
        return value
    if origin is list and isinstance(value, list):
        return [_walk(v, args[0], f"{path}.{i}", notes) for i, v in enumerate(value)]
    return value
