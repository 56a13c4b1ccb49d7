"""Records the pipe cannot deliver, through the local cloud built from template.yaml: a
target that keeps failing, and a request whose target input is over 256 KB (StartExecution
refuses it, as AWS does). Either way no run starts, and after the pipe's retries the
record lands in its DLQ, saying why.

Its own module: moto's state is process-wide, so one LocalPipeline runs at a time (one
test after the other), and the first breaks its target on purpose.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from runledger_cli.sam_template import REPO_ROOT
from runledger_local.cloud import LocalPipeline
from runledger_local.local_paths import localize_request
from runledger_local.patches.fixes.execution_input_size import MAX_INPUT_BYTES, TOO_LARGE
from runledger_local.pipe_runner import PipeCounters

#: DynamoDB takes items up to 400 KB; the pipe's InputTemplate keeps the whole new image.
BIG_NOTE = "x" * 300_000


@dataclass
class DeadLettered:
    """What became of one request the pipe could not deliver."""

    body: dict[str, Any]  # the one DLQ message's body
    counters: PipeCounters
    status_after: str
    retries: int  # the pipe's MaximumRetryAttempts


def dead_lettered(local: LocalPipeline, pk: str, **changes: Any) -> DeadLettered:
    """Write the sample valid request as ``pk`` (with ``changes``) and wait for the DLQ."""
    item = json.loads((REPO_ROOT / "events/requests/kmer-valid-local.json").read_text())
    local.put_request({**localize_request(item, REPO_ROOT), "pk": pk, **changes})
    dlq_url = local.scope.refs["PipeDeadLetterQueue"]
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not messages and time.monotonic() < deadline:
        messages = (
            local.client("sqs")
            .receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
            .get("Messages", [])
        )
    assert local.pipe.wait_idle(10)
    (message,) = messages
    return DeadLettered(
        body=json.loads(message["Body"]),
        counters=local.pipe.counters,
        status_after=local.read_run(pk).status,
        retries=local.pipe_properties["SourceParameters"]["DynamoDBStreamParameters"][
            "MaximumRetryAttempts"
        ],
    )


def test_a_pipe_target_that_keeps_failing_lands_the_record_in_the_dlq() -> None:
    with LocalPipeline(stack_name="runledger-dlq") as local:
        # The target is gone: every StartExecution fails, as with a deleted state machine.
        local.client("stepfunctions").delete_state_machine(stateMachineArn=local.state_machine_arn)
        found = dead_lettered(local, "RUN#e2e-dlq")

    body = found.body
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == found.retries + 1
    assert "StateMachineDoesNotExist" in body["responseContext"]["errorCode"]
    assert found.counters.records_to_dlq == 1
    assert found.counters.executions_started == 0
    assert found.status_after == "REQUESTED"  # nothing ran: the request waits for a re-drive


def test_a_request_over_the_execution_input_limit_starts_nothing_and_lands_in_the_dlq() -> None:
    with LocalPipeline(stack_name="runledger-big") as local:
        found = dead_lettered(local, "RUN#e2e-big", note=BIG_NOTE)
        executions = local.client("stepfunctions").list_executions(
            stateMachineArn=local.state_machine_arn
        )["executions"]

    body = found.body
    # A customer invocation error: retried up to MaximumRetryAttempts, then the DLQ.
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == found.retries + 1
    refusal = {"errorCode": "ValidationException", "errorMessage": TOO_LARGE}
    assert body["responseContext"] == refusal
    assert f"{MAX_INPUT_BYTES} bytes" in body["responseContext"]["errorMessage"]
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1
    assert found.counters.target_failures == found.retries + 1
    assert found.counters.records_to_dlq == 1
    assert found.counters.executions_started == 0
    assert executions == []
    assert found.status_after == "REQUESTED"  # nothing ran: the request waits for a re-drive
