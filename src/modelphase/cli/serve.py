"""``modelphase serve``: the registry's production models over HTTP."""

from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path

import typer

from modelphase.cli._registry import REGISTRY, TOKEN_FILE
from modelphase.cli._render import err
from modelphase.config import get_settings, read_token_file
from modelphase.decide import read_analysis_file
from modelphase.decide.slo import plan_rules, read_slo_file
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, parse_duration
from modelphase.ingest import PrometheusClient, RetryPolicy
from modelphase.registry import open_registry
from modelphase.serve.decide_api import CanaryConfig
from modelphase.serve.slo_api import SloConfig


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    registry: str | None = REGISTRY,
    token: str | None = typer.Option(
        None,
        "--token",
        help="The server's own token to read a shared registry \\[env "
        "MODELPHASE_TOKEN]; callers bring their own. Visible in `ps`: prefer --token-file "
        "or MODELPHASE_TOKEN_FILE.",
    ),
    token_file: Path | None = TOKEN_FILE,
    reload_interval: float = typer.Option(
        2.0,
        "--reload-interval",
        min=0.1,
        help="Seconds between looks at the registry's "
        "aliases: an alias move takes effect within this, without a restart.",
    ),
    decision_sample: float = typer.Option(
        1.0,
        "--decision-sample",
        min=0.0,
        max=1.0,
        help="Share of requests written to the decision log (home/decisions).",
    ),
    max_body: int = typer.Option(
        2_000_000, "--max-body", min=1024, help="Largest request body accepted, in bytes."
    ),
    workers: int = typer.Option(
        4,
        "--threads",
        min=1,
        help="Threads that run model calls on short inputs (refits, scoring); 16 "
        "requests per thread may wait for one.",
    ),
    heavy_workers: int = typer.Option(
        2,
        "--heavy-workers",
        min=1,
        help="Worker processes (at a lower priority) that run heavy requests "
        "(--heavy-points or more values, or a body over 64 KiB), apart from the rest; 2 "
        "requests per worker may wait for one; their fallbacks have one more.",
    ),
    heavy_in_threads: bool = typer.Option(
        False,
        "--heavy-in-threads",
        help="Run heavy requests on threads of the server's process instead (they then "
        "slow everything else down while they run).",
    ),
    heavy_points: int = typer.Option(
        10_000, "--heavy-points", min=1, help="Values from which a request is heavy."
    ),
    queue_wait: float = typer.Option(
        5.0,
        "--queue-wait",
        min=0.0,
        help="Seconds a request's work may wait for a thread before it is refused with "
        "503 (the latency budget counts from when the work starts).",
    ),
    token_rate: float = typer.Option(
        100.0,
        "--token-rate",
        min=0.001,
        help="Requests a second one token may send, sustained (more: 429).",
    ),
    token_burst: int = typer.Option(
        200, "--token-burst", min=1, help="Requests one token may send at once."
    ),
    token_concurrency: int = typer.Option(
        16,
        "--token-concurrency",
        min=1,
        help="Prediction requests one token may have in flight (more: 429).",
    ),
    token_heavy: int = typer.Option(
        2,
        "--token-heavy",
        min=1,
        help="Heavy prediction requests one token may have in flight (more: 429).",
    ),
    header_timeout: float = typer.Option(
        10.0,
        "--header-timeout",
        min=0.1,
        help="Seconds a client has to send a request's headers (then 408, closed).",
    ),
    body_timeout: float = typer.Option(
        30.0,
        "--body-timeout",
        min=0.1,
        help="Seconds a client has to send a request's body (then 408, closed).",
    ),
    keep_alive_timeout: int = typer.Option(
        5,
        "--keep-alive-timeout",
        min=1,
        help="Seconds an idle keep-alive connection is kept open.",
    ),
    limit_concurrency: int = typer.Option(
        1000,
        "--limit-concurrency",
        min=1,
        help="Connections or requests at once past which the server answers 503 "
        "(/healthz and /metrics still answer).",
    ),
    ssl_certfile: Path | None = typer.Option(
        None, "--ssl-certfile", help="Serve HTTPS with this certificate (PEM)."
    ),
    ssl_keyfile: Path | None = typer.Option(
        None, "--ssl-keyfile", help="The certificate's private key (PEM)."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    canary_analyses: list[Path] = typer.Option(
        [],
        "--canary-analysis",
        help="A canary analysis file (YAML) that POST /v1/canary/judge and /v1/canary/flagger "
        "may run by its name (repeat); see docs/canary.md.",
    ),
    prometheus: str | None = typer.Option(
        None,
        "--prometheus",
        help="The Prometheus the canary analyses and the SLOs read \\[env "
        "MODELPHASE_PROMETHEUS_URL]; "
        "token, basic auth and TLS from MODELPHASE_PROMETHEUS_*. Callers never choose it.",
    ),
    canary_timeout: float = typer.Option(
        20.0,
        "--canary-timeout",
        min=0.1,
        max=600.0,
        help="Seconds after which no more of a canary judgement's Prometheus queries start "
        "(then 504); each request also times out within it.",
    ),
    slo_files: list[Path] = typer.Option(
        [],
        "--slo",
        help="A Sloth or OpenSLO file whose SLOs GET /v1/slo/ID/status and /v1/slo/metrics "
        "serve, read from --prometheus (repeat); see docs/slo.md, Over HTTP.",
    ),
    slo_windows: str = typer.Option(
        "workbook", "--slo-windows", help="The SLOs' alert windows: workbook, sloth or a file."
    ),
    slo_period: str = typer.Option(
        "30d", "--slo-period", help="The SLO period for SLOs whose file gives none."
    ),
    slo_step: str = typer.Option(
        "5m", "--slo-step", help="The resolution the SLOs' queries read (10s to 1d)."
    ),
    capacity_plans: list[Path] = typer.Option(  # capacity plans over HTTP
        [],
        "--capacity-plans",
        help="A capacity plans file (YAML: service, model, demand query, capacity, risk...) "
        "whose plans GET /v1/capacity/SERVICE/plan and /v1/capacity/metrics serve, the "
        "demand read from --prometheus (repeat); see docs/capacity.md, Over HTTP.",
    ),
) -> None:
    """Serve every model with a production alias: forecasts at POST
    /v1/models/NAME/forecast, anomaly scores at POST /v1/models/NAME/score, what is
    loaded at GET /v1/models, /healthz, /readyz and /metrics; the API is described at
    /docs. Callers send 'Authorization: Bearer <token>' (any role may predict; create
    one with `modelphase tokens create --name NAME --role viewer`). A canary alias gets the
    share of traffic its canary plan gives it; a shadow alias is called after each
    answer and only compared and logged. Each token is held to --token-rate,
    --token-burst, --token-concurrency and --token-heavy (429 past them); work that
    finds no thread is refused with 503; both carry Retry-After. SIGTERM drains the
    requests in flight and writes every logged decision before the process exits.
    Canary verdicts for Argo Rollouts and Flagger at POST /v1/canary/judge and
    /v1/canary/flagger, with the --canary-analysis files read from --prometheus; the
    --slo files' error budgets at GET /v1/slo/ID/status and /v1/slo/metrics; the
    --capacity-plans files' replicas at GET /v1/capacity/SERVICE/plan and
    /v1/capacity/metrics, and plans of posted demand at POST /v1/capacity/plan."""
    import uvicorn

    from modelphase.serve import ServeConfig, create_app
    from modelphase.serve.capacity_api import CapacityConfig, read_plans_file
    from modelphase.serve.server import uvicorn_options

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise typer.BadParameter("--ssl-certfile and --ssl-keyfile go together")
    settings = get_settings()
    prometheus_client = _prometheus(
        canary_analyses, slo_files, prometheus, canary_timeout, capacity_plans
    )
    try:
        canary = _canary(canary_analyses, prometheus_client, canary_timeout)
        slo = _slo(slo_files, prometheus_client, slo_windows, slo_period, slo_step)
        capacity = CapacityConfig.of(  # the capacity plans
            {str(p): read_plans_file(p) for p in capacity_plans},
            prometheus=prometheus_client,
        )
    except BaseException:
        if prometheus_client is not None:
            prometheus_client.close()
        raise
    reg = open_registry(
        registry, token=read_token_file(token_file, "--token-file") if token_file else token
    )
    config = ServeConfig(
        home=settings.home,
        reload_interval=reload_interval,
        decision_sample=decision_sample,
        max_body=max_body,
        workers=workers,
        heavy_workers=heavy_workers,
        heavy_processes=not heavy_in_threads,
        heavy_points=heavy_points,
        queue_wait=queue_wait,
        token_rate=token_rate,
        token_burst=token_burst,
        token_concurrency=token_concurrency,
        token_heavy=token_heavy,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        keep_alive_timeout=keep_alive_timeout,
        limit_concurrency=limit_concurrency,
        canary=canary,
        slo=slo,
        capacity=capacity,
    )
    app = create_app(reg, config)
    # uvicorn drains and shuts down on SIGTERM, then raises the signal again for the
    # handler it found: exit 0 then, since the shutdown was clean
    signal.signal(signal.SIGTERM, _clean_exit)
    scheme = "https" if ssl_certfile else "http"
    err.print(
        f"serving the registry of {settings.home} at {scheme}://{host}:{port} (docs at /docs)"
    )
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="info",
            access_log=access_log,
            ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
            ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
            timeout_graceful_shutdown=30,
            **uvicorn_options(app),
        )
    finally:
        reg.close()
        if prometheus_client is not None:
            prometheus_client.close()


