"""Running the CLI in tests: its result, and what a run left in the home folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        lines = self.stdout.strip().splitlines()
        return lines[-1] if lines else ""


RunCli = Callable[..., CliResult]


def datasets_in(home: Path) -> list[Path]:
    """Every entry of the datasets folder, hidden ones included."""
    folder = home / "datasets"
    return sorted(folder.iterdir()) if folder.exists() else []
