"""The registry options shared by the commands that open the registry, and opening it:
a database URL gives the registry itself, an http(s) URL its HTTP API (with a token)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from modelphase.config import get_settings, read_token_file
from modelphase.exceptions import ValidationError
from modelphase.registry import Registry, RemoteRegistry
from modelphase.registry import open_registry as _open

__all__ = [
    "REGISTRY",
    "TOKEN",
    "TOKEN_FILE",
    "chosen_url",
    "open_database_registry",
    "open_registry",
    "registry_options",
]


@dataclass
class _Chosen:
    url: str | None = None
    token: str | None = None
    token_file: Path | None = None


_chosen = _Chosen()

REGISTRY = typer.Option(
    None,
    "--registry",
    help="The registry: its HTTP API (http(s)://HOST:PORT, `modelphase registry serve`) or, "
    "with the database's credentials, a database URL \\[env MODELPHASE_REGISTRY_URL].",
)
TOKEN = typer.Option(
    None,
    "--token",
    help="API token. Visible to anyone who can run `ps`: prefer --token-file, or "
    "MODELPHASE_TOKEN_FILE / MODELPHASE_TOKEN \\[env MODELPHASE_TOKEN].",
)
TOKEN_FILE = typer.Option(
    None,
    "--token-file",
    help="A file whose first line is the API token \\[env MODELPHASE_TOKEN_FILE].",
    show_default=False,
)


def registry_options(
    registry: str | None = REGISTRY,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Options of the command group (or of a command that calls this with its own),
    kept for :func:`open_registry`."""
    if not isinstance(token_file, Path):  # called from Python without it: the default
        token_file = None
    if token is not None and token_file is not None:
        raise ValidationError("expected --token or --token-file, got both. Fix: pass one")
    _chosen.url, _chosen.token, _chosen.token_file = registry, token, token_file


def open_registry() -> Registry | RemoteRegistry:
    """The registry the options (or the environment) name, acting as their token."""
    token = _chosen.token
    if _chosen.token_file is not None:
        token = read_token_file(_chosen.token_file, "--token-file")
    return _open(_chosen.url, token=token)


def open_database_registry(what: str) -> Registry:
    """The registry the options name, which must be its database (not its HTTP API):
    ``what`` says what is kept there, for the error."""
    reg = open_registry()
    if not isinstance(reg, Registry):
        reg.close()
        raise ValidationError(
            f"{what} are kept in the registry database: expected a database URL "
            "(sqlite:///... or postgresql+psycopg://...), got an HTTP registry. Fix: pass "
            "--registry DATABASE_URL with a deployer's token"
        )
    return reg


def chosen_url() -> str | None:
    """The registry URL the options or the environment name (None: the default)."""
    return _chosen.url or get_settings().registry_url
