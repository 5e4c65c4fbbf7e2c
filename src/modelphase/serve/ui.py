"""The web dashboard of ``modelphase serve``, at ``/ui``: server-rendered HTML over the
registry, the decision log, the monitor's verdicts and what the server serves.

Three views, all read-only: the **executive** view (``/ui``: every model, its
production version, the monitor's verdicts and accuracy trend, the server's SLOs and
capacity plans), the **on-call** view (``/ui/oncall``: the versions serving each model
and their traffic share, the latest alias moves, the last day's decisions, fallbacks and
errors) and the **debug** view of a model (``/ui/model/{name}``: its versions with their
lineage, latency by version and the latest decisions logged).

Access is the API's: a viewer token, checked by the server's own ``authorize`` (the
dependency of the ``/v1`` routes, with its cache and its rate limit), sent either as the
``Authorization`` header, as ``?token=`` (then moved into the cookie and dropped from
the address), or as the HttpOnly, SameSite=Strict cookie the ``/ui/login`` form sets.
Without a token a page redirects (303) to the login page; a token the server refuses
gets its 401 or 403 as a page. The only POSTs are login and logout. Every page carries a
Content-Security-Policy that allows no script and only the dashboard's own style sheet.

Reads are blocking (SQLite, DuckDB) and run off the event loop, one thread per page.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelphase.decisions import read_decisions
from modelphase.registry import ModelRegistry, Principal, Registry
from modelphase.serve.ui_pages import (
    CSS,
    Safe,
    fmt,
    join,
    model_href,
    page,
    share_bar,
    sparkline,
    table,
    verdict_strip,
)

__all__ = ["COOKIE", "CSP", "mount_ui"]

COOKIE = "modelphase_ui"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}
#: the login form's body: a token is ~50 bytes
MAX_LOGIN_BODY = 4096
#: how far back the on-call counts and the debug latencies look, and how many rows
WINDOW = timedelta(hours=24)
MAX_ROWS = 50_000
N_SAMPLES = 20
N_MOVES = 10

Authorize = Callable[[Request], Awaitable[Principal]]


class _RedirectError(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def mount_ui(
    app: FastAPI,
    *,
    authorize: Authorize,
    registry: ModelRegistry,
    home: Path,
    served: Callable[[], list[dict[str, Any]]],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Add the dashboard's routes to ``app``, and ``GET /`` (a redirect to ``/ui``)
    when nothing else answers ``/``. ``served`` returns what ``GET /v1/models``
    lists. The SLOs and capacity plans are read from the services that
    :func:`~modelphase.serve.slo_api.mount_slo` and
    :func:`~modelphase.serve.capacity_api.mount_capacity` left in ``app.state``
    (mount this after them): their plans, and the latest status each one computed
    for an API caller. A page never starts a Prometheus query of its own."""
    ui = _Ui(authorize, registry, home / "decisions", served, app, clock)
    if not any(getattr(r, "path", None) == "/" for r in app.router.routes):
        app.add_api_route("/", _to_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui/static/ui.css", _css, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui/login", _login_form, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui/login", ui.login, methods=["POST"], include_in_schema=False)
    app.add_api_route("/ui/logout", _logout, methods=["POST"], include_in_schema=False)
    app.add_api_route("/ui", ui.executive, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui/oncall", ui.oncall, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui/model/{name}", ui.model, methods=["GET"], include_in_schema=False)


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=_HEADERS)


async def _to_ui() -> Response:
    return _see("/ui")


async def _css() -> Response:
    return Response(CSS, media_type="text/css", headers=_HEADERS)


def _login_page(error: str | None = None, status: int = 200) -> HTMLResponse:
    message = fmt('<p class="error" role="alert">{}</p>', error) if error else Safe("")
    form = fmt(
        '{}<form class="login" method="post" action="/ui/login">'
        '<label for="token">Viewer token</label>'
        '<input id="token" name="token" type="password" autocomplete="off" required>'
        '<button type="submit">Log in</button></form>'
        '<p class="empty">Create one with <code>modelphase tokens create --name NAME '
        "--role viewer</code>.</p>",
        message,
    )
    return _html(page("Log in", form), status)


