"""Local clouds shared by the tests of one worker (tests/conftest.py uses them).

Starting a local cloud takes seconds, and only one may be active in a process (it takes
moto's backends over; an in-process ``mock_aws`` would reset them). So the test files
that ask for a shared cloud's fixture run on one worker, one after another, with one cloud:
``make test`` distributes files (``--dist loadfile``) through ``GroupedFileScheduling``,
which sends a shared cloud's files as one unit and spreads out the files that mostly
wait (``WAITING``). pytest-xdist's own ``--dist loadgroup`` would group files with marks,
but 3.8 renames ``item._nodeid``, which pytest 9 no longer reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

REPO_ROOT = Path(__file__).resolve().parent.parent


class SharedCloud:
    """A local cloud started once for every test of ``files``, the files that ask for
    ``fixture``; stopped before a test of any other file (before its fixtures start)."""

    def __init__(
        self, fixture: str, start: Callable[[], AbstractContextManager[Any]], files: Iterable[str]
    ) -> None:
        self.fixture, self._start = fixture, start
        self.files = frozenset(REPO_ROOT / name for name in files)
        self._stack: contextlib.ExitStack | None = None
        self._cloud: Any = None

    def get(self) -> Any:
        if self._stack is None:
            stack = contextlib.ExitStack()
            self._cloud = stack.enter_context(self._start())
            self._stack = stack
        return self._cloud

    def stop(self) -> None:
        stack, self._stack, self._cloud = self._stack, None, None
        if stack is not None:
            stack.close()

    def asked_by(self, item: pytest.Item) -> bool:
        """Whether ``item`` uses ``fixture`` (not a parameter of the same name)."""
        callspec = getattr(item, "callspec", None)
        if callspec is not None and self.fixture in callspec.params:
            return False
        return self.fixture in getattr(item, "fixturenames", ())

    def check(self, items: Iterable[pytest.Item]) -> None:
        """Refuse a test file that asks for ``fixture`` without being one of ``files``."""
        asking = {item.path for item in items if self.asked_by(item)}
        strays = sorted(str(path.relative_to(REPO_ROOT)) for path in asking - self.files)
        if strays:
            raise pytest.UsageError(
                f"{', '.join(strays)} ask for the shared {self.fixture!r} fixture: add them to "
                f"its files in tests/conftest.py (SHARED_CLOUDS), so that they share its worker"
            )


def _start_pipeline() -> AbstractContextManager[Any]:
    from runledger_local.cloud import LocalPipeline

    return LocalPipeline(stack_name="runledger-test")


#: Every shared cloud by the fixture that gives it (tests/statemachine/conftest.py adds one).
SHARED_CLOUDS: dict[str, SharedCloud] = {
    "pipeline": SharedCloud(
        "pipeline",
        _start_pipeline,
        [
            "tests/local/test_pipeline.py",
            "tests/local/test_cost.py",
            "tests/report/test_report_local.py",
            "tests/local/test_fault_slice.py",
            "tests/local/test_concurrency.py",
            "tests/local/test_load_slice.py",
            "tests/local/test_fuzz_slice.py",
        ],
    ),
}


#: The files that take longest (seconds of waiting on local clouds in subprocesses), run
#: first so that no worker is left with one of them at the end (make test passes
#: --no-loadscope-reorder: work goes out in collection order). Measured with
#: ``pytest --durations=0``; a file missing here only runs later.
SLOW_FIRST = [
    "tests/local/test_local_run_cli.py",
    "tests/local/test_pipeline.py",
    "tests/local/test_serve.py",
    "tests/local/test_pipe_runner.py",
    "tests/infra/test_template.py",
    "tests/local/test_run_timeout.py",
]


def slow_first(items: list[pytest.Item]) -> None:
    """Order ``items`` (in place) with ``SLOW_FIRST``'s files (and the files sharing a
    cloud with one of them) first, in that order; the rest keep theirs."""
    rank: dict[Path, int] = {REPO_ROOT / name: index for index, name in enumerate(SLOW_FIRST)}
    for shared in SHARED_CLOUDS.values():
        first = min((rank[f] for f in shared.files if f in rank), default=None)
        if first is not None:
            rank.update(dict.fromkeys(shared.files, first))
    items.sort(key=lambda item: rank.get(item.path, len(SLOW_FIRST)))


#: The files that mostly wait (Wait states, timeouts, a command's --timeout): measured
#: alone (``pytest -p no:xdist``, CPU of the process and its children per file), their
#: CPU is under half their wall time, and they wait 0.8 s or more. Two of them at once on
#: two of make test's three workers leave a core idle (the patch tests came in a row in
#: collection order), so ``GroupedFileScheduling`` gives a worker one only while no other
#: worker holds one, unless nothing else is left. Measured 2026-12-07, make test's pytest
#: command in two worktrees (bytecode caches warm in both), 8 alternated pairs (2 with the
#: new one first): 0.81-1.05x the wall time, median 0.925x; idle core-seconds of the
#: whole run (/proc/stat) in the last two pairs: 13.6 -> 11.0 and 10.5 -> 9.1.
WAITING = frozenset(
    [
        "tests/local/test_local_run_cli.py",
        "tests/local/test_run_timeout.py",
        "tests/local/patches/test_execution_end.py",
        "tests/local/patches/test_branch_aborts.py",
        "tests/local/patches/test_branch_states_errors.py",
        "tests/local/patches/test_batch_sync.py",
        "tests/local/patches/test_lambda_bytes_payload.py",
        "tests/local/patches/test_jsonata.py",
        "tests/local/patches/test_describe_execution_output.py",
        "tests/local/patches/test_batch_sync_wake.py",
    ]
)


class GroupedFileScheduling(LoadFileScheduling):
    """pytest-xdist's ``loadfile``, with each shared cloud's files as one unit of work, and
    ``WAITING`` files on one worker at a time (in turn on it) while other files are left."""

    def _assign_work_unit(self, node: Any) -> None:
        self.workqueue.move_to_end(self._next_scope(node), last=False)
        super()._assign_work_unit(node)

    def _next_scope(self, node: Any) -> str:
        """The unit of work ``node`` gets next: the first waiting one if no other worker
        holds an unfinished one, else the first other one (the queue's order otherwise)."""
        waiting = [scope for scope in self.workqueue if scope in WAITING]
        if not waiting:
            return next(iter(self.workqueue))
        others_wait = any(
            scope in WAITING and not all(unit.values())
            for other, work in self.assigned_work.items()
            if other is not node
            for scope, unit in work.items()
        )
        if not others_wait:
            return waiting[0]
        return next((scope for scope in self.workqueue if scope not in WAITING), waiting[0])

    def _split_scope(self, nodeid: str) -> str:
        file = super()._split_scope(nodeid)
        for shared in SHARED_CLOUDS.values():
            if REPO_ROOT / file in shared.files:
                return f"shared cloud {shared.fixture}"
        return file
