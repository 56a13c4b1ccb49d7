"""A pipe target that keeps failing, through the local cloud built from template.yaml.

Its own module: moto's state is process-wide, so one LocalPipeline runs at a time, and
this one breaks its target on purpose.
"""

from __future__ import annotations

import json
import time
from typing import Any

from runledger_cli.sam_template import REPO_ROOT
from runledger_local.cloud import LocalPipeline
from runledger_local.local_paths import localize_request


def test_a_pipe_target_that_keeps_failing_lands_the_record_in_the_dlq() -> None:
    with LocalPipeline(stack_name="runledger-dlq") as local:
        # The target is gone: every StartExecution fails, as with a deleted state machine.
        local.client("stepfunctions").delete_state_machine(stateMachineArn=local.state_machine_arn)
        item = json.loads((REPO_ROOT / "events/requests/kmer-valid-local.json").read_text())
        local.put_request({**localize_request(item, REPO_ROOT), "pk": "RUN#e2e-dlq"})
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
        status_after = local.read_run("RUN#e2e-dlq").status
        retries = local.pipe_properties["SourceParameters"]["DynamoDBStreamParameters"][
            "MaximumRetryAttempts"
        ]

    (message,) = messages
    body = json.loads(message["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == retries + 1
    assert "StateMachineDoesNotExist" in body["responseContext"]["errorCode"]
    assert counters.records_to_dlq == 1
    assert counters.executions_started == 0
    assert status_after == "REQUESTED"  # nothing ran: the request waits for a re-drive
