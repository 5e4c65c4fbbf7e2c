"""``modelphase tokens ...``: API tokens and their roles (admins only)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._registry import chosen_url, open_registry, registry_options
from modelphase.cli._render import err, out, print_json
from modelphase.exceptions import ValidationError
from modelphase.registry import Registry, Role, TokenInfo, is_remote

app = typer.Typer(
    help="API tokens for the registry and the server. Roles: viewer < trainer (registers) "
    "< deployer (moves aliases) < admin (manages tokens). Tokens are stored hashed and "
    "shown once.",
    no_args_is_help=True,
)
app.callback()(registry_options)


@app.command("create")
def create_command(
    name: str = typer.Option(..., "--name", help="Who or what uses the token."),
    role: str = typer.Option(..., "--role", help="viewer, trainer, deployer or admin."),
    as_json: bool = typer.Option(False, "--json", help="Print the record and secret as JSON."),
) -> None:
    """Create a token; prints its secret as the last line (it is not shown again)."""
    with open_registry() as reg:
        info, secret = reg.create_token(name, Role.parse(role))
    _show_secret(info, secret, as_json, "created")


@app.command("bootstrap")
def bootstrap_command(
    name: str = typer.Option("admin", "--name", help="Who holds the first admin token."),
    as_json: bool = typer.Option(False, "--json", help="Print the record and secret as JSON."),
) -> None:
    """Make a registry's first admin token, with direct database access (run it where the
    database's credentials are); refused once the registry has a live admin token.
    Prints its secret as the last line (it is not shown again)."""
    url = chosen_url()
    if is_remote(url):
        raise ValidationError(
            "expected the registry's database URL, got its HTTP API: the first admin token "
            "is made with direct database access. Fix: run `modelphase tokens bootstrap` "
            "where the database's credentials are (--registry postgresql+psycopg://...)"
        )
    info, secret = Registry.bootstrap_admin(url, name)
    _show_secret(info, secret, as_json, "bootstrapped")


def _show_secret(info: TokenInfo, secret: str, as_json: bool, verb: str) -> None:
    if as_json:
        print_json({**info.to_dict(), "token": secret})
        return
    err.print(
        f"{verb} token {info.id} for {escape(info.name)} with role {info.role}; store the "
        "secret below now, it is not shown again"
    )
    typer.echo(secret)


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json")) -> None:
    """List tokens (never their secrets)."""
    with open_registry() as reg:
        infos = reg.tokens()
    if as_json:
        print_json([i.to_dict() for i in infos])
        return
    table = Table(title="tokens", title_justify="left")
    for col in ("id", "name", "role", "created", "by", "revoked"):
        table.add_column(col)
    for i in infos:
        table.add_row(
            i.id, escape(i.name), i.role, i.created_at[:19], escape(i.created_by),
            (i.revoked_at or "")[:19],
        )  # fmt: skip
    out.print(table)


@app.command("revoke")
def revoke_command(token_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Revoke a token by id; it stops working within seconds, in open sessions too."""
    with open_registry() as reg:
        info = reg.revoke_token(token_id)
    err.print(f"revoked token {info.id} ({escape(info.name)}) at {info.revoked_at}")
