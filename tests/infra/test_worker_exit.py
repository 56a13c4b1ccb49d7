"""An xdist worker ends at once after its last report (tests/worker_exit.py), and the run
keeps its answer: the failing test and the exit code reach the controller."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

from worker_exit import end_worker_at_once, is_worker

TESTS_DIR = Path(__file__).resolve().parent.parent

CONFTEST = """
import pytest
from worker_exit import end_worker_at_once

@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config):
    end_worker_at_once(config)
"""

TESTS = """
import atexit, os

class FreedAtShutdown:
    def __init__(self, path, opener=open):  # kept here: os may be gone when __del__ runs
        self.path, self.open = path, opener

    def __del__(self):  # runs when the interpreter frees this module's globals
        self.open(self.path, "w").close()

KEPT = FreedAtShutdown(os.environ["MARKS"] + "/freed")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
atexit.register(lambda: open(os.environ["MARKS"] + "/atexit-" + WORKER, "w").close())

def test_passes():
    assert True

def test_fails():
    assert 1 == 2
"""


def run_suite(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    suite, marks = tmp_path / "suite", tmp_path / "marks"
    suite.mkdir()
    marks.mkdir()
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "test_both.py").write_text(TESTS)
    # Not this run's xdist variables: the suite's own run sets its own.
    outer = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    env = {**outer, "PYTHONPATH": str(TESTS_DIR), "MARKS": str(marks)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(suite)],
        capture_output=True,
        text=True,
        env=env,
        cwd=suite,
        timeout=120,
        check=False,
    )
    return done, {path.name for path in marks.iterdir()}


def test_a_worker_runs_its_atexit_handlers_skips_the_freeing_and_the_run_keeps_its_answer(
    tmp_path: Path,
) -> None:
    done, marks = run_suite(tmp_path, "-n", "1")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout
    assert "test_both.py::test_fails" in done.stdout
    assert "atexit-gw0" in marks  # multiprocessing's and logging's handlers run too
    assert "freed" not in marks  # the heap was left to the OS


def test_the_controller_and_a_run_without_xdist_are_left_to_end_as_pytest_ends_them() -> None:
    controller = types.SimpleNamespace()  # a config without xdist's workerinput
    end_worker_at_once(controller)  # type: ignore[arg-type]
    # Still running: only a process whose config carries workerinput ends at once.
    assert not is_worker(controller)  # type: ignore[arg-type]
