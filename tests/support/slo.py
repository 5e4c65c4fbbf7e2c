"""An SLO file for the tests of ``slo status`` (CLI and HTTP): an availability SLO on
``http_requests_errors_total`` / ``http_requests_total`` of ``service="api"``, and a raw
latency SLO whose metric the test data never has."""

from __future__ import annotations

__all__ = ["SLO_TEXT"]

SLO_TEXT = """\
version: "prometheus/v1"
service: api
slos:
  - name: availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_errors_total{service="api"}[{{.window}}]))
        total_query: sum(rate(http_requests_total{service="api"}[{{.window}}]))
    alerting:
      name: ApiAvailability
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
  - name: latency
    objective: 99
    sli:
      raw:
        error_ratio_query: 1 - avg(rate(fast_total[{{.window}}]))
    alerting:
      name: ApiLatency
      page_alert: {disable: true}
      ticket_alert: {labels: {severity: warning}}
"""
