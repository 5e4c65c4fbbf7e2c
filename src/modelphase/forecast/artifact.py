"""Data-only model artifacts: bytes that describe a model and run no code when read.

A pickle names functions for the loader to call, so loading one runs whatever it
names, and a content hash proves only that the bytes are the ones registered. An
artifact of format 2 holds data only. Its layout (integers little-endian)::

    magic     b"\\x89modelphase-forecaster\\r\\n\\x1a\\n" (26 bytes; as PNG's, not ASCII,
              and its line ends show a copy made in text mode)
    format    u32: 2
    manifest  u64 n, then n bytes of UTF-8 JSON: an object
    arrays    the .npy files the manifest lists in "arrays" ([name, size] pairs), one
              after the other, up to the end of the data

The manifest holds parameters and structure (models are ``{"class", "params"}``, see
:mod:`modelphase.forecast.allowlist`); numbers in bulk are ``.npy`` arrays of float64,
int64, int32 or uint8, never of objects (those need pickle); strings are one UTF-8
buffer (``strings``, with ``strings.offsets``) that int32 arrays of codes index.

Reading imports no module named by the data, never unpickles, and refuses before it
allocates: data over :data:`MAX_ARTIFACT_BYTES`, a manifest over
:data:`MAX_MANIFEST_BYTES` or nested deeper than :data:`MAX_JSON_DEPTH`, more than
:data:`MAX_ARRAYS` arrays, sizes that do not add up to the data, an array whose
header does not match its bytes. :func:`artifact_kind` names bytes without reading
them.

>>> artifact_kind(b"\\x80\\x05\\x95...")
'pickle (refused)'
>>> artifact_kind(b'{"detector": {"name": "zscore"}}')
'JSON detector params'
"""

from __future__ import annotations

import io
import itertools
import json
import pickletools
import re
import struct
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib import format as npy
from numpy.typing import NDArray

from modelphase.exceptions import ArtifactFormatError, UnsafeArtifactError, ValidationError
from modelphase.forecast.manifest import (
    ARTIFACT_FORMAT,
    FORECASTER_KIND,
    MAX_JSON_DEPTH,
    RETRAIN,
    Fields,
    bad,
    depth,
    read_json,
    shown,
    size,
    why,
)

__all__ = [
    "ARTIFACT_FORMAT",
    "MAGIC",
    "MAX_ARRAYS",
    "MAX_ARTIFACT_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_MANIFEST_BYTES",
    "RETRAIN",
    "Fields",
    "Reader",
    "Writer",
    "artifact_kind",
    "read_frame",
    "read_json",
    "write_frame",
]

MAGIC = b"\x89modelphase-forecaster\r\n\x1a\n"
MAX_ARTIFACT_BYTES = 1 << 30
MAX_MANIFEST_BYTES = 4 << 20
MAX_ARRAYS = 4096

PICKLE_KIND = "pickle (refused)"
JSON_KIND = "JSON detector params"
UNKNOWN_KIND = "unknown"

_HEADER = struct.Struct("<IQ")
_DTYPES = {np.dtype("<f8"), np.dtype("<i8"), np.dtype("<i4"), np.dtype("|u1")}
_JSON_START = re.compile(rb"[ \t\r\n]*\{")
_PICKLE_SCAN = 1 << 16  # protocol 0/1 pickles have no header: their opcodes are parsed
_NPY_HEADER = 1024  # an .npy header of ours is 118 bytes; numpy's limit is 10,000


def artifact_kind(data: bytes) -> str:
    """What artifact bytes are, from their first bytes, without loading them:
    ``"modelphase forecaster, data-only format 2"``, ``"pickle (refused)"``,
    ``"JSON detector params"`` or ``"unknown"`` (and, for a forecaster of another
    format, ``"modelphase forecaster, format N (unsupported)"``)."""
    data = bytes(data[:_PICKLE_SCAN]) if len(data) > _PICKLE_SCAN else bytes(data)
    if data.startswith(MAGIC):
        fmt = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "little")
        if len(data) >= len(MAGIC) + 4 and fmt != ARTIFACT_FORMAT:
            return f"modelphase forecaster, format {fmt} (unsupported)"
        return FORECASTER_KIND
    if _is_pickle(data):
        return PICKLE_KIND
    if _JSON_START.match(data):
        return JSON_KIND
    return UNKNOWN_KIND