def _prometheus(
    analyses: list[Path],
    slos: list[Path],
    url: str | None,
    timeout: float,
    plans: list[Path],
) -> PrometheusClient | None:
    """The client of the Prometheus that the canary analyses, the SLOs and the capacity
    plans read (None without any: inline judgements and posted plans need none)."""
    given = [
        name
        for name, paths in (
            ("--canary-analysis", analyses), ("--slo", slos), ("--capacity-plans", plans)
        )
        if paths
    ]  # fmt: skip
    if not given:
        return None
    settings = get_settings().prometheus
    settings = replace(settings, url=url or settings.url)
    if not settings.url:
        needs = ", ".join(given[:-1]) + " and " + given[-1] if len(given) > 1 else given[0]
        raise typer.BadParameter(
            f"{needs} {'need' if len(given) > 1 else 'needs'} a Prometheus: pass "
            "--prometheus URL or set MODELPHASE_PROMETHEUS_URL"
        )
    return PrometheusClient.from_settings(
        settings,
        timeout=min(settings.timeout, timeout),
        retry=RetryPolicy(retries=1, backoff=0.2, max_backoff=1.0),
    )


def _canary(paths: list[Path], client: PrometheusClient | None, timeout: float) -> CanaryConfig:
    """The canary analyses of ``--canary-analysis``."""
    if not paths:
        return CanaryConfig(timeout=timeout)
    analyses = [read_analysis_file(path) for path in paths]
    return CanaryConfig.of(analyses, prometheus=client, timeout=timeout)


def _slo(
    paths: list[Path], client: PrometheusClient | None, windows: str, period: str, step: str
) -> SloConfig:
    """The SLOs of ``--slo``, with the windows of their periods."""
    from modelphase.cli.slo import _period, _windows  # the options `slo rules` has

    if not paths:
        return SloConfig()
    alert_windows, default_period = _windows(windows), _period(period)
    try:
        step_s = parse_duration(step) / NS_PER_SECOND
    except ValidationError as exc:
        raise typer.BadParameter(f"--slo-step: {exc}") from None
    if step_s != int(step_s):
        raise typer.BadParameter(f"--slo-step: expected whole seconds, got {step!r}")
    files = {}
    for path in paths:
        found = read_slo_file(path)
        files[str(path)] = plan_rules(
            found.slos, alert_windows, period=default_period, source=str(path)
        )[0]
    return SloConfig.of(files, prometheus=client, step=int(step_s))


def _clean_exit(signum: int, frame: object) -> None:
    raise SystemExit(0)
