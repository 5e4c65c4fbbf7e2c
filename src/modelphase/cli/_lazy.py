"""Sub-commands imported only when they run: the root group's start-up cost is its own.

Every command module imports what its command needs (the canary judge pulls in
scipy.stats, capacity and demo pull in matplotlib and the forecasters), so a root group
that imports them all makes ``modelphase triage ...`` pay seconds for code it never
runs. :class:`LazyGroup` is Click's documented lazy-loading pattern ("Complex
Applications": a group whose ``list_commands`` names the commands and whose
``get_command`` imports one on demand) on Typer's group class, so Typer's rich help,
its error messages and its "Did you mean" suggestions stay as they were.

Where the command comes from. A table maps each name to ``"module:attribute"``: a
``typer.Typer`` (a group) or a command function. The attribute is turned into a Click
command exactly as ``add_typer`` / ``command`` on the root would have done: a one-entry
Typer with the root's settings is built around it and converted by
``typer.main.get_group``, so options, help, callbacks and exit codes are Typer's own.

Where the help of the listing comes from. ``modelphase --help`` (and ``modelphase``
alone) lists every command with the first paragraph of its help. That help is read from
the command module's source with :mod:`ast`, without running it: a command function's
docstring, or the literal ``help=`` of the ``typer.Typer(...)`` call that makes a group,
cleaned as Typer cleans them. The module stays the single source of its help; there is
no copy to drift. When the source is not of that shape (a computed help, a callback with
its own ``help=``), the listing imports the module and asks the real command instead:
slower, never wrong. ``tests/test_cli_startup.py`` checks that the listing equals the
one built from the real commands.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from collections.abc import Mapping
from difflib import get_close_matches
from typing import ClassVar

import typer
import typer.main
from typer.core import MarkupMode, TyperCommand, TyperGroup

try:  # Typer >= 0.2x runs on its own copy of Click, which its classes are made of
    from typer._click.core import Command, Context
    from typer._click.exceptions import UsageError
    from typer._click.formatting import HelpFormatter
except ImportError:  # older Typer runs on Click itself
    from click.core import Command, Context  # type: ignore[assignment]
    from click.exceptions import UsageError  # type: ignore[assignment]
    from click.formatting import HelpFormatter  # type: ignore[assignment]


def load_command(
    name: str, target: str, *, rich_markup_mode: MarkupMode, suggest_commands: bool
) -> Command:
    """Import ``target`` (``"module:attribute"``) and make it the command ``name``, the way
    the root's ``add_typer`` (a Typer) or ``command`` (a function) would have."""
    module_name, _, attribute = target.partition(":")
    obj = getattr(importlib.import_module(module_name), attribute)
    holder = typer.Typer(rich_markup_mode=rich_markup_mode, suggest_commands=suggest_commands)
    if isinstance(obj, typer.Typer):
        holder.add_typer(obj, name=name)
    else:
        holder.command(name)(obj)
    return typer.main.get_group(holder).commands[name]


def source_help(target: str) -> str | None:
    """The help Typer would give ``target``, read from its module's source without
    importing it; None when the source does not say it plainly."""
    module_name, _, attribute = target.partition(":")
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    with open(spec.origin, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), filename=spec.origin)
    found: str | None = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == attribute:
            found = ast.get_docstring(node, clean=True)
        elif (
            isinstance(node, ast.Assign)
            and [_name(t) for t in node.targets] == [attribute]
            and isinstance(node.value, ast.Call)
            and _name(node.value.func) == "typer.Typer"
        ):
            found = _literal_help(node.value)
    if found is None or _callback_help(tree, attribute):
        return None
    return found


def _literal_help(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "help":
            try:
                value = ast.literal_eval(keyword.value)
            except ValueError:
                return None
            return inspect.cleandoc(value) if isinstance(value, str) else None
    return None


def _callback_help(tree: ast.Module, attribute: str) -> bool:
    """Whether ``attribute.callback(help=...)`` is called: its help outranks the Typer's."""
    return any(
        isinstance(node, ast.Call)
        and _name(node.func) == f"{attribute}.callback"
        and any(k.arg in ("help", "short_help") for k in node.keywords)
        for node in ast.walk(tree)
    )


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands in :attr:`lazy_commands` are imported on first use.

    Subclass it with the table (``{"name": "module:attribute"}``, in listing order) and
    pass the subclass as ``typer.Typer(cls=...)``. Commands registered the usual way
    still work and are listed first.
    """

    lazy_commands: ClassVar[Mapping[str, str]] = {}

    def __init__(self, **attrs: object) -> None:
        super().__init__(**attrs)  # type: ignore[arg-type]
        self._loaded: dict[str, Command] = {}
        self._listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        eager = [name for name in super().list_commands(ctx) if name not in self.lazy_commands]
        return [*eager, *self.lazy_commands]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        if cmd_name in self._loaded:
            return self._loaded[cmd_name]
        if self._listing:
            text = source_help(target)
            if text is not None:
                # a stand-in that only carries the name and help the listing prints
                return TyperCommand(name=cmd_name, help=text)
        command = load_command(
            cmd_name,
            target,
            rich_markup_mode=self.rich_markup_mode,
            suggest_commands=self.suggest_commands,
        )
        self._loaded[cmd_name] = command
        return command

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        # Typer suggests close names from the commands it holds, which leaves out the
        # ones not loaded yet; the suggestion is made from every listed name instead
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            if self.suggest_commands and args and "Did you mean" not in exc.message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    names = ", ".join(f"{m!r}" for m in matches)
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {names}?"
            raise
