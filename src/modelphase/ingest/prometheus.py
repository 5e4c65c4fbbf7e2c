"""Read telemetry from the Prometheus HTTP API (``/api/v1/query_range``).

Long ranges are cut so that no request asks for more than Prometheus's 11,000 points
per series; pieces run with bounded concurrency; each request has a timeout and is
retried with exponential backoff on 5xx answers, timeouts and refused connections,
never on 4xx. Bearer tokens and basic auth are supported; TLS certificates are verified
unless told otherwise. Credentials never appear in errors or logs.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import httpx
import numpy as np

from modelphase.config import PrometheusSettings
from modelphase.exceptions import (
    NoSeriesError,
    PrometheusConnectionError,
    PrometheusError,
    PrometheusQueryError,
    PrometheusResponseError,
    PrometheusTimeoutError,
)
from modelphase.frame import Panel, format_seconds, format_time
from modelphase.ingest._matrix import (
    MAX_POINTS_PER_SERIES,
    RangeData,
    parse_range_response,
    split_range,
)

__all__ = ["PrometheusClient", "RangeResult", "RetryPolicy"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one request: ``retries`` more attempts, waiting ``backoff * 2**n``
    seconds (plus up to 10 % jitter, at most ``max_backoff``) before attempt ``n + 1``."""

    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 10.0

    def delay(self, attempt: int) -> float:
        base = min(self.backoff * 2.0**attempt, self.max_backoff)
        return float(base * (1.0 + 0.1 * random.random()))


@dataclass(frozen=True)
class RangeResult:
    """A range query's samples as a raw panel (not yet on its grid) and its messages."""

    panel: Panel
    start: int
    end: int
    step: int
    warnings: list[str]
    infos: list[str]
    n_requests: int


