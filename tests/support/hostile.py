"""Hostile artifacts for the tests: pickles that run code when they are loaded, and
data-only artifacts taken apart and put back together by the documented layout (not by
the package's own writer), so that a test can break one thing at a time.

Every pickle here creates ``marker`` when it is unpickled; :func:`unpickle_elsewhere`
proves it, in a separate interpreter, so that a refusal proves something.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelphase.forecast.naive import SeasonalNaive
from modelphase.forecast.trained import TrainedForecaster

MAGIC = b"\x89modelphase-forecaster\r\n\x1a\n"
HOUR = 3600 * 10**9


class Reduce:
    """Pickles as ``fn(*args)``: what a malicious ``__reduce__`` returns."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn = fn
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.fn, self.args


def pickles(marker: Path) -> dict[str, bytes]:
    """Name -> a pickle that creates ``marker`` when it is loaded."""
    m = str(marker)
    assert "'" not in m, m
    assert "\n" not in m, m
    touch = f"touch {m}"
    out = {f"os.system, protocol {p}": pickle_dumps(Reduce(os.system, touch), p) for p in range(6)}
    out["open for writing"] = pickle_dumps(Reduce(open, m, "w"), 5)
    out["builtins.eval"] = pickle_dumps(Reduce(eval, f"open({m!r}, 'w').close()"), 5)
    out["builtins.exec"] = pickle_dumps(Reduce(exec, f"open({m!r}, 'w').close()"), 2)
    out["subprocess.Popen"] = pickle_dumps(Reduce(subprocess.Popen, ["touch", m]), 4)
    out["format 1 tuple around a payload"] = pickle_dumps((1, Reduce(os.system, touch)), 5)
    # getattr(__import__("os"), "system")("touch M"), by hand
    out["getattr chain"] = (
        b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(Vos\ntRVsystem\ntR(V"
        + touch.encode()
        + b"\ntR."
    )
    out["INST opcode"] = b"(V" + touch.encode() + b"\nios\nsystem\n."
    out["OBJ opcode"] = b"(cos\nsystem\nV" + touch.encode() + b"\no."
    # BUILD sets __setstate__ on an instance, and a second BUILD calls it
    out["BUILD opcode"] = (
        b"ctypes\nSimpleNamespace\n)R(V__setstate__\ncos\nsystem\ndbV" + touch.encode() + b"\nb."
    )
    return out


def pickle_dumps(obj: Any, protocol: int) -> bytes:
    import pickle

    return pickle.dumps(obj, protocol=protocol)


def unpickle_elsewhere(data: bytes, marker: Path, tmp: Path) -> bool:
    """Whether unpickling ``data`` in another interpreter creates ``marker``."""
    path = tmp / "payload.pkl"
    path.write_bytes(data)
    code = "import pickle, sys; pickle.loads(open(sys.argv[1], 'rb').read())"
    subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=60)
    deadline = time.monotonic() + 5.0  # Popen's child may still be starting
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    found = marker.exists()
    if found:
        marker.unlink()
    return found


# ------------------------------------------------------------- format 2 by hand


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the .npy files of a format-2 artifact."""
    assert data.startswith(MAGIC)
    fmt, n = struct.unpack_from("<IQ", data, len(MAGIC))
    assert fmt == 2
    start = len(MAGIC) + 12
    manifest = json.loads(data[start : start + n])
    arrays, offset = {}, start + n
    for name, size in manifest["arrays"]:
        arrays[name] = data[offset : offset + size]
        offset += size
    assert offset == len(data)
    return manifest, arrays


def pack(manifest: dict[str, Any], arrays: dict[str, bytes], *, fmt: int = 2) -> bytes:
    """A format-2 artifact of ``manifest`` (its ``arrays`` listing rewritten) and files."""
    body = {**manifest, "arrays": [[name, len(raw)] for name, raw in arrays.items()]}
    return pack_raw(json.dumps(body).encode(), b"".join(arrays.values()), fmt=fmt)


def pack_raw(manifest: bytes, payload: bytes, *, fmt: int = 2) -> bytes:
    return MAGIC + struct.pack("<IQ", fmt, len(manifest)) + manifest + payload


def npy(values: Any, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=allow_pickle)
    return buffer.getvalue()


def sample_forecaster() -> TrainedForecaster:
    """A small trained forecaster built by hand (two series, two models, MSTL's nested
    trend forecaster), without training."""
    from statsforecast.models import MSTL, AutoETS

    ids = ["a", "b"]
    ds = pd.date_range("2026-01-01", periods=4, freq="h", tz="UTC")
    yhat = np.arange(8, dtype=np.float64)
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, 4).astype(object),
            "ds": list(ds) * 2,
            "yhat": yhat,
            "yhat-lo-80": yhat - 1,
            "yhat-hi-80": yhat + 1,
            "model": ["SeasonalNaive"] * 4 + ["MSTL"] * 4,
        }
    )
    return TrainedForecaster(
        name="sample",
        step=HOUR,
        horizon=4,
        levels=[80.0],
        models=[SeasonalNaive(24), MSTL(season_length=[24], trend_forecaster=AutoETS(model="ZZN"))],
        fallback=SeasonalNaive(24),
        season=24,
        chosen={"a": "SeasonalNaive", "b": "MSTL"},
        weights={"a": np.array([0.5, 0.5]), "b": np.array([0.25, 0.75])},
        widths={80.0: np.array([0.1, 0.2, 0.3, 0.4])},
        scales={"a": 1.0, "b": 2.0},
        forecast_=frame,
        dataset_id="ab" * 32,
        info={"trained_with": "modelphase tests"},
    )
