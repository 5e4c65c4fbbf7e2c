"""Reading SLO and windows files from disk (the only IO of :mod:`modelphase.decide.slo`).

A file is read within ``MAX_SPEC_BYTES``; a missing, unreadable or non-UTF-8 file is an
:class:`~modelphase.exceptions.SloSpecError` naming the path.
"""

from __future__ import annotations

from pathlib import Path

from modelphase.decide.slo._errors import Problem, raise_problems
from modelphase.decide.slo.model import SloFile
from modelphase.decide.slo.parse import parse_slos, parse_windows
from modelphase.decide.slo.windows import AlertWindows
from modelphase.limits import MAX_SPEC_BYTES

__all__ = ["read_slo_file", "read_windows_file"]


def _read(path: Path, what: str) -> str:
    source = str(path)
    if path.is_dir():
        raise_problems(source, [Problem("(file)", what, "a folder", "name the file in it")])
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise_problems(
            source, [Problem("(file)", what, exc.strerror or str(exc), "check the path")]
        )
        raise AssertionError("unreachable") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise_problems(
            source,
            [Problem("(file)", f"at most {MAX_SPEC_BYTES:,} bytes", "a larger file", "split it")],
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise_problems(
            source,
            [
                Problem(
                    "(file)",
                    "UTF-8 text",
                    f"a byte that is not UTF-8 at offset {exc.start}",
                    "save the file as UTF-8",
                )
            ],
        )
        raise AssertionError("unreachable") from None


def read_slo_file(path: str | Path) -> SloFile:
    """The SLOs of a Sloth or OpenSLO file (:func:`~modelphase.decide.slo.parse_slos`)."""
    path = Path(path)
    return parse_slos(_read(path, "a readable SLO file (YAML)"), str(path))


def read_windows_file(path: str | Path) -> AlertWindows:
    """Custom alert windows from a Sloth ``AlertWindows`` file."""
    path = Path(path)
    return parse_windows(_read(path, "a readable windows file (YAML)"), str(path))
