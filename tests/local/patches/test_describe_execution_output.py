"""The describe_execution_output patch, proved through boto3 against moto."""

from __future__ import annotations

import json

from patch_helpers import aws, create_state_machine, history, run_execution

from runledger_local.patches import LocalCloud


def _succeeded_output(sfn: object, execution_arn: str) -> str:
    (event,) = [e for e in history(sfn, execution_arn) if e["type"] == "ExecutionSucceeded"]
    return str(event["executionSucceededEventDetails"]["output"])


def test_describe_execution_output_of_a_string_is_its_json_text(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "string-output",
        {"StartAt": "S", "States": {"S": {"Type": "Pass", "Result": "HelloWorld!", "End": True}}},
    )

    described = run_execution(sfn, arn, {})

    # AWS (LocalStack's AWS-recorded snapshot of BASE_ASSIGN_FROM_LAMBDA_TASK_RESULT): the
    # output is the JSON text "\"HelloWorld!\"", as in the ExecutionSucceeded event.
    assert described["output"] == '"HelloWorld!"'
    assert described["output"] == _succeeded_output(sfn, described["executionArn"])


def test_describe_execution_output_holding_a_timestamp_is_answered(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "timestamp-output",
        {
            "StartAt": "S",
            "States": {
                "S": {
                    "Type": "Pass",
                    "Parameters": {"started.$": "$$.Execution.StartTime"},
                    "End": True,
                }
            },
        },
    )

    described = run_execution(sfn, arn, {})

    assert described["status"] == "SUCCEEDED"
    assert described["stopDate"] >= described["startDate"]
    assert described["output"] == _succeeded_output(sfn, described["executionArn"])
    assert isinstance(json.loads(described["output"])["started"], str)


def test_describe_execution_output_a_timed_out_execution_has_a_stop_date(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "timed-out",
        {
            "TimeoutSeconds": 1,
            "StartAt": "W",
            "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}},
        },
    )

    described = run_execution(sfn, arn, {})

    # AWS (DescribeExecution API reference): "stopDate: If the execution ended, the date
    # the execution stopped".
    assert described["status"] == "TIMED_OUT"
    assert described["stopDate"] >= described["startDate"]
    assert "output" not in described
