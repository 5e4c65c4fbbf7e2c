"""Does triage learn from postmortems? Rankings with and without confirmed root causes.

``modelphase triage confirm`` records a postmortem's root cause; later triage re-ranks
with every confirmed cause (:mod:`modelphase.decide.triage_feedback`: a smoothed base
rate per service). This measures what that buys on the fault corpora of
``../shared/data/rca`` (a development set; the triage benchmark's windows and offsets):

- **online, in time order**: every case is ranked with the confirmed causes of every
  case before it (by anomaly time), as a team that writes postmortems would have them.
  RCD's 50 cases; PetShop's 68 in the order of their anomaly times.
- **PetShop, train then test**: the train issues' causes confirmed, the test issues
  ranked (PetShop's split: no test issue's truth is used).

Each with and without the call graph (PetShop), against the same ranking without
feedback. Scores: AC@1, AC@3, Avg@5 (the mean of AC@1..AC@5).

    python benchmarks/triage_feedback.py [--data ../shared/data/rca]

It calls the library (``triage`` and ``apply_feedback``) rather than the command: the
ranking is the command's, the feedback path is the one the command takes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import _rca
import _rca_peers as peers
from modelphase.decide.triage import triage
from modelphase.decide.triage_feedback import Confirmation, apply_feedback

OFFSETS = {"rcd": 60.0, "petshop": 600.0}
K = 5


def rank(
    case: _rca.Case,
    confirmed: Sequence[Confirmation],
    graph: Sequence[tuple[str, str]] | None,
) -> int:
    """The truth's 1-based place in the case's service ranking."""
    result = triage(_rca.window(case, OFFSETS[case.corpus]), case.at, calls=graph)
    result = apply_feedback(result, list(confirmed))
    columns = [s.column for s in result.ranking]
    services = peers.rank_services(columns, case.services, peers.case_seed(case.name))
    return services.index(case.root_cause) + 1


def scores(ranks: Sequence[int]) -> dict[str, float]:
    ac = {k: float(np.mean([r <= k for r in ranks])) for k in range(1, K + 1)}
    return {"ac1": ac[1], "ac3": ac[3], "avg5": float(np.mean(list(ac.values()))), "n": len(ranks)}


def online(
    cases: Sequence[_rca.Case], graph_of: Callable[[_rca.Case], Sequence[tuple[str, str]] | None]
) -> tuple[list[int], list[int]]:
    """Each case in time order, without and with the causes of the cases before it."""
    ordered = sorted(cases, key=lambda c: (c.at, c.name))
    plain, learned = [], []
    confirmed: list[Confirmation] = []
    for case in ordered:
        graph = graph_of(case)
        plain.append(rank(case, [], graph))
        learned.append(rank(case, confirmed, graph))
        confirmed.append(Confirmation(case.name, case.root_cause, confirmed_at=case.at))
    return plain, learned


def train_then_test(
    cases: Sequence[_rca.Case], graph_of: Callable[[_rca.Case], Sequence[tuple[str, str]] | None]
) -> tuple[list[int], list[int]]:
    """PetShop's test issues, without and with the train issues' causes confirmed."""
    confirmed = [Confirmation(c.name, c.root_cause) for c in cases if c.split == "train"]
    test = [c for c in cases if c.split == "test"]
    plain = [rank(c, [], graph_of(c)) for c in test]
    learned = [rank(c, confirmed, graph_of(c)) for c in test]
    return plain, learned


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=_rca.DATA, help="the rca folder")
    args = parser.parse_args(argv)
    rcd = _rca.load("rcd", args.data)
    petshop = _rca.load("petshop", args.data)
    graphs = {g: _rca.petshop_graph(args.data, g) for g in {c.group for c in petshop}}

    def no_graph(case: _rca.Case) -> None:
        return None

    def with_graph(case: _rca.Case) -> Sequence[tuple[str, str]] | None:
        return graphs.get(case.group)

    rows = [
        ("RCD, online", "modelphase", *online(rcd, no_graph)),
        ("PetShop, online", "modelphase", *online(petshop, no_graph)),
        ("PetShop, online", "modelphase+calls", *online(petshop, with_graph)),
        ("PetShop, train -> test", "modelphase", *train_then_test(petshop, no_graph)),
        ("PetShop, train -> test", "modelphase+calls", *train_then_test(petshop, with_graph)),
    ]
    table = Table(title="triage with confirmed root causes (development set)")
    for name in ("protocol", "ranker", "n", "AC@1", "AC@1 fb", "AC@3", "AC@3 fb", "Avg@5",
                 "Avg@5 fb", "Avg@5 fb/no"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("protocol", "ranker") else "right")
    for protocol, ranker, plain, learned in rows:
        a, b = scores(plain), scores(learned)
        table.add_row(
            protocol, ranker, str(a["n"]),
            f"{a['ac1']:.3f}", f"{b['ac1']:.3f}", f"{a['ac3']:.3f}", f"{b['ac3']:.3f}",
            f"{a['avg5']:.3f}", f"{b['avg5']:.3f}",
            f"{b['avg5'] / a['avg5']:.2f}" if a["avg5"] else "-",
        )  # fmt: skip
    console = Console() if Console().is_terminal else Console(width=132)
    console.print(table)


if __name__ == "__main__":
    main()
