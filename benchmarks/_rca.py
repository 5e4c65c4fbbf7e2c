"""Root-cause cases for the triage benchmark, each as one wide frame.

Two public fault-injection corpora (``../shared/data/rca``, see its README), read into
one shape, :class:`Case`: a frame with a ``time`` column (Unix seconds) and one column
per metric named ``<service>_<metric>`` (RCAEval's format: the service is the part
before the *first* underscore), the anomaly's time ``at``, the true root-cause service,
the fault type and the split.

- **RCD Sock Shop** (50 cases): ``<service>-<cpu|mem>/<run>/normal.csv`` and
  ``anomalous.csv`` are already in that format, one row a second. The two files were
  recorded apart (often days apart), so the case is ``normal.csv`` followed by
  ``anomalous.csv`` and ``at`` is the first time of ``anomalous.csv``. One run
  (``orders-mem/5``) recorded its anomalous file first; its anomalous times are moved
  to start a second after the normal file's last row, as RCD's own code (which
  concatenates the two files) treats it. Fault type ``cpu`` or ``mem``; split ``all`` (RCD
  is used whole).
- **PetShop** (68 cases): ``<scenario>/<split>/<issue>/metrics.csv`` has three header
  rows (component, metric, statistic) and a row every 5 minutes (five rows a case, the
  anomaly between the second and the third). A component's name often holds an
  underscore (``payforadoption_AWS::ECS::Container``), which would break the
  ``<service>_<metric>`` split, so the service is the component with ``_`` written
  ``-`` (:func:`petshop_service`; the loader refuses a collision) and the metric is
  ``<metric>_<statistic>`` (``latency_p90``). ``at`` is ``target.json``'s timestamp,
  the truth its ``root_cause.node`` (converted the same way), the fault type the issue
  metric (``latency`` or ``availability``). Missing cells (a component with no request
  in five minutes) are forward-filled, then 0, so that every ranker sees one complete
  frame.
- **PetShop's normal period.** An issue file holds only five rows, the anomaly
  between the second and the third: two normal rows give no spread to measure. PetShop's
  own protocol (``rca_task.evaluate``) hands every method ``noissue/metrics.csv`` as
  the normal operation (two days, 589 rows at 5 minutes, recorded months apart from the
  issues). Here, as there, the scenarios that have one (``low_traffic``,
  ``high_traffic``; the two temporal scenarios have none, as in PetShop's repository)
  get it before the issue's rows: its times are moved to end one period before the
  issue's first row, its columns are the issue's (a column it lacks is missing there),
  and the forward fill runs over the joined rows, so a component that is idle in the
  issue keeps its last normal value rather than 0.

:func:`window` is the protocol: a ranker sees the rows up to ``at + offset``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "rca"
RCD = "rcd/sock-shop-data"
PETSHOP = "petshop/dataset"


@dataclass(frozen=True)
class Case:
    """One fault: the wide frame, the anomaly time and the truth."""

    corpus: str  # "rcd" or "petshop"
    name: str  # e.g. "carts-cpu/1", "low_traffic/test/issue_9"
    frame: pd.DataFrame  # "time" + "<service>_<metric>" columns, sorted by time
    at: float  # the anomaly's time, Unix seconds
    root_cause: str  # a service as spelled in the frame's columns
    fault: str  # "cpu"/"mem" (RCD), "latency"/"availability" (PetShop)
    group: str  # "all" (RCD), the PetShop scenario
    split: str  # "all" (RCD), "train"/"test" (PetShop)
    period: float  # seconds between rows

    @property
    def services(self) -> list[str]:
        """Every service with a column, in column order."""
        return services_of(self.frame)


def service_of(column: str) -> str:
    """The service of a ``<service>_<metric>`` column (before the first underscore)."""
    return column.split("_", 1)[0]


def services_of(frame: pd.DataFrame) -> list[str]:
    """The services of a wide frame's metric columns, in column order, each once."""
    return list(dict.fromkeys(service_of(c) for c in frame.columns if c != "time"))


def petshop_service(component: str) -> str:
    """A PetShop component as a service name without underscores."""
    return component.replace("_", "-")


def window(case: Case, offset: float) -> pd.DataFrame:
    """The rows a ranker sees: up to ``at + offset`` (seconds), the normal period
    before ``at`` included."""
    return case.frame[case.frame["time"] <= case.at + offset].reset_index(drop=True)


# -- RCD -----------------------------------------------------------------------------------


