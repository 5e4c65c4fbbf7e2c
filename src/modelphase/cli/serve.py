"""``modelphase serve``: the registry's production models over HTTP."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from modelphase.cli._render import err
from modelphase.config import get_settings
from modelphase.registry import Registry


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    registry: str | None = typer.Option(
        None, "--registry", help="Registry database URL \\[env MODELPHASE_REGISTRY_URL]."
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        help="The server's own token to read a shared registry \\[env "
        "MODELPHASE_TOKEN]; callers bring their own.",
    ),
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
        4, "--threads", min=1, help="Threads that run model calls (refits, scoring)."
    ),
    ssl_certfile: Path | None = typer.Option(
        None, "--ssl-certfile", help="Serve HTTPS with this certificate (PEM)."
    ),
    ssl_keyfile: Path | None = typer.Option(
        None, "--ssl-keyfile", help="The certificate's private key (PEM)."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
) -> None:
    """Serve every model with a production alias: forecasts at POST
    /v1/models/NAME/forecast, anomaly scores at POST /v1/models/NAME/score, what is
    loaded at GET /v1/models, /healthz, /readyz and /metrics; the API is described at
    /docs. Callers send 'Authorization: Bearer <token>' (any role may predict; create
    one with `modelphase tokens create --name NAME --role viewer`). A canary alias gets the
    share of traffic its canary plan gives it; a shadow alias is called after each
    answer and only compared and logged. SIGTERM drains the requests in flight and
    writes every logged decision before the process exits."""
    import uvicorn

    from modelphase.serve import ServeConfig, create_app

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise typer.BadParameter("--ssl-certfile and --ssl-keyfile go together")
    settings = get_settings()
    reg = Registry(registry, token=token)
    config = ServeConfig(
        home=settings.home,
        reload_interval=reload_interval,
        decision_sample=decision_sample,
        max_body=max_body,
        workers=workers,
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
        )
    finally:
        reg.close()


def _clean_exit(signum: int, frame: object) -> None:
    raise SystemExit(0)
