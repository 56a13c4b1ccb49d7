"""``runledger`` as a user runs it: ``local run`` through the console script in a separate
process (tests/local/test_local_run_cli.py, the fuzz tier's checks in tests/fuzz_checks.py),
and a command's refusals through its ``main()`` in this process (``in_process``; the
fuzz tier's ``cli_in_process`` shares its ``stand_in_cloud``)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from runledger_cli.cli import main
from runledger_cli.terminal import EscapingStream

RUNLEDGER = Path(sys.executable).with_name("runledger")


def local_run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``runledger local run ARGS``: its exit code and output (text)."""
    return subprocess.run(
        [str(RUNLEDGER), "local", "run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class CloudStarted(Exception):
    """Raised instead of starting the local cloud: the command admitted its arguments."""


@contextlib.contextmanager
def stand_in_cloud() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """For a command's ``main()`` in this process: the local cloud is a stand-in that
    raises ``CloudStarted``, and stdout and stderr go, escaped as the console script
    escapes them, to the two buffers yielded."""
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch("runledger_local.cloud.LocalPipeline", side_effect=CloudStarted),
        contextlib.redirect_stdout(EscapingStream(out)),  # type: ignore[type-var]
        contextlib.redirect_stderr(EscapingStream(err)),  # type: ignore[type-var]
    ):
        yield out, err


def in_process(*argv: str) -> tuple[object, str, str]:
    """``runledger ARGV`` through ``runledger_cli.cli.main`` in this process, with the
    ``stand_in_cloud``: (exit code, stdout, stderr). A refusal never gets to the cloud.
    Each real process costs an interpreter and the command's imports."""
    code: object
    with stand_in_cloud() as (out, err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()
