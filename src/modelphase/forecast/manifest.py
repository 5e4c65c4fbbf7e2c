"""Untrusted JSON: read within size and depth limits, and a manifest's objects read
key by key, each problem refused with an error that names where it is.

:func:`read_json` checks the size, then the nesting depth (scanning brackets outside
strings, so that a deep document is refused before the parser recurses into it), then
parses strictly: UTF-8, no duplicate keys, no ``NaN`` or ``Infinity``.

>>> read_json(b'{"a": [1, 2]}', what="params", max_bytes=100)
{'a': [1, 2]}
>>> read_json(b"[" * 50 + b"]" * 50, what="params", max_bytes=100)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
modelphase.exceptions.ArtifactFormatError: params: expected JSON nested at most 32 deep, got 50...
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from modelphase.exceptions import ArtifactFormatError

__all__ = [
    "ARTIFACT_FORMAT",
    "FORECASTER_KIND",
    "MAX_JSON_DEPTH",
    "RETRAIN",
    "Fields",
    "bad",
    "depth",
    "read_json",
    "shown",
    "size",
    "why",
]

ARTIFACT_FORMAT = 2
#: what :func:`~modelphase.forecast.artifact_kind` calls a forecaster artifact
FORECASTER_KIND = f"modelphase forecaster, data-only format {ARTIFACT_FORMAT}"
MAX_JSON_DEPTH = 32
RETRAIN = "retrain with this version (`modelphase train SPEC`)"

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def read_json(
    raw: bytes, *, what: str, max_bytes: int, max_depth: int = MAX_JSON_DEPTH, hint: str = ""
) -> Any:
    """JSON from untrusted bytes: at most ``max_bytes`` and ``max_depth`` levels of
    nesting (checked before parsing), UTF-8, no duplicate keys, no NaN or Infinity."""
    if len(raw) > max_bytes:
        raise ArtifactFormatError(
            f"{what}: expected at most {size(max_bytes)} of JSON, got {size(len(raw))}",
            hint=hint,
        )
    levels = depth(raw)
    if levels > max_depth:
        raise ArtifactFormatError(
            f"{what}: expected JSON nested at most {max_depth} deep, got {levels} levels",
            hint=hint,
        )
    try:
        return json.loads(
            raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ArtifactFormatError(f"{what}: expected JSON, got {why(exc)}", hint=hint) from None


def depth(raw: bytes) -> int:
    """The deepest nesting of brackets outside strings (a malformed string counts)."""
    codes = np.frombuffer(_STRING.sub(b"", raw), dtype=np.uint8)
    step = np.zeros(len(codes), dtype=np.int8)
    step[(codes == 0x5B) | (codes == 0x7B)] = 1
    step[(codes == 0x5D) | (codes == 0x7D)] = -1
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {shown(key)}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class Fields:
    """One object of a manifest, read key by key with a clear error for each problem."""

    def __init__(self, node: Any, where: str) -> None:
        if not isinstance(node, dict):
            raise bad(f"{where}: expected an object, got {_json_type(node)}")
        self.node: dict[str, Any] = node
        self.where = where

    def get(self, key: str, kind: str) -> Any:
        """``kind``: int, number, str, str?, list, object or any."""
        if key not in self.node:
            raise bad(f"{self.where}: expected a key {key!r}, it is missing")
        value = self.node[key]
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "str": isinstance(value, str),
            "str?": value is None or isinstance(value, str),
            "list": isinstance(value, list),
            "object": isinstance(value, dict),
            "any": True,
        }[kind]
        if not ok:
            raise bad(f"{self.where}.{key}: expected {kind}, got {_json_type(value)}")
        return value

    def done(self, *keys: str) -> None:
        """Refuse keys other than ``keys``."""
        extra = sorted(set(self.node) - set(keys))
        if extra:
            listed = ", ".join(shown(k) for k in extra[:5])
            raise bad(f"{self.where}: expected only the keys {', '.join(keys)}, got {listed}")


def bad(message: str) -> ArtifactFormatError:
    """The refusal of an artifact that breaks its format."""
    return ArtifactFormatError(
        f"not a valid modelphase artifact: {message}", kind=FORECASTER_KIND, hint=RETRAIN
    )


def size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n} bytes"


def shown(value: Any) -> str:
    """A value of the data, safe to print on one line (repr escapes control characters)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def why(exc: BaseException) -> str:
    """An exception's type and message, on one line and short."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def _json_type(value: Any) -> str:
    return "null" if value is None else type(value).__name__
