"""Incident triage benchmark: ``modelphase triage`` beside BARO, PyRCA's epsilon-Diagnosis
and hypothesis testing, and a random ranking, on RCD Sock Shop (50 cases) and PetShop
(68 cases) from ``../shared/data/rca`` (a development set: see its README).

Protocol (RCAEval's): every ranker gets the same window of a case (:func:`_rca.window`),
the rows up to ``at + offset``, the normal period before ``at`` included, and the
anomaly time ``at``; HT also gets PetShop's call graph (no other ranker uses one, and
RCD has none). The offset is 60 s on RCD (one row a second: 61 anomalous rows). PetShop
has a row every 5 minutes, so 60 s would often show no anomalous row at all, and with
one row RCAEval's preprocessing (constant columns dropped per part) leaves BARO no
column; PetShop's offset is therefore 600 s, the two 5-minute rows after ``at``. Both
are options. Nothing is tuned per case; the PetShop train/test split is reported apart.

Each ranker returns metric columns in order; a case's service ranking is the order in
which services first appear, with the services a ranker left out after them in a random
order seeded by the case (the same for every ranker). Scores, per case and then the
mean over a slice: AC@k = 1 when the true root-cause service is among the first ``k``,
Avg@5 = the mean of AC@1..AC@5; seconds per case are the ranker's own (for modelphase,
the whole ``modelphase triage --input CASE.csv --at T --json`` subprocess, Python's
start-up included; the CSV is written before the clock starts). Slices: the corpus,
each fault type, and for PetShop each scenario/split and each split.

    python benchmarks/triage.py [--data ../shared/data/rca] [--corpus rcd|petshop|all]
        [--only modelphase|baro|epsilon_diagnosis|ht|random] [--limit N] [--json OUT]

Timings are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

import _rca
import _rca_peers as peers
from modelphase.files import atomic_path

K = 5
OFFSETS = {"rcd": 60.0, "petshop": 600.0}
RANKERS = ("modelphase", "modelphase+calls", *peers.PEERS)
MODELPHASE = ("modelphase", "modelphase+calls")
COMMAND = ("modelphase", "triage")


@dataclass(frozen=True)
class Result:
    """One ranker on one case."""

    ranker: str
    corpus: str
    case: str
    fault: str
    group: str
    split: str
    truth: str
    rank: int | None  # the truth's 1-based place, None when not ranked
    seconds: float
    top: list[str]


def truth_rank(services: Sequence[str], truth: str) -> int | None:
    """The 1-based place of ``truth`` in ``services``, None when absent."""
    return services.index(truth) + 1 if truth in services else None


def accuracy(rank: int | None, k: int) -> float:
    """AC@k of one case: 1 when the truth is among the first ``k``."""
    return float(rank is not None and rank <= k)


def scores(ranks: Sequence[int | None]) -> dict[str, float]:
    """AC@1..AC@5 and Avg@5, means over the cases."""
    if not ranks:
        return {}
    out = {f"ac{k}": float(np.mean([accuracy(r, k) for r in ranks])) for k in range(1, K + 1)}
    out["avg5"] = float(np.mean([out[f"ac{k}"] for k in range(1, K + 1)]))
    return out


# -- the rankers ---------------------------------------------------------------------------


def modelphase_available() -> str | None:
    """None when ``modelphase triage`` exists, else why not."""
    try:
        done = subprocess.run(
            [*COMMAND, "--help"], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(COMMAND)} --help: {exc}"
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()
        why = next((line.strip("│ ") for line in last if "No such command" in line), "")
        return f"`{' '.join(COMMAND)} --help` exited {done.returncode} {why}".strip()
    return None


def startup_seconds(repeat: int = 3) -> float:
    """The median seconds of ``modelphase triage --help``: the start-up (interpreter,
    imports) inside every modelphase timing."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([*COMMAND, "--help"], capture_output=True, timeout=120, check=False)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_modelphase(
    case: _rca.Case, window: Any, folder: Path, graph: Sequence[tuple[str, str]] | None = None
) -> tuple[list[str], float]:
    """``modelphase triage --json`` on the window written as CSV (with ``graph``, also
    ``--calls``): its ranking as ``<service>_<metric>`` columns, and the subprocess'
    seconds. The home is the (empty) temporary folder: no feedback."""
    path = folder / "case.csv"
    window.to_csv(path, index=False)
    extra: list[str] = []
    if graph is not None:
        calls = folder / "calls.csv"
        pd.DataFrame(list(graph), columns=["caller", "callee"]).to_csv(calls, index=False)
        extra = ["--calls", str(calls)]
    start = time.perf_counter()
    done = subprocess.run(
        [
            COMMAND[0],
            "--home",
            str(folder / "home"),
            *COMMAND[1:],
            "--input",
            str(path),
            "--at",
            repr(case.at),
            "--json",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"modelphase triage failed on {case.name}: {done.stderr.strip()}")
    ranking = json.loads(done.stdout)["ranking"]
    return [f"{r['service']}_{r['metric']}" for r in ranking], seconds


def evaluate(
    cases: Iterable[_rca.Case],
    rankers: Sequence[str],
    offsets: dict[str, float],
    data: Path,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[Result]:
    """Every ranker on every case."""
    results: list[Result] = []
    graphs: dict[str, list[tuple[str, str]]] = {}
    peers.rcaeval_baro()  # the package's import outside the clock
    with tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp:
        for case in cases:
            window = _rca.window(case, offsets[case.corpus])
            graph = None
            if case.corpus == "petshop":
                graph = graphs.setdefault(case.group, _rca.petshop_graph(data, case.group))
            services = case.services
            for name in rankers:
                if name == "modelphase+calls" and graph is None:
                    continue  # no call graph (RCD): the same as modelphase
                if name in MODELPHASE:
                    calls = graph if name == "modelphase+calls" else None
                    columns, seconds = run_modelphase(case, window, Path(tmp), calls)
                else:
                    start = time.perf_counter()
                    columns = peers.PEERS[name](window, case.at, graph)
                    seconds = time.perf_counter() - start
                ranked = peers.rank_services(columns, services, peers.case_seed(case.name, seed))
                results.append(
                    Result(
                        name,
                        case.corpus,
                        case.name,
                        case.fault,
                        case.group,
                        case.split,
                        case.root_cause,
                        truth_rank(ranked, case.root_cause),
                        seconds,
                        ranked[:K],
                    )
                )
            if progress is not None:
                progress(case.name)
    return results


# -- the report ----------------------------------------------------------------------------


def slices(corpus: str, results: Sequence[Result]) -> list[tuple[str, Callable[[Result], bool]]]:
    """The slices of a corpus: all, each fault type, (PetShop) each split and each
    scenario/split."""
    mine = [r for r in results if r.corpus == corpus]
    out: list[tuple[str, Callable[[Result], bool]]] = [("all", lambda r: True)]
    for fault in sorted({r.fault for r in mine}):
        out.append((f"fault={fault}", lambda r, f=fault: r.fault == f))
    if corpus == "petshop":
        for split in ("train", "test"):
            out.append((f"split={split}", lambda r, s=split: r.split == s))
        for group, split in sorted({(r.group, r.split) for r in mine}):
            out.append(
                (f"{group}/{split}", lambda r, g=group, s=split: (r.group, r.split) == (g, s))
            )
    return out


def summary(results: Sequence[Result]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """corpus -> slice -> ranker -> scores, with ``n`` and ``seconds`` (per case)."""
    out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for corpus in sorted({r.corpus for r in results}):
        out[corpus] = {}
        for label, keep in slices(corpus, results):
            chosen = [r for r in results if r.corpus == corpus and keep(r)]
            per: dict[str, dict[str, float]] = {}
            for ranker in dict.fromkeys(r.ranker for r in chosen):
                mine = [r for r in chosen if r.ranker == ranker]
                per[ranker] = scores([r.rank for r in mine]) | {
                    "n": float(len(mine)),
                    "seconds": float(np.mean([r.seconds for r in mine])),
                }
            out[corpus][label] = per
    return out


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else "-"


def table(corpus: str, per_slice: dict[str, dict[str, dict[str, float]]], offset: float) -> Table:
    """A corpus' rows: every slice, every ranker, and its ratios to BARO."""
    n = int(next(iter(per_slice["all"].values()))["n"])
    t = Table(title=f"{corpus}: {n} cases, window to at + {offset:g} s (development set)")
    for col in ("slice", "ranker", "n", "AC@1", "AC@3", "Avg@5", "s/case"):
        t.add_column(col, justify="left" if col in ("slice", "ranker") else "right")
    for col in ("AC@1/BARO", "Avg@5/BARO", "s/BARO"):
        t.add_column(col, justify="right")
    for label, per in per_slice.items():
        base = per.get("baro")
        for i, (ranker, m) in enumerate(per.items()):
            t.add_row(
                label if i == 0 else "",
                ranker,
                f"{m['n']:.0f}",
                f"{m['ac1']:.3f}",
                f"{m['ac3']:.3f}",
                f"{m['avg5']:.3f}",
                f"{m['seconds']:.3f}",
                _ratio(m["ac1"], base and base["ac1"]),
                _ratio(m["avg5"], base and base["avg5"]),
                _ratio(m["seconds"], base and base["seconds"]),
                end_section=i == len(per) - 1,
            )
    return t


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=_rca.DATA, help="the rca folder")
    parser.add_argument("--corpus", choices=("rcd", "petshop", "all"), default="all")
    parser.add_argument(
        "--only", choices=RANKERS, action="append", help="run only this ranker (repeatable)"
    )
    parser.add_argument("--limit", type=int, default=None, help="the first N cases a corpus")
    parser.add_argument("--rcd-offset", type=float, default=OFFSETS["rcd"], help="seconds")
    parser.add_argument("--petshop-offset", type=float, default=OFFSETS["petshop"], help="s")
    parser.add_argument("--seed", type=int, default=0, help="random ranking and tie order")
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    console = Console()
    if not console.is_terminal:
        console = Console(width=132)
    rankers = list(dict.fromkeys(args.only or RANKERS))
    skipped: dict[str, str] = {}
    if any(r in MODELPHASE for r in rankers):
        why = modelphase_available()
        if why is not None:
            for name in MODELPHASE:
                if name in rankers:
                    skipped[name] = why
                    rankers.remove(name)
            console.print(f"[yellow]modelphase skipped[/]: {why} (the command is not there yet)")
    if not rankers:
        console.print("nothing to run")
        return
    offsets = {"rcd": args.rcd_offset, "petshop": args.petshop_offset}
    corpora = ("rcd", "petshop") if args.corpus == "all" else (args.corpus,)
    cases = [c for corpus in corpora for c in _rca.load(corpus, args.data)[: args.limit]]
    start = time.perf_counter()
    results = evaluate(cases, rankers, offsets, args.data, args.seed)
    wall = time.perf_counter() - start
    found = summary(results)
    for corpus, per_slice in found.items():
        console.print(table(corpus, per_slice, offsets[corpus]))
    console.print(f"{len(cases)} cases, {len(rankers)} rankers, {wall:.1f} s")
    startup = startup_seconds() if any(r in MODELPHASE for r in rankers) else None
    if startup is not None:
        console.print(f"modelphase start-up (`triage --help`, median of 3): {startup:.3f} s")
    if args.json:
        out = {
            "protocol": {"offsets_s": offsets, "seed": args.seed, "limit": args.limit},
            "rankers": rankers,
            "skipped": skipped,
            "baro": "rcaeval" if peers.rcaeval_baro() is not None else "restated",
            "summary": found,
            "cases": [asdict(r) for r in results],
            "seconds": wall,
            "modelphase_startup_s": startup,
        }
        with atomic_path(args.json) as tmp:
            Path(tmp).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
