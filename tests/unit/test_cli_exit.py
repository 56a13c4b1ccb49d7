"""The ``runledger`` console script ends the process itself (runledger_cli.cli.run)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_console_script_keeps_exit_code_output_and_atexit_handlers() -> None:
    # A command that fails (exit 1: nothing answers on a closed loopback port), with a
    # line still in stdout's buffer (a pipe: block-buffered) and an atexit handler.
    script = (
        "import atexit, sys\n"
        "atexit.register(print, 'atexit handler ran')\n"
        "print('a line still in the buffer')\n"
        "sys.argv = ['runledger', 'cost', '--table', 'runs', "
        "'--endpoint-url', 'http://127.0.0.1:9']\n"
        "from runledger_cli.cli import run\n"
        "run()\n"
        "print('not reached: run() ends the process')\n"
    )
    unbuffered_off = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**unbuffered_off, "AWS_MAX_ATTEMPTS": "1"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == ["a line still in the buffer", "atexit handler ran"]
    assert done.stderr.startswith("runledger cost: Could not connect to the endpoint URL")
