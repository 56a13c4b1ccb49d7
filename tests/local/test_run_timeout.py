"""A run whose execution hits the state machine's TimeoutSeconds ends FAILED, through the
local cloud: an execution-level timeout runs no Catch of the workflow, so only the
status-change rule's CloseRun can close it (template.yaml, CloseRunFunction)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runledger_local.cloud import LocalPipeline

TIMEOUT_SECONDS = 3


@pytest.fixture(scope="module")
def short_timeout_pipeline() -> Iterator[LocalPipeline]:
    """The project's template and workflow, but the execution times out after 3 s: the
    state machine is updated (UpdateStateMachine) before any run starts, so the template
    is read as every local cloud reads it, from its cache."""
    with LocalPipeline(stack_name="runledger-timeout") as local:
        sfn = local.client("stepfunctions")
        described = sfn.describe_state_machine(stateMachineArn=local.state_machine_arn)
        definition = json.loads(described["definition"])
        assert definition["TimeoutSeconds"] > 3600  # the real one
        definition["TimeoutSeconds"] = TIMEOUT_SECONDS
        sfn.update_state_machine(
            stateMachineArn=local.state_machine_arn, definition=json.dumps(definition)
        )
        yield local


def wait_until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_run_whose_execution_times_out_ends_failed_with_states_timeout(
    short_timeout_pipeline: LocalPipeline,
    sample_request: Callable[[str, str], dict[str, Any]],
) -> None:
    """GIVEN a run with one job held running past the execution's TimeoutSeconds
    WHEN the execution times out (no Catch runs)
    THEN CloseRun writes the run FAILED with States.Timeout and a cause, and the job's late
    end changes nothing: the timed-out execution writes no more."""
    pipeline = short_timeout_pipeline
    item = sample_request("kmer-valid-local.json", "e2e-timeout")
    held = item["variants"][0]["name"]
    release = pipeline.cloud.hold_next_job({"run-id": "e2e-timeout", "variant": held})
    pk = pipeline.put_request(item)
    try:
        result = pipeline.wait_for([pk], timeout=60)[pk]
    finally:
        release.set()
    execution = result.request["execution"]
    sfn = pipeline.client("stepfunctions")

    assert sfn.describe_execution(executionArn=execution)["status"] == "TIMED_OUT"
    assert (result.status, result.request["error"]) == ("FAILED", "States.Timeout")
    assert "TimeoutSeconds" in result.request["cause"]
    # CloseRun's write is seen before the rule runner has stored its answer: wait for it.
    wait_until(lambda: bool(pipeline.rules.answers(execution)), timeout=10)
    assert [a["outcome"] for a in pipeline.rules.answers(execution)] == ["closed"]
    assert held not in result.variants  # its job was still running

    batch = pipeline.client("batch")
    named = [{"name": "JOB_NAME", "values": [f"e2e-timeout-{held}"]}]
    (job,) = [
        summary
        for queue in batch.describe_job_queues()["jobQueues"]
        for summary in batch.list_jobs(jobQueue=queue["jobQueueArn"], filters=named)[
            "jobSummaryList"
        ]
    ]
    wait_until(
        lambda: (
            batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["status"] in {"SUCCEEDED", "FAILED"}
        )
    )
    time.sleep(1)  # what a still-running Map would write next
    after = pipeline.read_run(pk)
    assert (after.status, after.request["error"]) == ("FAILED", "States.Timeout")
    assert set(after.variants) == set(result.variants)
