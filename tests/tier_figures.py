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
import sys
from collections.abc import Iterator
from pathlib import Path
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


@contextlib.contextmanager
def peak_memory() -> Iterator[list[float]]:
    """Watch the peak PSS of this process tree (MB) from a process of its own
    (bench/bench_local_runs.py's sampler); the list holds it once the block has ended."""
    sampler = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "bench_local_runs.py"),
            "--watch-memory",
            str(os.getpid()),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    peak: list[float] = []
    try:
        yield peak
    finally:
        peak.append(int(sampler.communicate(timeout=30)[0]) / 2**20)


@contextlib.contextmanager
def tier_pipeline(tier: str, **options: Any) -> Iterator[tuple[Any, list[float], Path]]:
    """A LocalPipeline named ``runledger-<tier>`` (``options`` passed on), what its
    handlers print sent to reports/<tier>.log, and the peak memory of this process tree
    watched: ``(pipeline, peak, log)``, ``peak`` holding the MB once the block has ended."""
    from runledger_local.cloud import LocalPipeline

    log = REPO_ROOT / "reports" / f"{tier}.log"
    log.parent.mkdir(exist_ok=True)
    with (
        peak_memory() as peak,
        log.open("w") as handlers,
        contextlib.redirect_stdout(handlers),
        LocalPipeline(stack_name=f"runledger-{tier}", **options) as pipeline,
    ):
        yield pipeline, peak, log