def _is_pickle(head: bytes) -> bool:
    if len(head) >= 2 and head[0] == 0x80 and 1 <= head[1] <= 5:  # PROTO n
        return True
    try:  # parsing opcodes imports and calls nothing
        last = None
        for op, _arg, pos in pickletools.genops(head):
            last = (op.name, pos)
    except Exception:
        return False
    return last is not None and last == ("STOP", len(head) - 1)


class Writer:
    """Collects the arrays and strings of a manifest, then packs them (see the module)."""

    def __init__(self) -> None:
        self._arrays: dict[str, NDArray[Any]] = {}
        self._strings: dict[str, int] = {}

    def array(self, name: str, values: Any, dtype: str) -> str:
        """Keep ``values`` as the array ``name`` (float64 ``<f8``, int64 ``<i8``)."""
        assert name not in self._arrays, name
        assert not name.startswith("strings"), name
        self._arrays[name] = np.ascontiguousarray(values, dtype=np.dtype(dtype))
        return name

    def codes(self, name: str, texts: Iterable[Any]) -> str:
        """Keep strings as int32 codes into the string table, as the array ``name``."""
        codes = []
        for text in texts:
            if not isinstance(text, str):
                raise ValidationError(
                    f"{name}: expected strings, got {type(text).__name__} {text!r:.40}"
                )
            codes.append(self._strings.setdefault(text, len(self._strings)))
        return self.array(name, np.array(codes, dtype=np.int32), "<i4")

    def pack(self, manifest: dict[str, Any]) -> bytes:
        try:
            encoded = [text.encode("utf-8") for text in self._strings]
        except UnicodeEncodeError as exc:
            raise ValidationError(f"expected strings that UTF-8 can encode, got {exc}") from None
        offsets = np.cumsum([0, *map(len, encoded)], dtype=np.int64)
        arrays = {
            **self._arrays,
            "strings": np.frombuffer(b"".join(encoded), dtype=np.uint8),
            "strings.offsets": offsets,
        }
        files = []
        for name, values in arrays.items():
            buffer = io.BytesIO()
            npy.write_array(buffer, values, version=(1, 0), allow_pickle=False)
            files.append((name, buffer.getvalue()))
        body = {**manifest, "format": ARTIFACT_FORMAT, "arrays": [[n, len(b)] for n, b in files]}
        try:
            text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"the manifest is not plain JSON: {exc}") from None
        raw = text.encode("utf-8")
        data = b"".join([MAGIC, _HEADER.pack(ARTIFACT_FORMAT, len(raw)), raw])
        data += b"".join(b for _, b in files)
        if len(raw) > MAX_MANIFEST_BYTES or len(files) > MAX_ARRAYS or depth(raw) > MAX_JSON_DEPTH:
            raise ValidationError("the model is too large for an artifact's manifest")
        if len(data) > MAX_ARTIFACT_BYTES:
            raise ValidationError(
                f"the artifact would be {size(len(data))}, over the {size(MAX_ARTIFACT_BYTES)} "
                "that loading accepts",
                hint="train on fewer series per model",
            )
        return data


