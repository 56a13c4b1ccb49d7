"""The ``runledger`` command: one subcommand per module of ``runledger_cli.commands``.

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
import atexit
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from runledger_cli.errors import ExitStatus, UsageError
from runledger_cli.terminal import EscapingStream, one_line

COMMANDS = (
    "runledger_cli.commands.local",
    "runledger_cli.commands.graph",
    "runledger_cli.commands.report",
    "runledger_cli.commands.cost",
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
        # One line, the cause (argparse's own errors print the usage line first).
        print(f"{parser.prog}: error: {one_line(str(exc))}", file=sys.stderr)
        return ExitStatus.USAGE


def run() -> NoReturn:
    """The ``runledger`` console script: ``main()``, then end the process at once.

    After ``local run`` the process holds moto's whole cloud (about 300 MB in millions of
    objects), which Python's own shutdown frees one by one: 1.2-1.5 s after the last line
    was printed. Here the atexit handlers still run (multiprocessing's, logging's, ...)
    and the output is flushed; only the freeing is skipped, which the OS does at once.
    ``main()`` stays an ordinary function, for callers in the same process.
    """
    # Run ids, reasons and causes come from table items: never raw to the terminal.
    sys.stdout = EscapingStream(sys.stdout)
    sys.stderr = EscapingStream(sys.stderr)
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (| head) or stream: there is nothing left to keep.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
