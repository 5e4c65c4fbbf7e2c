"""Checks at the CLI's edge, made before any work: output paths that can be written as
asked, and the sizes a caller controls within :mod:`modelphase.limits`.

An output file's folder must exist (nothing creates folders the caller did not name);
an output folder may be created, but only inside one that exists.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelphase.exceptions import ModelphaseError, OutputPathError
from modelphase.frame import (
    Panel,
    check_finite,
    check_order,
    format_duration,
    infer_step,
)
from modelphase.limits import (
    MAX_DATASET_POINTS,
    MAX_INPUT_BYTES,
    check_at_most,
)

__all__ = [
    "check_grid",
    "check_input_file",
    "check_output_file",
    "check_output_folder",
]

_MIB = 1024 * 1024


def check_output_file(path: Path, option: str = "--output") -> None:
    """Refuse an output file that names a folder, or whose folder does not exist."""
    if path.is_dir():
        raise OutputPathError(
            f"{option} {path} is a folder; expected a file to write. Fix: name a file in it, "
            f"e.g. {path / ('out' + (path.suffix or '.csv'))}",
            path=str(path),
        )
    if path.exists() and not path.is_file():
        # an atomic write renames over its target: a device or a pipe would be replaced
        raise OutputPathError(
            f"{option} {path} is not a regular file (a device, pipe or socket); expected a "
            "file to write. Fix: name a file, or leave the option out to print on stdout "
            "where the command can",
            path=str(path),
        )
    _check_parent(path, option)


def check_output_folder(path: Path, option: str = "--output") -> None:
    """Refuse an output folder that is a file, or that would need folders created above it."""
    if path.exists() and not path.is_dir():
        raise OutputPathError(
            f"{option} {path} is a file; expected a folder to write into. Fix: name a folder "
            "(it is created if its parent exists)",
            path=str(path),
        )
    if not path.exists():
        _check_parent(path, option)


def _check_parent(path: Path, option: str) -> None:
    folder = path.absolute().parent
    if folder.is_dir():
        return
    missing = folder
    while not missing.parent.is_dir() and missing.parent != missing:
        missing = missing.parent
    what = "is a file, not a folder" if missing.exists() else "does not exist"
    raise OutputPathError(
        f"{option} {path}: the folder {missing} {what}. Fix: create it or choose another path",
        path=str(path),
    )


def check_input_file(path: Path, what: str) -> None:
    """Refuse an input file over ``MAX_INPUT_BYTES`` before it is read (other problems,
    a missing file or a folder, are left to the reader, which names them)."""
    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        return
    check_at_most(
        f"{what} {path}",
        size,
        MAX_INPUT_BYTES,
        f"split it into files of at most {MAX_INPUT_BYTES // _MIB} MiB (by series or by time)",
        " bytes",
    )
    if path.suffix.lower() in (".parquet", ".pq"):
        _check_parquet_rows(path, what)


def _check_parquet_rows(path: Path, what: str) -> None:
    """A Parquet file's rows, from its footer: compressed data can be far larger than
    the file."""
    import pyarrow.parquet as pq

    try:
        rows = pq.read_metadata(path).num_rows
    except Exception:  # not Parquet: the reader says so
        return
    check_at_most(
        f"{what} {path}",
        rows,
        MAX_DATASET_POINTS,
        "split it into smaller files (by series or by time)",
        " rows",
    )


def check_grid(raw: Panel, step: int | None, *, nonfinite: str, what: str) -> None:
    """Refuse input whose regular grid (gaps included) would hold more than
    ``MAX_DATASET_POINTS`` points: three samples a nanosecond apart and a year apart
    would otherwise ask for 3e16 of them. Input the checks refuse anyway is left to
    :func:`modelphase.ingest.prepare`, which says what is wrong with it."""
    check_at_most(
        what,
        raw.n_points,
        MAX_DATASET_POINTS,
        "split the input into smaller files (by series or by time)",
        " rows",
    )
    try:
        panel = check_finite(raw, nonfinite=nonfinite)
        check_order(panel)
        step = step or infer_step(panel)
    except ModelphaseError:
        return
    sizes = panel.sizes()
    present = sizes > 0
    if step <= 0 or not present.any():
        return
    first = panel.ds[panel.indptr[:-1][present]]
    last = panel.ds[panel.indptr[1:][present] - 1]
    points = float(np.sum(((last - first) // step + 1).astype(np.float64)))
    check_at_most(
        f"{what} on a {format_duration(step)} grid",
        int(points),
        MAX_DATASET_POINTS,
        "pass a larger --step, or split the input by time or by series",
        " points (gaps included)",
    )