class Reader:
    """A format-2 artifact checked whole: its manifest, arrays and strings."""

    def __init__(self, manifest: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> None:
        self.manifest = manifest
        self._arrays = arrays
        self.strings = _strings(arrays)

    @classmethod
    def read(cls, data: bytes) -> Reader:
        """Check the magic, format, limits and every array; refuse anything else."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ArtifactFormatError(f"expected artifact bytes, got {type(data).__name__}")
        data = bytes(data)
        if not data.startswith(MAGIC):
            raise _foreign(data)
        if len(data) > MAX_ARTIFACT_BYTES:
            raise bad(
                f"expected an artifact of at most {size(MAX_ARTIFACT_BYTES)}, got {size(len(data))}"
            )
        start = len(MAGIC) + _HEADER.size
        if len(data) < start:
            raise _truncated(len(data), start)
        fmt, n = _HEADER.unpack_from(data, len(MAGIC))
        if fmt != ARTIFACT_FORMAT:
            raise ArtifactFormatError(
                f"expected a data-only modelphase artifact (format {ARTIFACT_FORMAT}), got "
                f"format {fmt}",
                kind=artifact_kind(data),
                hint=f"load it with the modelphase version that wrote it, or {RETRAIN}",
            )
        if n > MAX_MANIFEST_BYTES:
            raise bad(f"expected a manifest of at most {size(MAX_MANIFEST_BYTES)}, got {size(n)}")
        if len(data) < start + n:
            raise _truncated(len(data), start + n)
        raw = data[start : start + n]
        manifest = read_json(raw, what="manifest", max_bytes=MAX_MANIFEST_BYTES, hint=RETRAIN)
        top = Fields(manifest, "manifest")
        if top.get("format", "int") != ARTIFACT_FORMAT:
            raise bad(f"manifest: expected format {ARTIFACT_FORMAT}, got {manifest['format']}")
        listed = top.get("arrays", "list")
        if len(listed) > MAX_ARRAYS:
            raise bad(f"manifest: expected at most {MAX_ARRAYS} arrays, got {len(listed)}")
        arrays: dict[str, NDArray[Any]] = {}
        view = memoryview(data)  # slices of it copy nothing
        offset = start + n
        for i, item in enumerate(listed):
            if not (
                isinstance(item, list)
                and len(item) == 2
                and isinstance(item[0], str)
                and isinstance(item[1], int)
                and not isinstance(item[1], bool)
                and item[1] >= 0
            ):
                raise bad(f"manifest.arrays.{i}: expected [name, size], got {item!r:.60}")
            name, nbytes = item
            if name in arrays:
                raise bad(f"manifest.arrays.{i}: the array {shown(name)} is listed twice")
            if offset + nbytes > len(data):
                raise _truncated(len(data), offset + nbytes)
            arrays[name] = _array(view[offset : offset + nbytes], f"array {shown(name)}")
            offset += nbytes
        if offset != len(data):
            raise bad(f"expected the data to end after its arrays, got {len(data) - offset} more")
        return cls(manifest, arrays)

    def array(self, name: Any, dtype: str, ndim: int, where: str) -> NDArray[Any]:
        """The array the manifest names at ``where``, checked for its dtype and rank."""
        if not isinstance(name, str) or name not in self._arrays:
            raise bad(f"{where}: expected the name of an array, got {shown(name)}")
        values = self._arrays[name]
        if values.dtype != np.dtype(dtype) or values.ndim != ndim:
            raise bad(
                f"{where}: expected a {ndim}-D array of {np.dtype(dtype)}, got a "
                f"{values.ndim}-D array of {values.dtype}"
            )
        return values

    def texts(self, name: Any, where: str) -> NDArray[np.object_]:
        """The strings that the code array ``name`` indexes (an array of ``str``)."""
        codes = self.array(name, "<i4", 1, where)
        if len(codes) and (codes.min() < 0 or codes.max() >= len(self.strings)):
            raise bad(f"{where}: expected codes below {len(self.strings)}, some are outside")
        table = np.empty(len(self.strings), dtype=object)
        table[:] = self.strings
        out: NDArray[np.object_] = table[codes]
        return out


def _array(raw: memoryview, where: str) -> NDArray[Any]:
    """An .npy file parsed without pickle, its shape checked before anything is made."""
    fp = io.BytesIO(raw[:_NPY_HEADER])
    try:
        version = npy.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(fp, max_header_size=_NPY_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = npy.read_array_header_2_0(fp, max_header_size=_NPY_HEADER)
        else:
            raise ValueError(f"version {version}")
    except Exception as exc:  # numpy raises ValueError, SyntaxError, EOFError...
        raise bad(f"{where}: expected an .npy array, got {why(exc)}") from None
    if dtype.hasobject:
        raise UnsafeArtifactError(
            f"{where}: expected an array of numbers, got dtype {dtype} (objects, which only "
            "pickle can read); it is never loaded",
            kind=FORECASTER_KIND,
            hint=RETRAIN,
        )
    if dtype not in _DTYPES or dtype.fields is not None or len(shape) > 2:
        raise bad(
            f"{where}: expected a 1-D or 2-D array of float64, int64, int32 or uint8, got {dtype}"
        )
    if any(d < 0 for d in shape):
        raise bad(f"{where}: expected a shape of sizes >= 0, got {shape}")
    count = 1
    for d in shape:
        count *= d
    body = len(raw) - fp.tell()
    if count * dtype.itemsize != body:
        raise bad(f"{where}: its header says {count * dtype.itemsize} bytes, it holds {body}")
    flat = np.frombuffer(raw, dtype=dtype, count=count, offset=fp.tell())
    return flat.reshape(shape, order="F" if fortran else "C").copy()


def _strings(arrays: dict[str, NDArray[Any]]) -> list[str]:
    buffer, offsets = arrays.get("strings"), arrays.get("strings.offsets")
    if buffer is None or offsets is None:
        raise bad("expected the arrays strings and strings.offsets, they are missing")
    if buffer.dtype != np.uint8 or buffer.ndim != 1 or offsets.dtype != np.int64:
        raise bad("expected strings as uint8 and strings.offsets as int64")
    if offsets.ndim != 1 or not len(offsets) or offsets[0] != 0 or offsets[-1] != len(buffer):
        raise bad("strings.offsets: expected offsets from 0 to the end of strings")
    if (np.diff(offsets) < 0).any():
        raise bad("strings.offsets: expected offsets that never go back")
    raw = buffer.tobytes()
    bounds = offsets.tolist()
    try:
        return [raw[a:b].decode("utf-8") for a, b in itertools.pairwise(bounds)]
    except UnicodeDecodeError as exc:
        raise bad(f"strings: expected UTF-8, got {exc}") from None


# ------------------------------------------------------------------ frames

_FRAME_KINDS = ("float64", "str", "datetime64[ns, UTC]")


def write_frame(writer: Writer, frame: pd.DataFrame, prefix: str) -> dict[str, Any]:
    """A frame of float64, string and UTC-time columns (and a default index)."""
    if not frame.index.equals(pd.RangeIndex(len(frame))) or not frame.columns.is_unique:
        raise ValidationError(f"{prefix}: expected a frame with a default index, unique columns")
    columns = []
    for i, (name, column) in enumerate(frame.items()):
        key, dtype = f"{prefix}.{i}", column.dtype
        if not isinstance(name, str):
            raise ValidationError(f"{prefix}: expected column names as strings, got {name!r}")
        if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype) == "datetime64[ns, UTC]":
            kind, ref = (
                "datetime64[ns, UTC]",
                writer.array(key, pd.DatetimeIndex(column).asi8, "<i8"),
            )
        elif dtype == np.float64:
            kind, ref = "float64", writer.array(key, column.to_numpy(np.float64), "<f8")
        elif dtype.kind == "O":
            kind, ref = "str", writer.codes(key, column.tolist())
        else:
            raise ValidationError(
                f"{prefix}: column {name!r} is {dtype}; expected one of {', '.join(_FRAME_KINDS)}"
            )
        columns.append({"name": name, "kind": kind, "values": ref})
    return {"rows": len(frame), "columns": columns}


def read_frame(reader: Reader, node: Any, where: str) -> pd.DataFrame:
    """The frame :func:`write_frame` wrote, each column checked for its kind and length."""
    fields = Fields(node, where)
    rows = fields.get("rows", "int")
    data: dict[str, Any] = {}
    for i, item in enumerate(fields.get("columns", "list")):
        at = f"{where}.columns.{i}"
        column = Fields(item, at)
        name, kind, ref = (
            column.get("name", "str"),
            column.get("kind", "str"),
            column.get("values", "any"),
        )
        column.done("name", "kind", "values")
        if name in data:
            raise bad(f"{at}: the column {shown(name)} appears twice")
        if kind == "float64":
            values: Any = reader.array(ref, "<f8", 1, at)
        elif kind == "datetime64[ns, UTC]":
            ns = reader.array(ref, "<i8", 1, at)
            values = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
        elif kind == "str":
            values = reader.texts(ref, at)
        else:
            raise bad(f"{at}: expected a kind among {', '.join(_FRAME_KINDS)}, got {shown(kind)}")
        if len(values) != rows:
            raise bad(f"{at}: expected {rows} rows, got {len(values)}")
        data[name] = values
    fields.done("rows", "columns")
    return pd.DataFrame(data, index=pd.RangeIndex(rows))


# ------------------------------------------------------------------ errors


def _foreign(data: bytes) -> ArtifactFormatError:
    """The refusal of bytes that are not a format-2 artifact, by what they look like."""
    kind = artifact_kind(data)
    expected = f"expected a data-only modelphase artifact (format {ARTIFACT_FORMAT})"
    if kind == PICKLE_KIND:
        return UnsafeArtifactError(
            f"{expected}, got a pickle; pickles are never loaded because loading one runs code",
            kind=kind,
            hint=RETRAIN,
        )
    if kind == JSON_KIND:
        return ArtifactFormatError(
            f"{expected}, got JSON (detector parameters?)",
            kind=kind,
            hint="serve or load it as a detector (flavor modelphase.anomaly), or " + RETRAIN,
        )
    shown = data[:8].hex(" ") if data else "nothing"
    return ArtifactFormatError(
        f"{expected}, got {len(data)} bytes of unknown data (starting {shown})",
        kind=kind,
        hint=RETRAIN,
    )


def _truncated(n: int, needed: int) -> ArtifactFormatError:
    return bad(f"expected at least {needed} bytes, got {n} (truncated?)")
