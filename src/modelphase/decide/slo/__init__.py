"""SLO files to Prometheus recording and multiwindow, multi-burn-rate alerting rules,
with promtool unit tests for them (``modelphase slo rules``, docs/slo.md).

Files in Sloth's ``prometheus/v1`` format or OpenSLO's ``openslo/v1`` map to one model
(:class:`SLO`); :func:`plan_rules` fits the alert windows (the SRE Workbook's, Sloth's,
or a custom Sloth ``AlertWindows`` file) to each SLO's period; :func:`rule_groups` makes
the rules, named and labelled as Sloth names them, and :func:`promtool_tests` the tests.

>>> slos = parse_slos('''
... version: "prometheus/v1"
... service: api
... slos:
...   - name: availability
...     objective: 99.9
...     sli:
...       events:
...         error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
...         total_query: sum(rate(http_requests_total[{{.window}}]))
...     alerting:
...       name: ApiAvailability
...       page_alert: {labels: {severity: critical}}
...       ticket_alert: {labels: {severity: warning}}
... ''').slos
>>> plans, notes = plan_rules(slos, WORKBOOK, period=28 * 86_400)
>>> [g["name"] for g in rule_groups(plans)["groups"]]  # doctest: +NORMALIZE_WHITESPACE
['sloth-slo-sli-recordings-api-availability', 'sloth-slo-meta-recordings-api-availability',
 'sloth-slo-alerts-api-availability']
>>> [(t.key, t.factor, t.long // 60) for t in plans[0].windows.tiers]
[('page-quick', 14.4, 56), ('page-slow', 6.0, 336), ('ticket-slow', 1.0, 4032)]

:func:`slo_status` (``modelphase slo status``) gives an SLO's error budget left, its burn
over every alert window and the forecast of when the budget runs out, from the SLI's
events (:class:`SliEvents`, read by :func:`events_from_prometheus` or
:func:`events_from_panel`); :func:`exposition` writes statuses as Prometheus metrics.

Pure but for :mod:`~modelphase.decide.slo.reader` (the files) and
:mod:`~modelphase.decide.slo.fetch` (Prometheus).
"""

from __future__ import annotations

from modelphase.decide.slo._promql import prom_duration
from modelphase.decide.slo.budget import Burn, SliEvents
from modelphase.decide.slo.exhaustion import Exhaustion, forecast_exhaustion
from modelphase.decide.slo.fetch import events_from_panel, events_from_prometheus
from modelphase.decide.slo.model import SLI, SLO, AlertMeta, SloFile
from modelphase.decide.slo.parse import parse_slos, parse_windows
from modelphase.decide.slo.reader import read_slo_file, read_windows_file
from modelphase.decide.slo.rules import (
    DEFAULT_PERIOD,
    SloPlan,
    alert_expr,
    dump_yaml,
    plan_rules,
    rule_groups,
)
from modelphase.decide.slo.scenarios import TestFile, promtool_tests
from modelphase.decide.slo.status import SloStatus, exposition, slo_status
from modelphase.decide.slo.windows import (
    BUILTIN_WINDOWS,
    MAX_PERIOD,
    SLOTH,
    WORKBOOK,
    AlertWindows,
    Tier,
)

__all__ = [
    "BUILTIN_WINDOWS",
    "DEFAULT_PERIOD",
    "MAX_PERIOD",
    "SLI",
    "SLO",
    "SLOTH",
    "WORKBOOK",
    "AlertMeta",
    "AlertWindows",
    "Burn",
    "Exhaustion",
    "SliEvents",
    "SloFile",
    "SloPlan",
    "SloStatus",
    "TestFile",
    "Tier",
    "alert_expr",
    "dump_yaml",
    "events_from_panel",
    "events_from_prometheus",
    "exposition",
    "forecast_exhaustion",
    "parse_slos",
    "parse_windows",
    "plan_rules",
    "prom_duration",
    "promtool_tests",
    "read_slo_file",
    "read_windows_file",
    "rule_groups",
    "slo_status",
]
