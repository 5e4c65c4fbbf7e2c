"""Learning from postmortems: confirmed root causes re-rank later triage.

After an incident, the postmortem names its root cause (``modelphase triage confirm
INCIDENT --service S``). What that can teach a ranker that scores each incident on its
own telemetry is a *base rate*: some services fail far more often than others (the
one with the flaky dependency, the one that is deployed ten times a day). With
:class:`Confirmation` records, :func:`service_prior` is each service's smoothed share of
the confirmed causes relative to an even share, and :func:`apply_feedback` re-ranks a
:class:`~modelphase.decide.triage.Triage` by

    log(1 + score) + log(prior)

so a service confirmed as the cause of a quarter of 20 past incidents among 40
services (prior ``40 x (5 + 3) / (20 + 3 x 40) = 2.3``) overtakes one whose metrics
moved up to about twice as far. The smoothing adds :data:`PSEUDO_COUNT` (3) confirmations
to every ranked service, so a few confirmations move little, and with none nothing
changes. The 3 was chosen on the development corpora (the triage feedback benchmark):
with 1, PetShop's test issues, ranked with the train issues' causes, lost a fifth of
their Avg@5 (its split puts other components at fault); with 3 they lose 2-4% and the
online gain (each issue ranked with the causes of the issues before it) is still 2x;
with 10 the gain halves. With a call graph,
the services a callee explains stay after those nothing explains; the prior re-orders
within each part.

This is the simplest thing that learns, and it is measured as such (the triage
benchmark's ``--feedback``): it helps where the same components fail again, and cannot
help with a component that never failed before. It knows nothing of which *metric*
carried the cause; recording the metric keeps the data for a learner that would.

>>> from modelphase.decide.triage import triage
>>> import pandas as pd
>>> frame = pd.DataFrame({
...     "time": range(8),
...     "cart_cpu": [1, 1.1, 0.9, 1.0, 1.05, 1.0, 9.0, 9.0],
...     "db_cpu": [1, 1.1, 0.9, 1.0, 1.05, 1.0, 7.0, 7.0],
... })
>>> [s.service for s in triage(frame, at=6).ranking]
['cart', 'db']
>>> past = [Confirmation(f"inc-{i}", "db") for i in range(3)]
>>> [s.service for s in apply_feedback(triage(frame, at=6), past).ranking]
['db', 'cart']
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from modelphase.decide.triage import Suspect, Triage
from modelphase.exceptions import ValidationError

__all__ = [
    "INCIDENT_ID",
    "PSEUDO_COUNT",
    "Confirmation",
    "apply_feedback",
    "check_incident_id",
    "service_prior",
]

#: additive smoothing: pseudo-counts per ranked service (see the module's docstring)
PSEUDO_COUNT = 3.0
#: an incident's id: what a ticket system would use (INC-1234, 2026-12-08-checkout)
INCIDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


@dataclass(frozen=True)
class Confirmation:
    """A postmortem's finding: ``service`` (and optionally ``metric``) caused
    ``incident``; ``confirmed_at`` Unix seconds, ``note`` free text."""

    incident: str
    service: str
    metric: str | None = None
    confirmed_at: float | None = None
    note: str = ""


def check_incident_id(text: str) -> str:
    """``text`` when it is a valid incident id, else :class:`ValidationError`."""
    if not INCIDENT_ID.match(text):
        raise ValidationError(
            f"the incident id: expected 1-64 letters, digits, '.', '_' or '-' starting with "
            f"a letter or digit, got {text[:80]!r}",
            hint="use the ticket's id, e.g. INC-1234",
        )
    return text


def service_prior(
    confirmations: Iterable[Confirmation], services: Sequence[str]
) -> dict[str, float]:
    """Each of ``services``' smoothed share of the confirmed causes, relative to an even
    share: ``K (n_s + a) / (N + a K)`` for ``K`` services, ``N`` confirmations among
    them, ``n_s`` of service ``s`` and ``a`` = :data:`PSEUDO_COUNT`. Confirmations of
    services not among ``services`` are not counted (a service that has no metric here
    cannot be ranked)."""
    names = list(dict.fromkeys(services))
    if not names:
        return {}
    counts = Counter(c.service for c in confirmations)
    known = {s: counts.get(s, 0) for s in names}
    total = sum(known.values())
    k = len(names)
    return {s: k * (n + PSEUDO_COUNT) / (total + PSEUDO_COUNT * k) for s, n in known.items()}


def apply_feedback(result: Triage, confirmations: Sequence[Confirmation]) -> Triage:
    """``result`` re-ranked by ``log(1 + score) + log(prior)`` (see the module's
    docstring); the same object when there is no confirmation."""
    if not confirmations:
        return result
    prior = service_prior(confirmations, [s.service for s in result.ranking])

    def key(item: tuple[int, Suspect]) -> tuple[bool, float, int]:
        place, s = item
        weight = math.log1p(max(s.score, 0.0)) + math.log(prior[s.service])
        return (s.explained_by is not None, -weight, place)

    ranking = tuple(s for _, s in sorted(enumerate(result.ranking), key=key))
    return dataclasses.replace(result, ranking=ranking)
