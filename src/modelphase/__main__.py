"""``python -m modelphase``: the command-line interface."""

from modelphase.cli import main

main()
