"""Importing a benchmark script by path: ``benchmarks/`` is not a package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def load_script(name: str, path: Path, monkeypatch: pytest.MonkeyPatch | None = None) -> ModuleType:
    """The module of the script at ``path``, registered as ``name`` (dataclasses look
    their module up); with ``monkeypatch``, registered only for the test, and with the
    thread variables the benchmark scripts set at import recorded so that teardown
    puts them back."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if monkeypatch is None:
        sys.modules[name] = module
    else:
        for var in THREADS:
            monkeypatch.setenv(var, "1")
        monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module
