"""runledger.starting: the parts of every Batch job of a run that StartRun hands to RunJob.

RunJob builds each job from these and one variant in JSONata (its Arguments in
statemachines/run_workflow.asl.json); tests/statemachine checks what it sends and
tests/local runs it. The claim and the marks are tested through the handler
(tests/unit/test_handlers.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from runledger.models import RunRequest
from runledger.starting import (
    MAX_JOB_NAME,
    job_items,
    job_name_prefix,
    placements,
    results_prefix,
    run_jobs,
)
from runledger.times import workflow_time
from runledger.workflows import UnknownWorkflowError, get_workflow

REQUEST: dict[str, Any] = {
    "run_id": "kmer.2026-11-23-001",
    "workflow": "kmer-count",
    "cost_center": "genomics-lab",
    "input": {"uri": "s3://samples/sample.fastq", "k": 21},
    "variants": [{"name": "od-2vcpu", "vcpus": 2, "memory_mib": 4096, "capacity": "ON_DEMAND"}],
}


def test_every_job_of_a_run_shares_its_environment_names_and_results_prefix() -> None:
    run = run_jobs(
        RunRequest.model_validate(REQUEST),
        pk="RUN#kmer.2026-11-23-001",
        execution="arn:aws:states:us-east-1:1:execution:w:e",
        attempt=3,
        claimed_at="2026-11-23T08:00:00.000Z",
        results="results-bucket",
    ).model_dump(mode="json")
    assert run == {
        "pk": "RUN#kmer.2026-11-23-001",
        "run_id": "kmer.2026-11-23-001",
        "execution": "arn:aws:states:us-east-1:1:execution:w:e",
        "attempt": "3",
        "claimed_at": "2026-11-23T08:00:00.000Z",
        "workflow": "kmer-count",
        "cost_center": "genomics-lab",
        "job_name_prefix": "kmer-2026-11-23-001",
        "results_prefix": "s3://results-bucket/runs/kmer.2026-11-23-001/",
        "environment": [
            {"Name": "RUNLEDGER_INPUT_URI", "Value": "s3://samples/sample.fastq"},
            {"Name": "RUNLEDGER_KMER_K", "Value": "21"},
            {"Name": "RUNLEDGER_RUN_ID", "Value": "kmer.2026-11-23-001"},
        ],
    }
    # Each variant's queue and job definition, without the stack's prefixes: beside the
    # run, not in it (every job's input copies the run; the Map gives each job its own).
    assert placements(RunRequest.model_validate(REQUEST)) == {
        "od-2vcpu": {
            "job_queue": "fargate-on-demand",
            "job_definition": "kmer-count-FargateX8664",
        }
    }


def test_each_variant_is_placed_on_its_compute_options_queue_and_its_platforms_job_definition() -> (
    None
):
    variants = [
        {"name": "spot", "vcpus": 2, "memory_mib": 4096, "capacity": "SPOT"},
        {
            "name": "arm",
            "vcpus": 1,
            "memory_mib": 2048,
            "capacity": "ON_DEMAND",
            "architecture": "arm64",
        },
        {
            "name": "graviton-spot",
            "vcpus": 4,
            "memory_mib": 8192,
            "capacity": "SPOT",
            "architecture": "arm64",
            "compute": "ec2-m7g.xlarge",
        },
        {
            "name": "intel",
            "vcpus": 1,
            "memory_mib": 1024,
            "capacity": "ON_DEMAND",
            "compute": "ec2-m7i.xlarge",
        },
    ]
    request = RunRequest.model_validate(
        {
            **REQUEST,
            "workflow": "fastq-compress",
            "input": {"uri": "s3://b/k"},
            "variants": variants,
        }
    )
    assert placements(request) == {
        "spot": {"job_queue": "fargate-spot", "job_definition": "fastq-compress-FargateX8664"},
        "arm": {"job_queue": "fargate-on-demand", "job_definition": "fastq-compress-FargateArm64"},
        "graviton-spot": {
            "job_queue": "ec2-m7gxlarge-spot",
            "job_definition": "fastq-compress-Ec2",
        },
        "intel": {"job_queue": "ec2-m7ixlarge-on-demand", "job_definition": "fastq-compress-Ec2"},
    }


def test_local_results_base_gives_a_file_uri_prefix() -> None:
    assert results_prefix("file:///tmp/runledger", "r1") == "file:///tmp/runledger/runs/r1/"


def test_job_name_prefix_replaces_characters_batch_refuses() -> None:
    assert job_name_prefix("kmer.2026_11") == "kmer-2026_11"


def test_a_job_name_fits_batch_for_the_longest_run_id_and_variant_name() -> None:
    """RunJob names a job <prefix>-<variant>: a run id (<= 80) and a variant name (<= 40)
    always fit Batch's 128 characters; a longer prefix is cut."""
    assert len(job_name_prefix("r" * 80) + "-" + "v" * 40) == 121
    assert len(job_name_prefix("r" * 200) + "-" + "v" * 40) == MAX_JOB_NAME - 3  # -<repeat>


def test_run_jobs_refuses_a_workload_that_is_not_declared() -> None:
    request = RunRequest.model_construct(**(REQUEST | {"workflow": "bwa"}))
    with pytest.raises(UnknownWorkflowError):
        run_jobs(request, "RUN#r", "e", 1, "t", "b")


def test_the_environment_comes_from_an_input_the_workload_accepts() -> None:
    with pytest.raises(ValidationError):
        get_workflow("kmer-count").job_environment({"uri": "s3://b/k", "k": 99})


def test_times_are_written_as_step_functions_writes_entered_time() -> None:
    import datetime as dt

    moment = dt.datetime(2026, 11, 23, 8, 0, 1, 234567, tzinfo=dt.UTC)
    assert workflow_time(moment) == "2026-11-23T08:00:01.234Z"


def test_each_repeat_is_a_small_job_item_keyed_by_its_repeat() -> None:
    request = RunRequest.model_validate(
        REQUEST
        | {
            "variants": [
                {"name": "a", "vcpus": 1, "memory_mib": 2048, "capacity": "SPOT"},
                {"name": "b", "vcpus": 1, "memory_mib": 2048, "capacity": "SPOT", "repeats": 2},
            ]
        }
    )
    assert [item.model_dump() for item in job_items(request)] == [
        {"variant": 0, "repeat": 1, "key": "a"},
        {"variant": 1, "repeat": 1, "key": "b#1"},
        {"variant": 1, "repeat": 2, "key": "b#2"},
    ]


def test_the_items_of_the_largest_run_stay_far_inside_a_state_payload() -> None:
    """A state's input and output may hold 256 KiB: the Map's items of 1,000 jobs do."""
    import json

    from runledger.models import MAX_JOBS

    names = [f"v{i:02d}-" + "x" * 36 for i in range(MAX_JOBS // 10)]  # 40 characters each
    request = RunRequest.model_validate(
        REQUEST
        | {
            "variants": [
                {"name": n, "vcpus": 1, "memory_mib": 2048, "capacity": "SPOT", "repeats": 10}
                for n in names
            ]
        }
    )
    items = [item.model_dump(mode="json") for item in job_items(request)]
    assert len(items) == MAX_JOBS
    assert len(json.dumps(items, separators=(",", ":"))) < 128 * 1024


def test_a_repeated_job_name_fits_batch_for_the_longest_run_id_and_variant_name() -> None:
    assert len(job_name_prefix("r" * 80) + "-" + "v" * 40 + "-10") <= MAX_JOB_NAME
    assert len(job_name_prefix("r" * 200) + "-" + "v" * 40 + "-10") == MAX_JOB_NAME