def read_rcd_case(folder: Path, name: str) -> Case:
    """One RCD run: ``normal.csv`` then ``anomalous.csv``."""
    normal = pd.read_csv(folder / "normal.csv")
    anomalous = pd.read_csv(folder / "anomalous.csv")
    if list(normal.columns) != list(anomalous.columns) or "time" not in normal.columns:
        raise ValueError(f"{folder}: normal.csv and anomalous.csv differ in columns")
    end = float(normal["time"].max())
    if not end < float(anomalous["time"].min()):  # recorded first: put it after
        anomalous["time"] = anomalous["time"] - anomalous["time"].min() + end + 1.0
    at = float(anomalous["time"].min())
    frame = pd.concat([normal, anomalous], ignore_index=True)
    frame = frame.sort_values("time", kind="stable").reset_index(drop=True)
    service, fault = name.split("/")[0].rsplit("-", 1)
    if service not in services_of(frame):
        raise ValueError(f"{folder}: the root cause {service!r} has no column")
    return Case("rcd", name, frame, at, service, fault, "all", "all", 1.0)


def rcd_cases(root: Path = DATA) -> Iterator[Case]:
    """The RCD Sock Shop cases, sorted by name."""
    base = root / RCD
    for folder in sorted(p for p in base.glob("*/*") if (p / "anomalous.csv").exists()):
        yield read_rcd_case(folder, f"{folder.parent.name}/{folder.name}")


# -- PetShop -------------------------------------------------------------------------------


def petshop_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """PetShop's three-level columns (component, metric, statistic) with the time as
    index, as a wide frame."""
    names: list[str] = []
    for component, metric, statistic in raw.columns:
        names.append(f"{petshop_service(str(component))}_{metric}_{statistic}")
    if len(set(names)) != len(names):
        raise ValueError("two PetShop columns have the same name once converted")
    frame = pd.DataFrame(raw.to_numpy(dtype=float), columns=names)
    frame = frame.ffill().fillna(0.0)
    frame.insert(0, "time", raw.index.to_numpy(dtype=float))
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def _petshop_raw(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    raw.index = raw.index.to_numpy(dtype=float)
    return raw


@functools.cache
def _noissue(path: Path) -> pd.DataFrame | None:
    return _petshop_raw(path) if path.is_file() else None


def read_petshop_case(folder: Path, name: str, *, normal: bool = True) -> Case:
    """One PetShop issue: ``metrics.csv`` and ``target.json``, after the scenario's
    ``noissue`` normal operation when it has one (and ``normal``)."""
    raw = _petshop_raw(folder / "metrics.csv")
    target = json.loads((folder / "target.json").read_text())
    period = float(np.median(np.diff(raw.index.to_numpy())))
    before = _noissue(folder.parents[1] / "noissue" / "metrics.csv") if normal else None
    if before is not None:
        moved = before.reindex(columns=raw.columns)
        times = moved.index.to_numpy(dtype=float)
        moved.index = times - times.max() + float(raw.index.min()) - period
        raw = pd.concat([moved, raw])
    frame = petshop_frame(raw)
    truth = petshop_service(target["root_cause"]["node"])
    if truth not in services_of(frame):
        raise ValueError(f"{folder}: the root cause {truth!r} has no column")
    scenario, split, _ = name.split("/")
    fault = str(target["target"]["metric"])
    return Case(
        "petshop", name, frame, float(target["target"]["timestamp"]), truth, fault,
        scenario, split, period,
    )  # fmt: skip


def petshop_cases(root: Path = DATA) -> Iterator[Case]:
    """The PetShop issues of every scenario and split, sorted by name."""
    base = root / PETSHOP
    for folder in sorted(base.glob("*/*/issue_*"), key=lambda p: _issue_key(p, base)):
        yield read_petshop_case(folder, folder.relative_to(base).as_posix())


def _issue_key(folder: Path, base: Path) -> tuple[str, str, int]:
    scenario, split, issue = folder.relative_to(base).parts
    return scenario, split, int(issue.removeprefix("issue_"))


def petshop_graph(root: Path, scenario: str) -> list[tuple[str, str]]:
    """The scenario's call graph as (caller, callee) service pairs."""
    graph = pd.read_csv(root / PETSHOP / scenario / "graph.csv", index_col=0)
    rows, cols = np.nonzero(graph.to_numpy() > 0)
    return [
        (petshop_service(str(graph.index[i])), petshop_service(str(graph.columns[j])))
        for i, j in zip(rows, cols, strict=True)
    ]


def load(corpus: str, root: Path = DATA) -> list[Case]:
    """Every case of ``rcd`` or ``petshop``."""
    if corpus == "rcd":
        return list(rcd_cases(root))
    if corpus == "petshop":
        return list(petshop_cases(root))
    raise ValueError(f"unknown corpus {corpus!r}: expected rcd or petshop")
