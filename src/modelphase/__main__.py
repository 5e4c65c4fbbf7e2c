"""``python -m modelphase``: the command-line interface."""

from modelphase.cli import main

if __name__ == "__main__":  # not when a worker process imports this module
    main()
