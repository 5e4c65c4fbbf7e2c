"""The Azure LLM inference arrivals of ``../shared/data/capacity`` as serverless
"functions": per request type, the minutes it is invoked in and its requests per minute.

A request type, decided before any result was seen and not tuned since: within one
trace (code, conv), the pair ``(floor(log2 context tokens), floor(log2 generated
tokens))``, e.g. ``code/c10g3`` (1,024-2,047 context tokens, 8-15 generated). Prompts
of a size and answers of a length stand for the functions of a service; the log2 bins
give types from a request an hour to hundreds a minute, the range of sparsity that
pre-warming is about.

The grid is the trace's UTC minutes from its first to its last; the first and last
minute, partly outside the trace, are dropped (as ``_traces.py`` does), with their
requests. The split is ``_traces``'s: the first 70% of the minutes fit, the rest is
replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from _traces import DATA, fit_length

KINDS = ("code", "conv")


@dataclass(frozen=True)
class Function:
    """A request type: the grid minutes (0-based, sorted) with requests, and how many."""

    name: str
    minutes: np.ndarray
    requests: np.ndarray


@dataclass(frozen=True)
class Arrivals:
    """One trace's functions on a grid of ``n_minutes`` minutes from ``start``."""

    name: str
    start: pd.Timestamp
    n_minutes: int
    functions: tuple[Function, ...]

    @property
    def n_fit(self) -> int:
        return fit_length(self.n_minutes)


def request_type(context: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """``c{floor(log2 context)}g{floor(log2 generated)}`` per request (tokens >= 1)."""
    c = np.floor(np.log2(np.maximum(context, 1))).astype(int)
    g = np.floor(np.log2(np.maximum(generated, 1))).astype(int)
    return np.char.add(np.char.add("c", c.astype(str)), np.char.add("g", g.astype(str)))


def from_requests(name: str, times: pd.Series, types: np.ndarray) -> Arrivals:
    """The functions of one trace from its requests' arrival times and types."""
    minute = pd.to_datetime(times, utc=True).dt.floor("min")
    first, last = minute.min(), minute.max()
    n = int((last - first) / pd.Timedelta(minutes=1)) - 1  # without both partial minutes
    if n < 2:
        raise ValueError(f"{name}: a trace needs 4 minutes or more, got {n + 2}")
    index = ((minute - first) / pd.Timedelta(minutes=1)).to_numpy().astype(np.int64) - 1
    keep = (index >= 0) & (index < n)
    frame = pd.DataFrame({"f": np.asarray(types)[keep], "m": index[keep]})
    functions = []
    for f, g in frame.groupby("f", sort=True):
        counts = g["m"].value_counts().sort_index()
        functions.append(
            Function(
                f"{name}/{f}",
                counts.index.to_numpy(np.int64),
                counts.to_numpy(np.int64),
            )
        )
    return Arrivals(name, first + pd.Timedelta(minutes=1), n, tuple(functions))


def azure(kind: str, root: Path = DATA / "azure_llm") -> Arrivals:
    raw = pd.read_csv(root / f"AzureLLMInferenceTrace_{kind}.csv")
    types = request_type(raw["ContextTokens"].to_numpy(), raw["GeneratedTokens"].to_numpy())
    return from_requests(kind, raw["TIMESTAMP"], types)
