"""State a patch keeps for one execution, on that execution's event manager.

moto gives each execution one ``EventManager``, shared by all its frames (Map iterations,
Parallel branches). A patch that must order its bookkeeping against the execution's
events keeps that bookkeeping here, under the execution's own lock, rather than under a
lock of the process: with one process-wide lock, 1,000 runs at once kept 1,700 threads
queued on it, and each wake-up handed the GIL round a convoy (tests/load, make test-load).
Every patch shares the same lock (re-entrant), so no two locks can be taken in both orders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

_ATTRIBUTE: Final = "_runledger_per_execution"
_CREATION: Final = threading.Lock()


class PerExecution:
    """One execution's lock, and each patch's state by the patch's name."""

    __slots__ = ("lock", "states")

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.states: dict[str, Any] = {}


def of(manager: Any) -> PerExecution:
    """The execution state kept on ``manager`` (an ``EventManager``), made on first use."""
    found = manager.__dict__.get(_ATTRIBUTE)
    if found is None:
        with _CREATION:
            found = manager.__dict__.setdefault(_ATTRIBUTE, PerExecution())
    return found  # type: ignore[no-any-return]


def state[T](manager: Any, name: str, make: Callable[[], T]) -> tuple[threading.RLock, T]:
    """The execution's lock and patch ``name``'s state for it (``make()`` on first use)."""
    execution = of(manager)
    found = execution.states.get(name)
    if found is None:
        with execution.lock:
            found = execution.states.get(name)
            if found is None:
                found = execution.states[name] = make()
    return execution.lock, found
