"""Series identities: the canonical Prometheus ``unique_id`` and its labels."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

from modelphase.exceptions import ValidationError

__all__ = ["Labels", "label_table", "parse_series_id", "series_id"]

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n"}
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n"}

Labels = dict[str, str]


def series_id(labels: Mapping[str, str]) -> str:
    """The canonical ``unique_id`` of a series from its labels (``__name__`` included).

    Labels with an empty value are absent in Prometheus and are left out. Names that are
    not legacy Prometheus names are quoted the way Prometheus 3 writes UTF-8 names.

    >>> series_id({"job": "api"})
    '{job="api"}'
    >>> series_id({"__name__": "up"})
    'up'
    >>> series_id({"__name__": "node.cpu", "path": 'C:\\\\ "x"'})
    '{"node.cpu",path="C:\\\\\\\\ \\\\"x\\\\""}'
    """
    name = labels.get("__name__", "")
    parts = [
        f"{_label_name(k)}={_quote(v)}"
        for k, v in sorted(labels.items())
        if k != "__name__" and v != ""
    ]
    if name and not _NAME_RE.match(name):
        return "{" + ",".join([_quote(name), *parts]) + "}"
    if name and not parts:
        return name
    return name + "{" + ",".join(parts) + "}"


def parse_series_id(uid: str) -> Labels:
    """The labels (``__name__`` included when present) of a canonical ``unique_id``.

    Raises :class:`ValidationError` when ``uid`` is not in the canonical form.
    """
    if _NAME_RE.match(uid):
        return {"__name__": uid}
    brace = uid.find("{")
    if brace < 0 or not uid.endswith("}"):
        raise _bad_id(uid, 'a metric name, optionally followed by {label="value",...}')
    labels: Labels = {}
    name = uid[:brace]
    if name:
        if not _NAME_RE.match(name):
            raise _bad_id(uid, "a metric name of [a-zA-Z_:][a-zA-Z0-9_:]*")
        labels["__name__"] = name
    body, i, first = uid[brace + 1 : -1], 0, True
    while i < len(body):
        if body[i] == '"':  # a quoted metric name or a quoted label name
            text, i = _read_quoted(body, i, uid)
            if i < len(body) and body[i] == "=":
                key = text
            elif first and not name:
                labels["__name__"] = text
                i, first = _skip_comma(body, i, uid), False
                continue
            else:
                raise _bad_id(uid, "a quoted name followed by =")
        else:
            eq = body.find("=", i)
            if eq < 0 or not _LABEL_RE.match(body[i:eq]):
                raise _bad_id(uid, 'label="value" pairs')
            key, i = body[i:eq], eq
        value, i = _read_quoted(body, i + 1, uid)
        labels[key] = value
        i, first = _skip_comma(body, i, uid), False
    if series_id(labels) != uid:
        raise _bad_id(uid, "labels sorted by name, without empty values or duplicates")
    return labels


def label_table(ids: Sequence[str]) -> pd.DataFrame:
    """The label side table: one row per (``unique_id``, label), ``__name__`` included.

    Ids that are not Prometheus identities (free-form names from a CSV file) are taken as
    a metric name when they are valid as one, and otherwise have no labels.
    """
    rows: list[tuple[str, str, str]] = []
    for uid in ids:
        try:
            labels = parse_series_id(uid)
        except ValidationError:
            labels = {}
        rows.extend((uid, k, v) for k, v in labels.items())
    return pd.DataFrame(rows, columns=["unique_id", "label", "value"]).astype(str)


def _label_name(key: str) -> str:
    return key if _LABEL_RE.match(key) else _quote(key)


def _quote(value: str) -> str:
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def _read_quoted(body: str, i: int, uid: str) -> tuple[str, int]:
    if i >= len(body) or body[i] != '"':
        raise _bad_id(uid, 'a double-quoted label value after "="')
    out: list[str] = []
    i += 1
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _UNESCAPES:
                raise _bad_id(uid, 'escapes \\\\, \\" or \\n only')
            out.append(_UNESCAPES[nxt])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise _bad_id(uid, "a closing double quote")


def _skip_comma(body: str, i: int, uid: str) -> int:
    if i == len(body):
        return i
    if body[i] != "," or i + 1 == len(body):
        raise _bad_id(uid, "label pairs separated by single commas")
    return i + 1


def _bad_id(uid: str, expected: str) -> ValidationError:
    return ValidationError(
        f"not a canonical series id: expected {expected}, got {uid!r}",
        unique_ids=[uid],
        hint="build ids with modelphase.frame.series_id(labels)",
    )
