"""``runledger`` as a user runs it: ``local run`` through the console script in a separate
process (tests/local/test_local_run_cli.py, the fuzz tier's checks in tests/fuzz_checks.py),
and a command's refusals through its ``main()`` in this process (``in_process``)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
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


def in_process(*argv: str) -> tuple[object, str, str]:
    """``runledger ARGV`` through ``runledger_cli.cli.main`` in this process: (exit code,
    stdout, stderr), its output escaped as the console script escapes it. The local cloud
    is a stand-in that raises ``CloudStarted``: a refusal never gets there. Each real
    process costs an interpreter and the command's imports."""
    out, err = io.StringIO(), io.StringIO()
    code: object
    with (
        mock.patch("runledger_local.cloud.LocalPipeline", side_effect=CloudStarted),
        contextlib.redirect_stdout(EscapingStream(out)),  # type: ignore[type-var]
        contextlib.redirect_stderr(EscapingStream(err)),  # type: ignore[type-var]
    ):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()
