"""What the test tiers (make test-faults, test-concurrency, test-load, test-fuzz) print
and record: one line of figures on the terminal, and, when the tier's results variable is
set (the make target sets it), the same figures as one JSON line appended to its file
under bench/results/, with the date and the commit measured."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
from typing import Any

import pytest

from runledger_cli.sam_template import REPO_ROOT


def say(config: pytest.Config, line: str) -> None:
    """Print ``line`` on the terminal, even from inside a test or a fixture (where pytest
    captures what is written, and shows it only for a failure)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line(line)


def record(variable: str, figures: dict[str, Any]) -> None:
    """Append ``figures`` with the date and commit to the file ``$variable`` names, if set."""
    target = os.environ.get(variable)
    if not target:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    line = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit or "unknown",
        **figures,
    }
    with open(REPO_ROOT / target, "a") as results:
        results.write(json.dumps(line, sort_keys=True) + "\n")