class PrometheusClient:
    """A client of one Prometheus server's HTTP API.

    ``transport`` lets tests and callers plug in any httpx transport.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        verify: bool = True,
        ca_cert: Path | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        concurrency: int = 4,
        max_points: int = MAX_POINTS_PER_SERIES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            parts = urlsplit(url)
            netloc = _netloc(parts)
        except ValueError:  # a bad port or IPv6 literal
            netloc = ""
        if not netloc or parts.scheme not in ("http", "https"):
            raise PrometheusConnectionError(
                f"expected an http(s) URL of a Prometheus server, got {_safe(url)!r}",
                url=_safe(url),
                hint="pass e.g. --url http://localhost:9090",
            )
        if parts.username and username is None:
            username, password = unquote(parts.username), unquote(parts.password or "")
        self.base_url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        if token and username:
            raise PrometheusConnectionError(
                "expected either a bearer token or basic auth, got both",
                url=self.base_url,
                hint="drop --token or --username",
            )
        headers = {"Accept": "application/json", "User-Agent": "modelphase"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        auth = httpx.BasicAuth(username, password or "") if username else None
        tls: bool | ssl.SSLContext = verify
        if verify and ca_cert is not None:
            tls = ssl.create_default_context(cafile=str(ca_cert))
        self.retry = retry or RetryPolicy()
        self.concurrency = max(1, concurrency)
        self.max_points = max_points
        self._http = httpx.Client(
            headers=headers,
            auth=auth,
            verify=tls,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=self.concurrency),
            follow_redirects=True,
        )

    @classmethod
    def from_settings(cls, settings: PrometheusSettings, **overrides: object) -> PrometheusClient:
        """A client configured from :class:`~modelphase.config.PrometheusSettings`."""
        if not settings.url:
            raise PrometheusConnectionError(
                "no Prometheus URL given",
                hint="pass --url or set MODELPHASE_PROMETHEUS_URL",
            )
        kwargs: dict[str, object] = {
            "token": settings.token,
            "username": settings.username,
            "password": settings.password,
            "verify": settings.verify,
            "ca_cert": settings.ca_cert,
            "timeout": settings.timeout,
        }
        kwargs.update(overrides)
        return cls(settings.url, **kwargs)  # type: ignore[arg-type]

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def query_range(
        self,
        query: str,
        start: int,
        end: int,
        step: int,
        *,
        progress: Progress | None = None,
    ) -> RangeResult:
        """Run ``query`` over ``[start, end]`` (ns since the epoch) every ``step`` ns.

        Raises :class:`NoSeriesError` when the query matches no series.
        """
        if not query.strip():
            raise PrometheusQueryError("expected a PromQL expression, got an empty query")
        if step < 1_000_000 or step % 1_000_000:
            raise PrometheusQueryError(
                f"expected a step of whole milliseconds, got {step} ns",
                hint="pass e.g. --step 60s",
            )
        start = _to_ms(start)
        end = _to_ms(end)
        if end < start:
            raise PrometheusQueryError(
                f"expected the end after the start, got {format_time(start)} .. {format_time(end)}",
                hint="swap --start and --end",
            )
        pieces = split_range(start, end, step, self.max_points)
        merged = RangeData()
        if progress:
            progress(0, len(pieces))
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(pieces))) as pool:
            futures = [pool.submit(self._fetch, query, lo, hi, step) for lo, hi in pieces]
            try:
                for done, future in enumerate(futures, 1):
                    merged.extend(future.result())
                    if progress:
                        progress(done, len(pieces))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        if not merged.series:
            raise NoSeriesError(
                f"the query {query!r} matched no series between {format_time(start)} and "
                f"{format_time(end)}. Fix: check the metric name and label matchers in "
                "Prometheus's expression browser, and the range"
            )
        items = [
            (uid, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
            for uid, parts in merged.series.items()
        ]
        return RangeResult(
            panel=Panel.from_series(items),
            start=start,
            end=end,
            step=step,
            warnings=merged.warnings,
            infos=merged.infos,
            n_requests=len(pieces),
        )

    def _fetch(self, query: str, start: int, end: int, step: int) -> RangeData:
        url = f"{self.base_url}/api/v1/query_range"
        form = {
            "query": query,
            "start": format_seconds(start),
            "end": format_seconds(end),
            "step": format_seconds(step),
        }
        attempt = 0
        while True:
            error: PrometheusError
            try:
                response = self._http.post(url, data=form)
            except httpx.TimeoutException:
                error = PrometheusTimeoutError(
                    f"Prometheus at {url} did not answer within "
                    f"{self._http.timeout.read}s ({attempt + 1} attempts)",
                    url=url,
                    hint="narrow the range or the query, raise --timeout, or check the "
                    "server's load",
                )
            except httpx.TransportError as exc:
                error = PrometheusConnectionError(
                    f"cannot reach Prometheus at {url}: {_describe(exc)} ({attempt + 1} attempts)",
                    url=url,
                    hint="check --url, that the server runs, and TLS options "
                    "(--ca-cert, --insecure)",
                )
            else:
                if response.status_code < 500:
                    return parse_range_response(
                        response.content, url=url, status_code=response.status_code
                    )
                error = _server_error(response, url, attempt)
            if attempt >= self.retry.retries:
                raise error
            time.sleep(self.retry.delay(attempt))
            attempt += 1


def _server_error(response: httpx.Response, url: str, attempt: int) -> PrometheusError:
    try:
        parse_range_response(response.content, url=url, status_code=response.status_code)
    except PrometheusQueryError as exc:
        return PrometheusQueryError(
            f"{exc.args[0]} ({attempt + 1} attempts)",
            url=url,
            error_type=exc.error_type,
            status_code=response.status_code,
            hint="Prometheus failed to run the query; narrow it or the range",
        )
    except PrometheusError:
        pass
    return PrometheusResponseError(
        f"Prometheus at {url} answered HTTP {response.status_code} ({attempt + 1} attempts)",
        url=url,
        status_code=response.status_code,
        hint="check the server's health and logs, or any proxy in front of it",
    )


def _to_ms(ns: int) -> int:
    return (int(ns) // 1_000_000) * 1_000_000


def _safe(url: str) -> str:
    """``url`` without user info, query or fragment, for messages."""
    try:
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, _netloc(parts), parts.path, "", ""))
    except ValueError:
        return "(an unparsable URL)"


def _netloc(parts: SplitResult) -> str:
    """Host and port of ``parts`` without user info (IPv6 literals keep their brackets)."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return host + (f":{parts.port}" if parts.port else "") if host else ""


def _describe(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and "refused" in text.lower():
        return "connection refused"
    return text
