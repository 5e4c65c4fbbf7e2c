"""The ``modelphase`` command line: a thin Typer app over the library."""

from modelphase.cli.app import app, main

__all__ = ["app", "main"]
