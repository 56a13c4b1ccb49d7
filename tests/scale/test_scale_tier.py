"""The scale tier (make test-scale): one run of 1,000 jobs (100 variants x 10 repeats, the
most a request may hold: models.MAX_JOBS) through the whole local pipeline: the stream,
the pipe, the workflow's Distributed Map (each job a child execution of its own), the
handlers and the Batch jobs. It asserts that the run ends SUCCEEDED with 1,000 VARIANT#
items of this execution, each job's repeat and priced cost, that the Map Run started
1,000 children that all succeeded, and that the summary counts them; and prints the wall
time and the peak memory of the process tree (sampled by bench/bench_local_runs.py's
sampler, a process of its own). With RUNLEDGER_SCALE_RESULTS set, the figures are
appended to that file (one JSON line)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
import tier_figures

from runledger.models import MAX_JOBS, MAX_REPEATS
from runledger.usage import child_executions
from runledger_cli.sam_template import REPO_ROOT
from runledger_local.local_paths import localize_request

pytestmark = pytest.mark.scale
REQUEST = REPO_ROOT / "events" / "requests" / "kmer-valid-local.json"
#: Seconds from the write to the run final. The Map runs MaxConcurrency children at once
#: (the template's parameter, overridden here to what a benchmark of this size would ask).
BOUND_SECONDS = float(os.environ.get("RUNLEDGER_SCALE_BOUND", "900"))
CONCURRENCY = 40
#: Fargate sizes the variants cycle through (vCPU, MiB).
SIZES = ((0.25, 512), (0.5, 1024), (1, 2048), (2, 4096))


def thousand_job_request() -> dict[str, Any]:
    """events/requests/kmer-valid-local.json with MAX_JOBS / MAX_REPEATS variants, each
    repeated MAX_REPEATS times."""
    item = localize_request(json.loads(REQUEST.read_text()), REPO_ROOT)
    variants = [
        {
            "name": f"v{index:03d}",
            "vcpus": SIZES[index % len(SIZES)][0],
            "memory_mib": SIZES[index % len(SIZES)][1],
            "capacity": "SPOT" if index % 2 else "ON_DEMAND",
            "timeout_seconds": 600,
            "repeats": MAX_REPEATS,
        }
        for index in range(MAX_JOBS // MAX_REPEATS)
    ]
    return {**item, "pk": "RUN#scale-1000", "variants": variants}


def test_a_run_of_a_thousand_jobs_ends_succeeded_with_every_job_recorded_once(
    request: pytest.FixtureRequest,
) -> None:
    item = thousand_job_request()
    jobs = sum(v["repeats"] for v in item["variants"])
    assert jobs == MAX_JOBS == 1000
    tier_figures.say(
        request.config,
        f"scale: one run of {jobs} jobs, MaxConcurrency {CONCURRENCY}, bound {BOUND_SECONDS:.0f} s",
    )
    with tier_figures.tier_pipeline("scale", parameters={"MaxConcurrency": CONCURRENCY}) as (
        pipeline,
        peak,
        log,
    ):
        started = time.monotonic()
        pk = pipeline.put_request(item)
        run = pipeline.wait_for([pk], timeout=BOUND_SECONDS, interval=1.0)[pk]
        wall_s = time.monotonic() - started
        sfn = pipeline.client("stepfunctions")
        execution = run.request["execution"]
        children = child_executions(sfn, execution)
        map_run = sfn.list_map_runs(executionArn=execution)["mapRuns"]
        counts = sfn.describe_map_run(mapRunArn=map_run[0]["mapRunArn"])["executionCounts"]
    peak_mb = peak[0]
    tier_figures.say(
        request.config,
        f"scale: {run.request['status']} after {wall_s:.0f} s, {len(run.variants)} job items, "
        f"{len(children)} child executions, peak memory {peak_mb:.0f} MB; logs: {log}",
    )
    tier_figures.record(
        "RUNLEDGER_SCALE_RESULTS",
        {
            "cpus": os.cpu_count(),
            "jobs": jobs,
            "max_concurrency": CONCURRENCY,
            "status": run.request["status"],
            "wall_s": round(wall_s, 1),
            "peak_mb": round(peak_mb, 1),
        },
    )
    assert run.request["status"] == "SUCCEEDED"
    summary = run.request["summary"]
    assert (summary["variants_total"], summary["variants_succeeded"]) == (jobs, jobs)
    assert sorted(summary["repeats"]) == sorted(v["name"] for v in item["variants"])
    assert len(run.variants) == jobs
    for variant in run.variants.values():
        assert variant["status"] == "SUCCEEDED"
        assert variant["execution"] == execution
        assert variant["cost"]["batch_usd"] > 0
        assert 1 <= variant["repeat"] <= MAX_REPEATS
    keys = {(v["variant"], v["repeat"]) for v in run.variants.values()}
    assert len(keys) == jobs  # every job once
    assert len(map_run) == 1
    assert len(children) == jobs
    assert {c["status"] for c in children} == {"SUCCEEDED"}
    assert (counts["total"], counts["succeeded"], counts["failed"]) == (jobs, jobs, 0)
    # SummarizeRun read 100 of the 1,000 children's histories and counted the others as
    # those: every job took the same 3 transitions (start, RunJob, CollectMetrics).
    usage = run.request["cost"]["usage"]
    assert usage["stepfunctions"] == {"basis": "extrapolated", "transitions": 5 + 3 * jobs}
    assert (usage["lambda"]["basis"], usage["lambda"]["invocations"]) == (
        "extrapolated",
        2 + jobs,
    )
    assert wall_s <= BOUND_SECONDS
