"""``runledger local run`` as a user runs it: the console script in a separate process
(tests/local/test_local_run_cli.py, the fuzz tier's checks in tests/fuzz_checks.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
