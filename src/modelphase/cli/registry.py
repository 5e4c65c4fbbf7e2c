"""``modelphase registry serve``: the registry's HTTP API, the one process that holds the
database's credentials."""

from __future__ import annotations

import ipaddress
import signal
from pathlib import Path

import typer

from modelphase.cli._render import err
from modelphase.config import get_settings
from modelphase.exceptions import ValidationError
from modelphase.registry import Registry, is_remote
from modelphase.registry.store import safe_url

app = typer.Typer(
    help="The registry's HTTP API: run it where the database's credentials are; everyone "
    "else sets MODELPHASE_REGISTRY_URL=http(s)://HOST:PORT and a token.",
    no_args_is_help=True,
)


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8100, "--port", min=0, max=65535, help="Port to listen on."),
    registry: str | None = typer.Option(
        None,
        "--registry",
        help="The registry database URL (credentials included) \\[env MODELPHASE_REGISTRY_URL].",
    ),
    artifacts: str | None = typer.Option(
        None,
        "--artifacts",
        help="The artifact store: a folder or fsspec URL \\[env MODELPHASE_ARTIFACTS_URL].",
    ),
    max_artifact: int = typer.Option(
        256 * 1024 * 1024, "--max-artifact-bytes", min=1, help="Largest artifact accepted."
    ),
    max_metadata: int = typer.Option(
        1024 * 1024, "--max-metadata-bytes", min=1024, help="Largest JSON body accepted."
    ),
    max_uploads: int = typer.Option(
        4, "--max-uploads", min=1, max=256, help="Artifact uploads held in memory at once."
    ),
    upload_timeout: float = typer.Option(
        600.0, "--upload-timeout", min=1.0, help="Seconds an artifact upload may take."
    ),
    body_timeout: float = typer.Option(
        30.0, "--body-timeout", min=0.1, help="Seconds a JSON body may take after its headers."
    ),
    header_timeout: float = typer.Option(
        10.0, "--header-timeout", min=0.1, help="Seconds a request's headers may take."
    ),
    ssl_certfile: Path | None = typer.Option(
        None, "--ssl-certfile", help="Serve HTTPS with this certificate (PEM)."
    ),
    ssl_keyfile: Path | None = typer.Option(
        None, "--ssl-keyfile", help="The certificate's private key (PEM)."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
) -> None:
    """Serve the registry at /v1/registry/ (the API is described at /docs, /healthz
    says it is alive). Every request carries 'Authorization: Bearer <token>' and the
    token's role decides what it may do: viewers read, trainers register, deployers move
    aliases, admins manage tokens. The first admin token comes from `modelphase tokens
    bootstrap`, run here."""
    import uvicorn

    from modelphase.serve.registry_api import (
        RegistryAPIConfig,
        create_registry_app,
        uvicorn_options,
    )

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise typer.BadParameter("--ssl-certfile and --ssl-keyfile go together")
    url = registry or get_settings().registry_url
    if is_remote(url):
        raise ValidationError(
            "expected the registry's database URL (sqlite:///... or "
            "postgresql+psycopg://...), got an http(s) URL: this command is the HTTP API. "
            "Fix: run it where the database's credentials are, with --registry DBURL"
        )
    reg = Registry(url, artifacts=artifacts, database_admin=True)
    config = RegistryAPIConfig(
        max_artifact=max_artifact,
        max_metadata=max_metadata,
        max_uploads=max_uploads,
        upload_timeout=upload_timeout,
        body_timeout=body_timeout,
        header_timeout=header_timeout,
    )
    api = create_registry_app(reg, config)
    signal.signal(signal.SIGTERM, _clean_exit)
    scheme = "https" if ssl_certfile else "http"
    if scheme == "http" and not _loopback(host):
        err.print(
            "[yellow]warning:[/] tokens cross the network in clear without TLS; pass "
            "--ssl-certfile and --ssl-keyfile (or put a TLS proxy in front)"
        )
    err.print(
        f"serving the registry {safe_url(reg.db.url)} at {scheme}://{host}:{port} (docs at /docs)"
    )
    try:
        uvicorn.run(
            api,
            host=host,
            port=port,
            log_level="info",
            access_log=access_log,
            ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
            ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
            timeout_graceful_shutdown=30,
            **uvicorn_options(config),
        )
    finally:
        reg.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clean_exit(signum: int, frame: object) -> None:
    raise SystemExit(0)
