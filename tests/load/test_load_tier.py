"""The load tier (make test-load): 1,000 requests of 3 variants written to the runs table as
fast as one client can, through the whole local pipeline (tests/load_run.py), within a
bound it prints. It asserts 1,000 final, 0 lost, 0 duplicated, 0 non-final, and prints
those figures with the wall time and the peak memory of the process tree (sampled by
bench/bench_local_runs.py's sampler, a process of its own). With RUNLEDGER_LOAD_RESULTS
set, the figures are appended to that file (one JSON line)."""

from __future__ import annotations

import os

import pytest
import tier_figures
from load_run import load

pytestmark = pytest.mark.load
REQUESTS = int(os.environ.get("RUNLEDGER_LOAD_REQUESTS", "1000"))
#: Seconds from the first write to the last run final: 1,000 runs took about 7 minutes on
#: this 2-core VM, beside other work (bench/results/load.jsonl); the bound leaves room for
#: a slower machine.
BOUND_SECONDS = float(os.environ.get("RUNLEDGER_LOAD_BOUND", "900"))


def test_every_request_of_a_load_ends_final_once_and_nothing_is_left_open(
    request: pytest.FixtureRequest,
) -> None:
    bound = f"bound {BOUND_SECONDS:.0f} s"
    tier_figures.say(request.config, f"load: {REQUESTS} requests x 3 variants, {bound}")
    with tier_figures.tier_pipeline("load") as (pipeline, peak, log):
        figures = load(pipeline, REQUESTS, "load", BOUND_SECONDS)
    peak_mb = peak[0]
    tier_figures.say(
        request.config,
        f"load: final {figures.final} of {figures.requests}, lost {figures.lost}, "
        f"duplicated {figures.duplicated}, non-final {figures.non_final}; "
        f"{figures.executions} executions, {figures.jobs} jobs; written in "
        f"{figures.write_s:.1f} s, {'stopped waiting' if figures.lost else 'all final'} "
        f"after {figures.wall_s:.0f} s "
        f"({bound}), peak memory {peak_mb:.0f} MB; logs: {log}",
    )
    tier_figures.record(
        "RUNLEDGER_LOAD_RESULTS",
        {"cpus": os.cpu_count(), "bound_s": BOUND_SECONDS, "peak_mb": round(peak_mb, 1)}
        | figures.record(),
    )
    assert figures.problems() == []
    assert figures.wall_s <= BOUND_SECONDS
