"""Serving: the registry's production models over HTTP, with canary and shadow
versions, a latency budget and a fallback per request, a decision log, and the models'
SLIs on /metrics (``modelphase serve``)."""

from modelphase.serve.app import ServeConfig, create_app

__all__ = ["ServeConfig", "create_app"]
