"""The bench's account of the engine's CPU by kind of thread (bench/bench_local_runs.py)."""

from __future__ import annotations

import threading
import time
from types import ModuleType


def burn(seconds: float) -> None:
    """Spend about ``seconds`` of this thread's CPU time."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_threads_of_one_kind_add_up_and_later_ones_are_left_out(bench: ModuleType) -> None:
    original_run = threading.Thread.run
    with bench.ThreadCpu() as threads:
        workers = [
            threading.Thread(target=burn, args=(0.05,), name=f"Thread-{n} (burn)") for n in (7, 12)
        ]
        idle = threading.Thread(target=time.sleep, args=(0.05,), name="idle-1")
        for thread in (*workers, idle):
            thread.start()
        for thread in (*workers, idle):
            thread.join()
    assert threading.Thread.run is original_run  # put back on the way out
    after = threading.Thread(target=burn, args=(0.05,), name="Thread-99 (burn)")
    after.start()
    after.join()

    assert threads.threads == {"Thread-# (burn)": 2, "idle-#": 1}
    assert 0.1 <= threads.seconds["Thread-# (burn)"] < 0.14  # both, and not the third
    assert threads.seconds["idle-#"] < 0.02  # sleeping is not CPU
    assert threads.describe().startswith("Thread-# (burn) x2 0.1")


def test_a_thread_kind_drops_numbers_and_job_ids(bench: ModuleType) -> None:
    assert bench.thread_kind("Thread-1277 (_exec_and_notify)") == "Thread-# (_exec_and_notify)"
    job = "batch-7c1e2f0a-93b4-4c2d-8e1f-0a2b3c4d5e6f"
    assert bench.thread_kind(job) == "batch-#"
    assert bench.thread_kind("lambda-runledger-bench-Fn") == "lambda-runledger-bench-Fn"
