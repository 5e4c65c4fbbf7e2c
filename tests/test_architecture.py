"""The package's shape: DESIGN.md's import direction and the documented error tree."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import modelphase
from modelphase import exceptions

SRC = Path(modelphase.__file__).parent

#: What each top-level module or subpackage may import from the package. Imports point
#: inward: the base (exceptions, config, frame) imports no stage; each stage imports the
#: base and the stages before it; cli, serve and dashboard import anything and nothing
#: imports them.
BASE = {"exceptions", "config", "frame", "files", "limits"}
ALLOWED: dict[str, set[str]] = {
    "exceptions": set(),
    "files": set(),
    "limits": {"exceptions"},
    "config": {"exceptions"},
    "frame": {"exceptions"},
    "ingest": BASE,
    "simulate": {"exceptions", "frame"},
    "features": BASE,
    "backtest": BASE | {"features"},
    "forecast": BASE | {"features", "backtest", "engine"},
    "anomaly": BASE | {"features", "backtest", "forecast"},
    "drift": BASE,
    "spec": BASE | {"features"},
    # reports draw models' results and decisions (capacity plans); decide draws nothing
    "report": BASE | {"backtest", "forecast", "anomaly", "drift", "decide"},
    "registry": BASE | {"spec", "ingest"},
    "train": BASE
    | {
        "ingest",
        "features",
        "forecast",
        "anomaly",
        "backtest",
        "spec",
        "report",
        "registry",
        "engine",
    },
    "decisions": BASE,
    # decisions read telemetry at their edges (Prometheus, datasets): ingest
    "decide": BASE | {"ingest", "forecast", "anomaly", "backtest"},
    # the monitor orchestrates: it retrains (train, spec, ingest) and rolls out (registry)
    "monitor": BASE
    | {
        "decide",
        "drift",
        "anomaly",
        "forecast",
        "backtest",
        "decisions",
        "registry",
        "ingest",
        "spec",
        "train",
    },
    "engine": BASE,
    "testing": BASE | {"forecast", "anomaly", "drift"},
}
TOP = {"cli", "serve", "dashboard", "__main__"}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _owner(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.ImportFrom) and node.level:
            pytest.fail(f"{path}: relative import; use absolute modelphase.* imports")
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "modelphase" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_inward(path: Path) -> None:
    owner = _owner(path)
    if owner in TOP or owner == "__init__":
        if owner == "__init__":
            assert _imported(path) == set(), "the package root must stay import-light"
        return
    assert owner in ALLOWED, f"{owner} is not placed in the layering; add it to ALLOWED"
    wrong = _imported(path) - ALLOWED[owner] - {owner}
    assert not wrong, f"{path.relative_to(SRC)} imports {sorted(wrong)}, against DESIGN.md"


def test_nothing_imports_the_top_layers() -> None:
    for path in _modules():
        if _owner(path) in TOP:
            continue
        assert not (_imported(path) & TOP), f"{path} imports cli/serve/dashboard"


def test_error_tree_in_docstring_matches_the_classes() -> None:
    doc = exceptions.__doc__ or ""
    drawn = re.findall(r"(?:├──|└──|^\s{4})\s*([A-Z]\w+)", doc, flags=re.M)
    classes = {
        name
        for name, obj in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(obj, (exceptions.ModelphaseError, exceptions.ModelphaseWarning))
    }
    assert classes == set(drawn)
    assert set(exceptions.__all__) == classes


def test_errors_subclass_the_matching_builtins() -> None:
    assert issubclass(exceptions.ValidationError, ValueError)
    assert issubclass(exceptions.SourceError, OSError)
    assert issubclass(exceptions.DatasetNotFoundError, LookupError)
    err = exceptions.DuplicateTimestampError("dup", unique_ids=["a", "b"], rows=[3, 4])
    assert err.unique_ids == ["a", "b"]
    assert err.rows == [3, 4]
    assert "a, b" in str(err)
