"""The batch_task_errors patch: a batch:* task names an error the Batch API does not
model ``Batch.AWSBatchException``, as the SDK class Step Functions reports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from patch_helpers import aws, create_state_machine, run_execution

from runledger_local.patches import LocalCloud
from runledger_local.patches.fixes.batch_task_errors import error_name
from runledger_local.runtime.faults import TaskFault


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("ClientException", "Batch.ClientException"),
        ("ServerException", "Batch.ServerException"),
        ("TooManyRequestsException", "Batch.AWSBatchException"),
        ("ThrottlingException", "Batch.AWSBatchException"),
    ],
)
def test_batch_task_errors_names_follow_the_sdk_classes(code: str, name: str) -> None:
    assert error_name(code) == name


def submit(run_id: str) -> dict[str, Any]:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Submit",
        "States": {
            "Submit": {
                "Type": "Task",
                "Resource": "arn:aws:states:::batch:submitJob",
                "Arguments": {"JobName": "j", "JobQueue": "absent", "JobDefinition": "absent"},
                "Retry": [
                    {"ErrorEquals": ["Batch.AWSBatchException"], "MaxAttempts": 2, "BackoffRate": 1}
                ],
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Output": "{% $states.errorOutput %}",
                        "Next": "Caught",
                    }
                ],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "submit", definition)
    described = run_execution(sfn, arn, [{"pk": f"RUN#{run_id}"}])
    events = sfn.get_execution_history(executionArn=described["executionArn"])["events"]
    failed = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    return {"output": json.loads(described["output"]), "failed": failed}


def test_batch_task_errors_a_throttled_submit_is_retried_then_the_real_answer_stands(
    local_cloud: LocalCloud,
) -> None:
    throttled = TaskFault.service_error("TooManyRequestsException", 429, "Too Many Requests")
    local_cloud.inject_task_fault("r-1", "Submit", throttled, throttled)

    result = submit("r-1")

    # Twice throttled (retried as AWSBatchException), then moto's own modelled answer for a
    # queue that does not exist, which the Retry does not match.
    assert [f["error"] for f in result["failed"]] == [
        "Batch.AWSBatchException",
        "Batch.AWSBatchException",
        "Batch.ClientException",
    ]
    assert "TooManyRequestsException" in result["failed"][0]["cause"]
    assert result["output"]["Error"] == "Batch.ClientException"
