"""The bench's memory sampler (bench/bench_local_runs.py): what it adds up, and its estimate."""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType

MB = 2**20


def test_the_tree_counts_a_childs_memory_and_leaves_out_the_excluded(bench: ModuleType) -> None:
    # A child holding 64 MB of its own pages, waiting for its stdin to close. Measured
    # against the tree before it started: this process may have other children (a job
    # fork server an earlier test started).
    holder = "import sys; b = bytearray(64 * 2**20); print(flush=True); sys.stdin.read()"
    me = os.getpid()
    before = bench.tree_pss_bytes(me)
    child = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()  # allocated
        with_child = bench.tree_pss_bytes(me)
        without_child = bench.tree_pss_bytes(me, exclude=child.pid)
    finally:
        child.communicate(timeout=30)
    assert with_child - before > 64 * MB
    assert abs(without_child - before) < 16 * MB


def test_root_pss_between_full_reads_follows_what_the_process_adds(bench: ModuleType) -> None:
    root_pss = bench.RootPss(full_every=3600)  # one full read, then estimates only
    me = os.getpid()
    before = root_pss(me)
    held = bytearray(96 * MB)  # zero pages: resident once written
    held[::4096] = b"x" * len(held[::4096])
    estimate = root_pss(me)
    actual = bench._pss_bytes(me)
    assert estimate - before > 90 * MB
    assert abs(estimate - actual) < 8 * MB
    del held
