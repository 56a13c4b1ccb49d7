"""A request whose pipe target input is over 256 KB, through the local cloud built from
template.yaml: StartExecution refuses it (as AWS does), so no run starts, and after the
pipe's retries the record lands in its DLQ, saying why.

Its own module: moto's state is process-wide, so one LocalPipeline runs at a time.
"""

from __future__ import annotations

import json
import time
from typing import Any

from runledger_cli.sam_template import REPO_ROOT
from runledger_local.cloud import LocalPipeline
from runledger_local.local_paths import localize_request
from runledger_local.patches.fixes.execution_input_size import MAX_INPUT_BYTES, TOO_LARGE

#: DynamoDB takes items up to 400 KB; the pipe's InputTemplate keeps the whole new image.
BIG_NOTE = "x" * 300_000


def test_a_request_over_the_execution_input_limit_starts_nothing_and_lands_in_the_dlq() -> None:
    with LocalPipeline(stack_name="runledger-big") as local:
        item = json.loads((REPO_ROOT / "events/requests/kmer-valid-local.json").read_text())
        request = {**localize_request(item, REPO_ROOT), "pk": "RUN#e2e-big", "note": BIG_NOTE}
        local.put_request(request)
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
        counters = local.pipe.counters
        executions = local.client("stepfunctions").list_executions(
            stateMachineArn=local.state_machine_arn
        )["executions"]
        status_after = local.read_run("RUN#e2e-big").status
        retries = local.pipe_properties["SourceParameters"]["DynamoDBStreamParameters"][
            "MaximumRetryAttempts"
        ]

    (message,) = messages
    body = json.loads(message["Body"])
    # A customer invocation error: retried up to MaximumRetryAttempts, then the DLQ.
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == retries + 1
    refusal = {"errorCode": "ValidationException", "errorMessage": TOO_LARGE}
    assert body["responseContext"] == refusal
    assert f"{MAX_INPUT_BYTES} bytes" in body["responseContext"]["errorMessage"]
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1
    assert counters.target_failures == retries + 1
    assert counters.records_to_dlq == 1
    assert counters.executions_started == 0
    assert executions == []
    assert status_after == "REQUESTED"  # nothing ran: the request waits for a re-drive
