"""ChangeRCA's rolling releases as canary analyses (``../shared/data/canary``).

Each experiment releases 1 to 6 services at once, each as a rolling update from v1 to
v2 pods; one release of the experiment is faulty, the others are good. A release is
judged online: at every minute after its ``release_time`` the canary (the v2 pods that
have reported so far) is compared with the baseline (the v1 pods still serving) over
the minutes since the release, using no sample after that minute.

The metrics of a pod are its success rate and latency on each call edge it serves or
makes (``<caller>_<callee>``), and its CPU and memory use. A v1 pod's rows after the
step that deleted it are dropped: the collector goes on writing rows under a deleted
pod's name that repeat a v2 pod's values.
"""

from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

_POD = re.compile(
    r"^(?P<svc>[a-z]+)-(?P<ver>v[12])-(?P<rs>[0-9a-z]+)-(?P<id>[0-9a-z]+)"
    r"_(?P<caller>[a-z]+)_(?P<callee>[a-z]+)\.csv$"
)
#: the per-pod columns and the metric names they become
POD_COLUMNS = {"CPUUsageRate(%)": "cpu", "MemoryUsageRate(%)": "memory"}
EDGE_COLUMNS = {"SuccessRate": "success", "Latency": "latency"}


@dataclass(frozen=True)
class Release:
    """One service's release in one experiment, with every sample of its pods:
    ``samples`` has ``ts`` (Unix s), ``version`` (v1/v2), ``pod``, ``metric``,
    ``value``, sorted by ``ts``."""

    case: str
    day: str
    service: str
    faulty: bool
    fault: str | None
    release_time: int
    end_time: int
    samples: pd.DataFrame

    @property
    def key(self) -> str:
        return f"{self.case}/{self.service}"


def find_cases(root: str) -> list[str]:
    """The experiment folders under ``root`` (``.../changerca/data``), sorted."""
    return sorted(p for p in glob.glob(os.path.join(root, "*", "*")) if os.path.isdir(p))


def load_case(folder: str) -> list[Release]:
    """Every release of one experiment."""
    case = os.path.basename(folder.rstrip("/"))
    with open(os.path.join(folder, f"{case}.json")) as fh:
        meta = json.load(fh)
    frames = []
    for path in glob.glob(os.path.join(folder, "*.csv")):
        m = _POD.match(os.path.basename(path))
        if not m:
            continue
        raw = pd.read_csv(path)
        pod = f"{m['svc']}-{m['ver']}-{m['rs']}-{m['id']}"
        edge = f"{m['caller']}_{m['callee']}"
        base = pd.DataFrame(
            {"ts": raw["Timestamp"].astype(np.int64), "service": m["svc"], "version": m["ver"]}
        )
        base["pod"] = pod
        for column, name in EDGE_COLUMNS.items():
            frames.append(base.assign(metric=f"{edge}:{name}", value=raw[column].astype(float)))
        for column, name in POD_COLUMNS.items():
            frames.append(base.assign(metric=name, value=raw[column].astype(float)))
    every = pd.concat(frames, ignore_index=True)
    # one CPU/memory sample per pod and minute, though each edge file repeats it
    every = every.drop_duplicates(["pod", "metric", "ts"])
    releases = []
    for service, plan in meta["plan"].items():
        steps = plan["process"].values()
        cutoff = {
            pod: int(step["release_complete_timestamp"])
            for step in steps
            for pod in step["delete_pod"]
        }
        rows = every[every["service"] == service]
        limit = rows["pod"].map(cutoff).fillna(np.iinfo(np.int64).max)
        rows = rows[(rows["version"] == "v2") | (rows["ts"] <= limit)]
        rows = rows.sort_values("ts", kind="stable").reset_index(drop=True)
        faulty = service == meta["fault_release_service"]
        releases.append(
            Release(
                case=case,
                day=case.split("_")[0],
                service=service,
                faulty=faulty,
                fault=meta["fault"] if faulty else None,
                release_time=int(plan["release_time"]),
                end_time=int(rows["ts"].max()),
                samples=rows[["ts", "version", "pod", "metric", "value"]],
            )
        )
    return releases


def window(
    release: Release, now: int, metrics: set[str] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(canary, baseline)``: each metric's samples from the release to ``now``."""
    s = release.samples
    s = s[(s["ts"] > release.release_time) & (s["ts"] <= now)]
    if metrics is not None:
        s = s[s["metric"].map(kind).isin(metrics)]
    out: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] = ({}, {})
    for (version, metric), group in s.groupby(["version", "metric"], sort=True):
        out[0 if version == "v2" else 1][str(metric)] = group["value"].to_numpy(np.float64)
    return out


def kind(metric: str) -> str:
    """``success``, ``latency``, ``cpu`` or ``memory``."""
    return metric.rsplit(":", 1)[-1]
