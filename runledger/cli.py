"""The ``runledger`` command: one subcommand per module of ``runledger.commands``.

runledger local run [REQUEST.json ...]   the whole pipeline offline, on sample requests
runledger graph [--format svg|png] [-o F] the workflow as a graph (Graphviz)
runledger report RUN_ID --stack S|--table T   one HTML page for one run
runledger cost [RUN_ID] --table T|--stack S [--group-by ...] [--actual] [--format ...]
                                         estimated (and actual) cost of runs

Each module in ``COMMANDS`` has ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments, returns the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

COMMANDS = (
    "runledger.commands.local",
    "runledger.commands.graph",
    "runledger.commands.report",
    "runledger.commands.cost",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runledger", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # pool-size chatter
    try:
        return int(args.func(args))
    except UsageError as exc:
        parser.error(str(exc))


class UsageError(Exception):
    """A mistake in the command line the user can fix; shown as argparse shows its own."""


if __name__ == "__main__":
    sys.exit(main())