async def _login_form() -> Response:
    return _login_page()


async def _logout() -> Response:
    response = _see("/ui/login")
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


class _Ui:
    def __init__(
        self,
        authorize: Authorize,
        registry: ModelRegistry,
        decisions: Path,
        served: Callable[[], list[dict[str, Any]]],
        app: FastAPI,
        clock: Callable[[], datetime],
    ) -> None:
        self.authorize = authorize
        self.registry = registry
        self.decisions = decisions
        self.served = served
        self.app = app
        self.clock = clock

    # ------------------------------------------------------------------ access

    async def _check(self, request: Request, token: str) -> Principal:
        """The server's own check of ``token``, as if it came in the header."""
        scope = dict(request.scope)
        headers = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"]
        scope["headers"] = [*headers, (b"authorization", f"Bearer {token}".encode())]
        return await self.authorize(Request(scope))

    async def _who(self, request: Request) -> Principal:
        query = request.query_params.get("token")
        if query:
            try:
                await self._check(request, query)
            except HTTPException as exc:
                raise _RedirectError(_refused(exc)) from None
            response = _see(request.url.path)  # the token leaves the address bar
            _set_cookie(response, request, query)
            raise _RedirectError(response)
        if request.headers.get("authorization"):
            token = request.headers["authorization"].partition(" ")[2].strip()
        else:
            token = request.cookies.get(COOKIE, "")
        if not token:
            raise _RedirectError(_see("/ui/login"))
        try:
            return await self._check(request, token)
        except HTTPException as exc:
            raise _RedirectError(_refused(exc)) from None

    async def login(self, request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_LOGIN_BODY:
            return _login_page(f"expected a form of at most {MAX_LOGIN_BODY} bytes", 413)
        token = parse_qs(raw.decode("utf-8", "replace")).get("token", [""])[0].strip()
        if not token:
            return _login_page("expected a token. Fix: paste a viewer token", 400)
        try:
            await self._check(request, token)
        except HTTPException as exc:
            if exc.status_code not in (401, 403):
                raise
            return _login_page(str(exc.detail), exc.status_code)
        response = _see("/ui")
        _set_cookie(response, request, token)
        return response

    async def _render(
        self, request: Request, build: Callable[[], tuple[str, Safe, int]], current: str
    ) -> Response:
        try:
            who = await self._who(request)
        except _RedirectError as redirect:
            return redirect.response
        title, body, status = await asyncio.get_running_loop().run_in_executor(None, build)
        return _html(page(title, body, who=who.name, current=current), status)

    # ------------------------------------------------------------------ views

    async def executive(self, request: Request) -> Response:
        # the services' caches change on the event loop only: copied here, read there
        slo, capacity = _cached(self.app, "slo"), _cached(self.app, "capacity")
        return await self._render(request, lambda: self._executive(slo, capacity), "/ui")

    async def oncall(self, request: Request) -> Response:
        return await self._render(request, self._oncall, "/ui/oncall")

    async def model(self, request: Request, name: str) -> Response:
        return await self._render(request, lambda: self._debug(name), "")

    def _health(self, name: str) -> list[Any]:
        if not isinstance(self.registry, Registry):
            return []  # a remote registry: the monitor's tables are on its server
        from modelphase.registry.monitoring import MonitorStore

        return list(reversed(MonitorStore(self.registry).health(name, limit=30)))

    def _executive(
        self, slo: tuple[list[Any], list[Any]], capacity: tuple[list[Any], list[Any]]
    ) -> tuple[str, Safe, int]:
        rows = []
        for m in self.registry.models():
            production = m.aliases.get("production")
            records = self._health(m.name)
            verdicts = [r.verdict for r in records]
            rows.append(
                (
                    fmt('<a href="{}">{}</a>', model_href(m.name), m.name),
                    production if production is not None else "not in production",
                    join(m.owners, ", ") if m.owners else None,
                    verdict_strip(verdicts),
                    _accuracy(records),
                )
            )
        body = [
            fmt("<h2>Models</h2>{}", table(
                ("model", "production version", "owners", "health", "accuracy"),
                rows, "no model registered yet",
            )),
        ]  # fmt: skip
        body.append(fmt("<h2>SLOs</h2>{}", _slo_table(*slo)))
        body.append(fmt("<h2>Capacity plans</h2>{}", _capacity_table(*capacity)))
        return "Executive", join(body), 200

    def _recent(self, model: str | None = None) -> pd.DataFrame:
        since = self.clock() - WINDOW
        return read_decisions(self.decisions, model=model, since=since, limit=MAX_ROWS)

    def _oncall(self) -> tuple[str, Safe, int]:
        frame = self._recent()
        counts: dict[str, tuple[int, int, int]] = {}
        if len(frame):
            fallback = frame["answered_by"] == "fallback"
            error = frame["fallback_reason"].isin(["error", "timeout"])
            grouped = frame.assign(fallback=fallback, error=error).groupby("model")
            for name, g in grouped:
                counts[str(name)] = (len(g), int(g["fallback"].sum()), int(g["error"].sum()))
        serving = []
        for entry in self.served():
            aliases: Mapping[str, Any] = entry["aliases"]
            share = float(entry.get("canary_share") or 0.0) if "canary" in aliases else 0.0
            shares = [("production", 1.0 - share)] + ([("canary", share)] if share else [])
            versions = join(
                (fmt("{} v{} ({})", a, d["version"], d["circuit"]) for a, d in aliases.items()),
                ", ",
            )
            n, fb, err = counts.get(entry["name"], (0, 0, 0))
            serving.append(
                (
                    fmt('<a href="{}">{}</a>', model_href(entry["name"]), entry["name"]),
                    versions,
                    fmt(
                        "{} {}", share_bar(shares), join((f"{a} {s:.0%}" for a, s in shares), " / ")
                    ),
                    n,
                    fb,
                    err,
                )
            )
        moves = []
        for m in self.registry.models():
            moves += self.registry.history(m.name)
        moves.sort(key=lambda e: e.at, reverse=True)
        move_rows = [
            (e.at, e.name, e.alias, e.action, e.from_version, e.to_version, e.actor, e.reason)
            for e in moves[:N_MOVES]
        ]
        body = join(
            [
                fmt("<h2>Serving (last 24 h of decisions)</h2>{}", table(
                    ("model", "versions (circuit)", "traffic share", "decisions",
                     "fallbacks", "errors"),
                    serving, "nothing served yet",
                )),
                fmt("<h2>Recent alias moves</h2>{}", table(
                    ("at", "model", "alias", "action", "from", "to", "by", "reason"),
                    move_rows, "no alias moved yet",
                )),
            ]
        )  # fmt: skip
        return "On-call", body, 200

    def _debug(self, name: str) -> tuple[str, Safe, int]:
        if name not in {m.name for m in self.registry.models()}:
            body = fmt('<p>No model {} in the registry. <a href="/ui">All models</a></p>', name)
            return "Unknown model", body, 404
        versions = self.registry.versions(name)
        live = {v: a for a, v in self.registry.live(name).items()}
        version_rows = [
            (
                v.version,
                live.get(v.version),
                v.model_class,
                v.dataset_id,
                v.created_at,
                v.created_by,
                "passed" if v.gates_passed else ("failed" if v.gates_passed is False else None),
                join(v.owners, ", ") if v.owners else None,
            )
            for v in reversed(versions)
        ]
        frame = self._recent(name)
        latency_rows = []
        if len(frame):
            for (version, alias), g in frame.groupby(["version", "alias"], dropna=False):
                ms = g["latency_ms"]
                latency_rows.append(
                    (version, alias, len(g), ms.quantile(0.5), ms.quantile(0.95), ms.max())
                )
        samples = [
            (
                str(r.time_us)[:19],
                r.request_id,
                r.version,
                r.alias,
                r.answered_by,
                r.fallback_reason,
                r.latency_ms,
                fmt("<pre>{}</pre>", _short(r.prediction)),
            )
            for r in frame.head(N_SAMPLES).itertuples()
        ]
        spec = versions[-1].spec if versions else None
        body = join(
            [
                fmt("<h2>Versions and lineage</h2>{}", table(
                    ("version", "alias", "class", "dataset", "created", "by", "gates", "owners"),
                    version_rows,
                )),
                fmt("<h2>Latency by version (last 24 h)</h2>{}", table(
                    ("version", "alias", "decisions", "p50 ms", "p95 ms", "max ms"),
                    latency_rows, "no decision logged in the last 24 h",
                )),
                fmt("<h2>Latest decisions</h2>{}", table(
                    ("time", "request", "version", "alias", "answered by", "fallback",
                     "latency ms", "prediction"),
                    samples, "no decision logged in the last 24 h",
                )),
                fmt("<h2>Spec</h2><details><summary>the latest version's spec</summary>"
                    "<pre>{}</pre></details>",
                    json.dumps(spec, indent=2, sort_keys=True, default=str)),
            ]
        )  # fmt: skip
        return name, body, 200


def _cached(app: FastAPI, name: str) -> tuple[list[Any], list[Any]]:
    """The plans of the server's SLO or capacity service and its cached results."""
    service = getattr(app.state, name, None)
    if service is None:
        return [], []
    plans = list(service.config.plans.values())
    return plans, [result for _, result in list(service.cache.values())]


def _slo_table(plans: list[Any], statuses: list[Any]) -> Safe:
    latest: dict[str, Any] = {}
    for status in statuses:  # the newest computation of each SLO
        if status.slo.id not in latest or status.as_of > latest[status.slo.id].as_of:
            latest[status.slo.id] = status
    rows: list[tuple[Any, ...]] = []
    for plan in sorted(plans, key=lambda p: p.slo.id):
        st = latest.get(plan.slo.id)
        link = fmt('<a href="/v1/slo/{}">JSON</a>', quote(plan.slo.id, safe=""))
        if st is None or st.error_ratio is None:
            rows.append((plan.slo.id, plan.slo.service, f"{plan.slo.objective}%", None, None,
                         None, link))  # fmt: skip
            continue
        met = 100.0 * (1.0 - st.error_ratio) >= plan.slo.objective
        rows.append(
            (
                plan.slo.id,
                plan.slo.service,
                f"{plan.slo.objective}%",
                f"{100.0 * (1.0 - st.error_ratio):.3f}%",
                fmt(
                    '<span class="{}">{}</span>', "ok" if met else "bad", "met" if met else "missed"
                ),
                None if st.budget_remaining is None else f"{st.budget_remaining:.0%}",
                link,
            )
        )
    return table(
        ("SLO", "service", "objective", "compliance", "", "budget left", "status"),
        rows,
        "no SLO on this server (start it with --slo)",
    )


def _capacity_table(plans: list[Any], found: list[Any]) -> Safe:
    latest = {rec.spec.service: rec for rec in found}
    rows = []
    for spec in sorted(plans, key=lambda p: p.service):
        rec = latest.get(spec.service)
        rows.append(
            (
                spec.service,
                spec.model,
                None if rec is None else rec.clamped.replicas,
                None if rec is None else rec.version,
                fmt('<a href="/v1/capacity/{}">JSON</a>', quote(spec.service, safe="")),
            )
        )
    return table(
        ("service", "model", "replicas now", "model version", "plan"),
        rows,
        "no capacity plan on this server (start it with --capacity-plans)",
    )


def _accuracy(records: list[Any]) -> Safe:
    """A line of the first numeric accuracy figure the verdicts' evidence carries."""
    for key in ("mase", "mae", "smape", "coverage"):
        values = [float(r.evidence[key]) for r in records if _number(r.evidence.get(key))]
        if values:
            return sparkline(values, key)
    return Safe('<span class="empty">no accuracy recorded</span>')


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short(value: Any, limit: int = 300) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _refused(exc: HTTPException) -> Response:
    if exc.status_code not in (401, 403):
        raise exc
    body = fmt('<p class="error">{}</p><p><a href="/ui/login">Log in again</a></p>', exc.detail)
    response = _html(page("Not allowed", body), exc.status_code)
    if exc.status_code == 401:
        response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


def _set_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
