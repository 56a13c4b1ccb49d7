"""The lambda_direct patch, proved through boto3 against moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

from patch_helpers import (
    aws,
    create_state_machine,
    run_execution,
)

from runledger_local.patches import LocalCloud


def test_lambda_in_process_tasks_call_handlers_directly_with_the_same_result(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    # A lambda:invoke task skips botocore and the server; a Qualifier sends the same
    # invoke the long way (Invoke over the server). Both must give the task the same
    # result, or the same error and cause.
    from moto.awslambda.responses import LambdaResponse

    local_cloud.register_function("echo", code_dir=lambda_fixtures / "echo")
    local_cloud.register_function("validate", code_dir=lambda_fixtures / "fail")
    sfn = aws("stepfunctions")

    def machine(function: str, qualified: bool) -> str:
        arguments: dict[str, Any] = {
            "FunctionName": function,
            "Payload": {"run_id": "{% $states.input.run_id %}", "n": [1, 2.5, None]},
        }
        if qualified:
            arguments["Qualifier"] = "$LATEST"
        definition = {
            "QueryLanguage": "JSONata",
            "StartAt": "Invoke",
            "States": {
                "Invoke": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": arguments,
                    "Output": "{% $states.result %}",
                    "End": True,
                }
            },
        }
        return create_state_machine(sfn, f"{function}-{qualified}", definition)

    def volatile_free(described: dict[str, Any]) -> Any:
        if described["status"] != "SUCCEEDED":
            cause = json.loads(described["cause"])
            del cause["requestId"]
            return described["status"], described.get("error"), json.dumps(cause)
        result = json.loads(described["output"])
        for key in ("aws_request_id", "remaining_ms"):
            result["Payload"].pop(key)
        for key in ("SdkHttpMetadata", "SdkResponseMetadata"):  # request ids, dates
            assert result.pop(key)
        return json.dumps(result)  # key order included

    over_http = 0
    real_invoke = LambdaResponse.invoke

    def counting_invoke(self: Any) -> Any:
        nonlocal over_http
        over_http += 1
        return real_invoke(self)

    with mock.patch.object(LambdaResponse, "invoke", counting_invoke):
        results = {
            (function, qualified): volatile_free(
                run_execution(sfn, machine(function, qualified), {"run_id": "r-9"})
            )
            for function in ("echo", "validate")
            for qualified in (False, True)
        }

    assert over_http == 2  # the qualified ones only
    assert results["echo", False] == results["echo", True]
    assert json.loads(results["echo", False]) == {
        "ExecutedVersion": "$LATEST",
        "Payload": json.loads(results["echo", False])["Payload"],
        "StatusCode": 200,
    }
    assert json.loads(results["echo", False])["Payload"]["event"] == {
        "run_id": "r-9",
        "n": [1, 2.5, None],
    }
    assert results["validate", False] == results["validate", True]
    status, error, cause = results["validate", False]
    assert (status, error) == ("FAILED", "RequestInvalidError")
    assert json.loads(cause)["errorMessage"] == "variants missing in r-9"
