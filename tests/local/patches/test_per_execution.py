"""The per-execution state the event patches share (runledger_local/patches/_per_execution)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from runledger_local.patches import _per_execution as per_execution


class _Manager:  # stands in for moto's EventManager: an object with a __dict__
    pass


def test_each_execution_has_its_own_lock_and_every_patch_shares_it() -> None:
    first, second = _Manager(), _Manager()
    lock_a, _ = per_execution.state(first, "a", dict)
    lock_b, _ = per_execution.state(first, "b", list)
    other, _ = per_execution.state(second, "a", dict)

    assert lock_a is lock_b  # one lock per execution: no two locks taken in both orders
    assert lock_a is not other  # and none shared between executions
    assert isinstance(lock_a, type(threading.RLock()))


def test_a_patch_state_is_made_once_however_many_threads_ask_at_once() -> None:
    manager = _Manager()
    made: list[object] = []
    start = threading.Barrier(32)

    def make() -> object:
        time.sleep(0.05)  # the others ask meanwhile
        made.append(object())
        return made[-1]

    def ask(_: int) -> object:
        start.wait()
        return per_execution.state(manager, "patch", make)[1]

    with ThreadPoolExecutor(32) as pool:
        answers = set(map(id, pool.map(ask, range(32))))

    assert len(made) == 1
    assert answers == {id(made[0])}
