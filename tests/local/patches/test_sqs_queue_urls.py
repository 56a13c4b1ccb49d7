"""The sqs_queue_urls patch: a task's QueueUrl names the host it is sent to."""

from __future__ import annotations

import json

import pytest
from patch_helpers import aws, create_state_machine, run_execution

from runledger_local.patches import LocalCloud
from runledger_local.patches.fixes.sqs_queue_urls import unresolvable_host

SEND = {
    "StartAt": "Send",
    "States": {
        "Send": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {"QueueUrl.$": "$.QueueUrl", "MessageBody.$": "$.MessageBody"},
            "End": True,
        }
    },
}


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://no-such-queue-1", "no-such-queue-1"),
        ("https://example.org/123456789012/q", "example.org"),
        ("https://sqs.us-east-1.amazonaws.com/123456789012/q", None),
        ("http://127.0.0.1:4566/123456789012/q", None),
        ("http://localhost:4566/123456789012/q", None),
        ("http://moto.local:5000/123456789012/q", None),  # the endpoint's own host
        ("not a url", "not a url"),
    ],
)
def test_sqs_queue_urls_hosts_that_cannot_be_reached_offline(url: str, host: str | None) -> None:
    assert unresolvable_host(url, "http://moto.local:5000") == host


def test_sqs_queue_urls_a_queue_url_of_an_unknown_host_fails_as_the_sdk_does(
    local_cloud: LocalCloud,
) -> None:
    sqs = aws("sqs")
    real = sqs.create_queue(QueueName="q")["QueueUrl"]
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "send", SEND)

    sent = run_execution(sfn, arn, {"QueueUrl": real, "MessageBody": "hi"})
    failed = run_execution(sfn, arn, {"QueueUrl": "http://no-such-queue-1/q", "MessageBody": "x"})

    assert sent["status"] == "SUCCEEDED", sent
    assert "MessageId" in json.loads(sent["output"])
    # AWS (LocalStack's AWS-validated snapshot error_handling/test_task_service_sqs::
    # test_send_message_no_such_queue_no_catch).
    assert failed["status"] == "FAILED"
    assert failed["error"] == "SQS.SdkClientException"
    assert (
        failed["cause"]
        == "Unable to execute HTTP request: no-such-queue-1: Name or service not known"
    )
    assert sqs.receive_message(QueueUrl=real)["Messages"][0]["Body"] == "hi"  # only the real one
