"""A handler returning ``bytes``: the payload itself, as the Python Lambda runtime sends it.

awslambdaric's ``LambdaMarshaller.marshal_response`` passes ``bytes`` through untouched
(content type ``application/unknown``) instead of JSON-encoding them, so it is no
``Runtime.MarshalError``. The expected answers are AWS's, recorded in LocalStack's
AWS-validated snapshots: test_assign_reference_variables.snapshot.json
(BASE_ASSIGN_FROM_LAMBDA_TASK_RESULT: ``b"HelloWorld!"`` is the string payload
"HelloWorld!") and test_states_errors.snapshot.json (257 KB of bytes: States.DataLimitExceeded).
"""

from __future__ import annotations

import json
from pathlib import Path

from patch_helpers import aws, create_state_machine, history, run_execution

from runledger_local.patches import LocalCloud

_HANDLER = """
def lambda_handler(event, context):
    if event.get("large"):
        return ("a" * (257 * 1024)).encode("utf-8")
    return "HelloWorld!".encode("utf-8")
"""


def _register(local_cloud: LocalCloud, tmp_path: Path) -> None:
    code = tmp_path / "bytes_fn"
    code.mkdir()
    (code / "app.py").write_text(_HANDLER)
    local_cloud.register_function("bytes-fn", code_dir=code)


def test_lambda_bytes_payload_is_returned_raw_by_invoke(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    _register(local_cloud, tmp_path)

    response = aws("lambda").invoke(FunctionName="bytes-fn", Payload=b"{}")

    assert "FunctionError" not in response
    assert response["Payload"].read() == b"HelloWorld!"


def test_lambda_bytes_payload_is_a_string_result_of_a_lambda_task(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    _register(local_cloud, tmp_path)
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "bytes-task",
        {
            "StartAt": "Invoke",
            "States": {
                "Invoke": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "bytes-fn", "Payload": {}},
                    "OutputPath": "$.Payload",
                    "End": True,
                }
            },
        },
    )

    described = run_execution(sfn, arn, {})

    # AWS (BASE_ASSIGN_FROM_LAMBDA_TASK_RESULT): "Payload": "HelloWorld!", SUCCEEDED.
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    (succeeded,) = [
        event
        for event in history(sfn, described["executionArn"])
        if event["type"] == "ExecutionSucceeded"
    ]
    assert json.loads(succeeded["executionSucceededEventDetails"]["output"]) == "HelloWorld!"


def test_lambda_bytes_payload_over_256_kb_is_states_data_limit_exceeded(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    _register(local_cloud, tmp_path)
    sfn = aws("stepfunctions")
    function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bytes-fn"
    arn = create_state_machine(
        sfn,
        "bytes-large",
        {
            "StartAt": "Invoke",
            "States": {
                "Invoke": {
                    "Type": "Task",
                    "Resource": function_arn,
                    "Parameters": {"large": True},
                    "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "Caught"}],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        },
    )

    described = run_execution(sfn, arn, {})

    # AWS (test_task_lambda_data_limit_exceeded_on_large_utf8_response): caught, SUCCEEDED.
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    assert json.loads(described["output"]) == {
        "Error": "States.DataLimitExceeded",
        "Cause": f"The state/task '{function_arn}' returned a result with a size exceeding "
        "the maximum number of bytes service limit.",
    }
    types = [event["type"] for event in history(sfn, described["executionArn"])]
    assert "LambdaFunctionFailed" in types
