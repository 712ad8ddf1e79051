"""The ``trading-agent`` subcommands other than serving: one module each.

Each module offers ``NAME``, ``add_parser(subparsers)`` (its arguments) and
``run(args) -> int`` (the exit status); :mod:`app.cli` lists them in ``COMMANDS``. Bare
``trading-agent`` still starts the service.
"""

import argparse
from typing import Any, Protocol


class Subparsers(Protocol):
    """What ``argparse.add_subparsers()`` returns (its own class is private)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A new subcommand's parser."""
        ...
