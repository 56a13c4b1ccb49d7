"""The start_sync_execution patch, proved through boto3 against moto.

Expected answers: the StartSyncExecution API reference (the execution's status, output,
error and cause in the answer; StateMachineTypeNotSupported for a STANDARD machine).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from patch_helpers import ROLE_ARN, aws

from runledger_local.patches import LocalCloud

_DOUBLE = {
    "StartAt": "Double",
    "States": {
        "Double": {
            "Type": "Pass",
            "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"},
            "Next": "Check",
        },
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.doubled", "NumericGreaterThan": 10, "Next": "TooBig"}],
            "Default": "Done",
        },
        "TooBig": {"Type": "Fail", "Error": "TooBig", "Cause": "over 10"},
        "Done": {"Type": "Succeed"},
    },
}


def _express(sfn: Any, name: str, machine_type: str = "EXPRESS") -> str:
    response = sfn.create_state_machine(
        name=name, definition=json.dumps(_DOUBLE), roleArn=ROLE_ARN, type=machine_type
    )
    return str(response["stateMachineArn"])


def test_start_sync_execution_answers_the_output_of_an_express_execution(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = _express(sfn, "double")

    answer = sfn.start_sync_execution(stateMachineArn=arn, name="run-1", input='{"n": 4}')

    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == {"doubled": 8}
    assert answer["stateMachineArn"] == arn
    assert answer["name"] == "run-1"
    assert answer["executionArn"].startswith(
        "arn:aws:states:us-east-1:123456789012:express:double:run-1:"
    )
    assert answer["stopDate"] >= answer["startDate"]
    assert answer["billingDetails"]["billedDurationInMilliseconds"] >= 100


def test_start_sync_execution_answers_a_failure_with_its_error_and_cause(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = _express(sfn, "double-fails")

    answer = sfn.start_sync_execution(stateMachineArn=arn, input='{"n": 6}')

    assert (answer["status"], answer["error"], answer["cause"]) == ("FAILED", "TooBig", "over 10")
    assert "output" not in answer


def test_start_sync_execution_of_a_standard_machine_is_not_supported(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = _express(sfn, "standard", machine_type="STANDARD")

    with pytest.raises(ClientError) as caught:
        sfn.start_sync_execution(stateMachineArn=arn, input="{}")

    assert caught.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"


def test_start_sync_execution_in_server_mode(server_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions", server_cloud.endpoint_url)
    arn = _express(sfn, "double-server")

    answer = sfn.start_sync_execution(stateMachineArn=arn, input='{"n": 1}')

    assert (answer["status"], json.loads(answer["output"])) == ("SUCCEEDED", {"doubled": 2})
