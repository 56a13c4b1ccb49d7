"""Records the pipe cannot deliver, through the local cloud built from template.yaml: a
target that keeps failing, and a request whose target input is over 256 KB (StartExecution
refuses it, as AWS does). Either way no run starts, and after the pipe's retries the
record lands in its DLQ, saying why.

Its own module: moto's state is process-wide, so one LocalPipeline runs at a time (one
test after the other), and the first breaks its target on purpose.
"""

from __future__ import annotations

from dead_letters import dead_lettered

from runledger_local.cloud import LocalPipeline
from runledger_local.patches.fixes.execution_input_size import MAX_INPUT_BYTES, TOO_LARGE

#: DynamoDB takes items up to 400 KB; the pipe's InputTemplate keeps the whole new image.
BIG_NOTE = "x" * 300_000


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
