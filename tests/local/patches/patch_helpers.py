"""Helpers the patch tests share: clients, state machines, executions, Batch set-up."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest

from runledger_cli.sam_template import table_schema

REGION = "us-east-1"


ROLE_ARN = "arn:aws:iam::123456789012:role/local-states"


TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


STATEMACHINES = Path(__file__).parent.parent / "fixtures" / "patches" / "statemachines"


# ----------------------------------------------------------------------------- helpers
def aws(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint_url)


def create_state_machine(sfn: Any, name: str, definition: dict[str, Any] | str) -> str:
    if isinstance(definition, str):
        definition = json.loads((STATEMACHINES / definition).read_text())
    response = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE_ARN
    )
    return str(response["stateMachineArn"])


def run_execution(
    sfn: Any, state_machine_arn: str, payload: Any, timeout: float = 20.0
) -> dict[str, Any]:
    """Start an execution and wait until it ends (any terminal status) or time runs out."""
    arn = sfn.start_execution(stateMachineArn=state_machine_arn, input=json.dumps(payload))[
        "executionArn"
    ]
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] in TERMINAL:
            return described
        if time.monotonic() > deadline:
            pytest.fail(f"execution {arn} still {described['status']} after {timeout} s")
        time.sleep(0.02)


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    return list(sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"])


#: The history events that end an execution.
TERMINAL_EVENTS = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}


def history_when_ended(sfn: Any, execution_arn: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The execution's history once its last event is a terminal one (whatever
    ``describe_execution`` says meanwhile)."""
    deadline = time.monotonic() + timeout
    while not (events := history(sfn, execution_arn)) or events[-1]["type"] not in TERMINAL_EVENTS:
        assert time.monotonic() < deadline, f"execution {execution_arn} never ended"
        time.sleep(0.01)
    return events


def history_with(
    sfn: Any, execution_arn: str, event_type: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """The execution's history once it holds an ``event_type`` event (a state entered, an
    iteration started: where a test then stops or checks the execution)."""
    deadline = time.monotonic() + timeout
    while True:
        events = history(sfn, execution_arn)
        if any(event["type"] == event_type for event in events):
            return events
        assert time.monotonic() < deadline, f"no {event_type} in {execution_arn} after {timeout} s"
        time.sleep(0.02)


def entered_states(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def output(described: dict[str, Any]) -> Any:
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    return json.loads(described["output"])


def create_runs_table(ddb: Any) -> None:
    ddb.create_table(TableName="runs", **table_schema())


def create_batch_environment(
    batch: Any,
    job_program: Path,
    *,
    retry_strategy: dict[str, Any] | None = None,
    timeout_seconds: int | None = None,
    endpoint_url: str | None = None,
) -> None:
    iam = aws("iam", endpoint_url)
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    environment = batch.create_compute_environment(
        computeEnvironmentName="fargate-spot", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    batch.create_job_queue(
        jobQueueName="spot",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
    )
    extra: dict[str, Any] = {}
    if retry_strategy is not None:
        extra["retryStrategy"] = retry_strategy
    if timeout_seconds is not None:
        extra["timeout"] = {"attemptDurationSeconds": timeout_seconds}
    batch.register_job_definition(
        jobDefinitionName="variant-job",
        type="container",
        containerProperties={
            "image": "runledger/kmer:local",
            "command": ["python", str(job_program)],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "2048"},
            ],
            "environment": [{"name": "WORKLOAD", "value": "kmer"}],
        },
        **extra,
    )


def wait_for_job(batch: Any, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in {"SUCCEEDED", "FAILED"}:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.02)


@contextlib.contextmanager
def lambda_priorities() -> Iterator[list[float]]:
    """The priority each in-process Lambda call waits for the lock with, in call order."""
    from runledger_local.runtime.lambdas import LAMBDA_LOCK

    priorities: list[float] = []
    acquire = LAMBDA_LOCK.acquire

    def recording_acquire(chain: str, priority: float = 0.0) -> None:
        priorities.append(priority)
        acquire(chain, priority)

    with mock.patch.object(LAMBDA_LOCK, "acquire", recording_acquire):
        yield priorities
