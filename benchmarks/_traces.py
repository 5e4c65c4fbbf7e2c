"""The capacity traces of ``../shared/data/capacity`` as per-minute demand, with the
per-replica capacity and the fit/replay split (README.md there has the protocol).

- Alibaba GenAI (``alibaba_genai/qps.csv``): queries per second sampled per container,
  irregularly (a sample every 57 to ~300 s; the API layer has no container and is one
  source of its own). A minute's demand is the sum over sources of each source's last
  sample at or before the minute's end, if that sample is at most ``STALE_S`` (10
  minutes) old; an older source counts 0 (it has stopped reporting: containers come
  and go over the 22 hours). The service is the sum over both request types;
  ``request_type`` keeps one of them.
- Azure LLM inference 2023 (``azure_llm/AzureLLMInferenceTrace_{code,conv}.csv``): one
  row per request; a minute's demand is its arrivals / 60 (requests per second, not
  tokens). The first and last minutes, partly outside the trace, are dropped.

Demand at the minute labelled ``ds`` covers ``[ds, ds + 1 min)``: a policy deciding at
``ds`` may use the minutes before ``ds`` only.

Rules stated once for every trace (not tuned per trace):

- split: the first 70% of the minutes fit (``fit_end`` is the last of them), the rest
  is replayed;
- capacity: ``C = p99(fit part's demand) / 10``, so the fit part's p99 needs 10
  replicas at full use (12.5 at the HPA's 80% target).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "capacity"
STALE_S = 600
FIT_SHARE = 0.7
PEAK_REPLICAS = 10
STEP = pd.Timedelta(minutes=1)


@dataclass(frozen=True)
class Trace:
    """A per-minute demand series (``demand``, a float Series on a regular UTC minute
    index, no NaN) with the rules above applied."""

    name: str
    demand: pd.Series
    unit: str

    @property
    def n_fit(self) -> int:
        return fit_length(len(self.demand))

    @property
    def fit_end(self) -> pd.Timestamp:
        return pd.Timestamp(self.demand.index[self.n_fit - 1])

    @property
    def capacity(self) -> float:
        return capacity_rule(self.demand.to_numpy()[: self.n_fit])


def fit_length(n: int) -> int:
    """Minutes in the fit part: the first 70%, at least one, and at least one replayed."""
    if n < 2:
        raise ValueError(f"a trace needs 2 minutes or more to split, got {n}")
    return min(max(1, math.floor(FIT_SHARE * n)), n - 1)


def capacity_rule(fit: np.ndarray) -> float:
    """The demand one replica holds: the fit part's p99 over ``PEAK_REPLICAS``."""
    c = float(np.percentile(fit, 99)) / PEAK_REPLICAS
    if not c > 0:
        raise ValueError("the fit part's p99 demand is 0: no capacity rule applies")
    return c


def carry_forward(
    ts: np.ndarray, values: np.ndarray, ends: np.ndarray, stale_s: float
) -> np.ndarray:
    """Per end time, the last value at or before it (``ts`` sorted), 0 when there is none
    or it is older than ``stale_s``."""
    idx = np.searchsorted(ts, ends, side="right") - 1
    out = np.zeros(len(ends))
    ok = idx >= 0
    ok[ok] &= ends[ok] - ts[idx[ok]] <= stale_s
    out[ok] = values[idx[ok]]
    return out


def alibaba(
    path: Path = DATA / "alibaba_genai" / "qps.csv",
    *,
    request_type: str | None = None,
    stale_s: float = STALE_S,
) -> Trace:
    raw = pd.read_csv(path)
    if request_type is not None:
        raw = raw[raw["request_type"] == request_type]
        if raw.empty:
            raise ValueError(f"no samples of request_type {request_type!r} in {path}")
    source = raw["container_ip"].fillna("api:" + raw["request_type"].astype(str))
    start = math.floor(raw["timestamp_anon"].min() / 60) * 60
    stop = math.floor(raw["timestamp_anon"].max() / 60) * 60
    minutes = np.arange(start, stop + 60, 60, dtype=float)
    ends = minutes + 60 - 1e-9  # a sample at the next minute's first instant is not in
    total = np.zeros(len(minutes))
    for _, g in raw.assign(source=source).groupby("source"):
        g = g.sort_values("timestamp_anon")
        total += carry_forward(
            g["timestamp_anon"].to_numpy(float), g["value"].to_numpy(float), ends, stale_s
        )
    index = pd.to_datetime(minutes, unit="s", utc=True)
    name = "alibaba" if request_type is None else f"alibaba/{request_type.split()[0].lower()}"
    return Trace(name, pd.Series(total, index=index, name="y"), "QPS (anonymised)")


def azure(kind: str, root: Path = DATA / "azure_llm") -> Trace:
    raw = pd.read_csv(root / f"AzureLLMInferenceTrace_{kind}.csv")
    ts = pd.to_datetime(raw["TIMESTAMP"], format="ISO8601", utc=True)
    counts = ts.dt.floor("min").value_counts().sort_index()
    index = pd.date_range(counts.index[0], counts.index[-1], freq="min")
    per_s = counts.reindex(index, fill_value=0).astype(float) / 60.0
    per_s = per_s.iloc[1:-1]  # the first and last minutes are partial
    return Trace(f"azure_{kind}", per_s.rename("y"), "requests/s")


def load_all(root: Path = DATA, *, per_type: bool = False) -> list[Trace]:
    traces = [alibaba(root / "alibaba_genai" / "qps.csv")]
    if per_type:
        for rt in ("Generative Requests", "API Requests"):
            traces.append(alibaba(root / "alibaba_genai" / "qps.csv", request_type=rt))
    traces += [azure(kind, root / "azure_llm") for kind in ("code", "conv")]
    return traces
