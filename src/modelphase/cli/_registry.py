"""The registry options shared by ``models`` and ``tokens``, and opening the registry."""

from __future__ import annotations

import typer

from modelphase.registry import Registry

_state: dict[str, str | None] = {"url": None, "token": None}


def registry_options(
    registry: str | None = typer.Option(
        None, "--registry", help="Registry database URL \\[env MODELPHASE_REGISTRY_URL]."
    ),
    token: str | None = typer.Option(None, "--token", help="API token \\[env MODELPHASE_TOKEN]."),
) -> None:
    """Options of the command group, kept for the command that runs next."""
    _state["url"], _state["token"] = registry, token


def open_registry() -> Registry:
    return Registry(_state["url"], token=_state["token"])
