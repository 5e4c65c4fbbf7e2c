"""Read an SLO file in either format: Sloth ``prometheus/v1`` (one document, or several
separated by ``---`` as in Sloth's multi-file example) or OpenSLO ``openslo/v1``.

>>> found = parse_slos('''
... apiVersion: openslo/v1
... kind: SLO
... metadata: {name: web-availability}
... spec:
...   service: web
...   timeWindow: [{duration: 28d, isRolling: true}]
...   budgetingMethod: Occurrences
...   indicator:
...     metadata: {name: web-errors}
...     spec:
...       ratioMetric:
...         counter: true
...         bad:
...           metricSource: {type: Prometheus, spec: {query: 'http_requests_total{code=~"5.."}'}}
...         total: {metricSource: {type: Prometheus, spec: {query: http_requests_total}}}
...   objectives: [{target: 0.999}]
... ''')
>>> slo = found.slos[0]
>>> slo.id, round(slo.objective, 6), slo.period // 86_400, slo.page.name
('web-web-availability', 99.9, 28, 'WebAvailabilityErrorBudgetBurn')
>>> slo.sli.error_query
'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))'
"""

from __future__ import annotations

from typing import Any

from modelphase.decide.slo._errors import Problem, raise_problems
from modelphase.decide.slo._yaml import load_documents
from modelphase.decide.slo.model import SloFile
from modelphase.decide.slo.openslo import parse_openslo
from modelphase.decide.slo.sloth import SLOTH_VERSION, parse_sloth
from modelphase.decide.slo.windows import AlertWindows, windows_from_data

__all__ = ["parse_slos", "parse_windows"]

_EXPECTED = (
    'a Sloth file (version: "prometheus/v1") or an OpenSLO SLO (apiVersion: openslo/v1, kind: SLO)'
)


def parse_slos(text: str, source: str = "the SLO file") -> SloFile:
    """The SLOs of an SLO file's text; raise :class:`~modelphase.exceptions.SloSpecError`
    naming every problem with its field path."""
    docs = load_documents(text, source)
    if not docs:
        raise_problems(source, [Problem("(file)", _EXPECTED, "an empty file", "write the SLOs")])
    first = docs[0]
    if isinstance(first, list) or (isinstance(first, dict) and "apiVersion" in first):
        version = first.get("apiVersion") if isinstance(first, dict) else None
        if isinstance(version, str) and version.startswith("sloth.slok.dev/"):
            raise_problems(
                source,
                [
                    Problem(
                        "apiVersion",
                        _EXPECTED,
                        f"Sloth's Kubernetes resource ({version})",
                        f'write its spec: as a file of its own, with version: "{SLOTH_VERSION}"',
                    )
                ],
            )
        return parse_openslo(docs, source)
    if not all(isinstance(d, dict) and "version" in d for d in docs):
        bad = next(d for d in docs if not (isinstance(d, dict) and "version" in d))
        got = f"keys {', '.join(map(str, bad))}" if isinstance(bad, dict) else type(bad).__name__
        raise_problems(source, [Problem("version", _EXPECTED, got, "say which format it is")])
    if len(docs) == 1:
        return parse_sloth(docs[0], source)
    files = [parse_sloth(d, f"{source} (document {i + 1})") for i, d in enumerate(docs)]
    slos = [s for f in files for s in f.slos]
    ids = [s.id for s in slos]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        raise_problems(
            source,
            [
                Problem(
                    "slos",
                    "SLO ids (service-name) unique across the documents",
                    ", ".join(dups),
                    "rename one of each pair",
                )
            ],
        )
    notes = tuple(n for f in files for n in f.notes)
    return SloFile(slos=tuple(slos), spec=SLOTH_VERSION, notes=notes)


def parse_windows(text: str, source: str = "the windows file") -> AlertWindows:
    """Custom alert windows from a Sloth ``AlertWindows`` file's text
    (:func:`~modelphase.decide.slo.windows.windows_from_data`)."""
    docs: list[Any] = load_documents(text, source)
    if len(docs) != 1:
        raise_problems(
            source,
            [
                Problem(
                    "(file)",
                    "one AlertWindows document",
                    f"{len(docs)} documents",
                    "keep one per file",
                )
            ],
        )
    return windows_from_data(docs[0], source)
