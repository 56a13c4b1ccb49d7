"""The execution_input_size patch, proved through boto3 against moto."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from patch_helpers import aws, create_state_machine

from runledger_local.patches import LocalCloud
from runledger_local.patches.fixes.execution_input_size import MAX_INPUT_BYTES, TOO_LARGE

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def json_string_of(size: int, fill: str = "a") -> str:
    """A JSON string document of exactly ``size`` bytes in UTF-8 (``fill`` of 1 or 2 bytes)."""
    width = len(fill.encode("utf-8"))
    body = fill * ((size - 2) // width) + "a" * ((size - 2) % width)
    document = json.dumps(body, ensure_ascii=False)
    assert len(document.encode("utf-8")) == size
    return document


def test_execution_input_size_262144_bytes_starts_and_262145_is_refused(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "sized", PASS)

    started = sfn.start_execution(stateMachineArn=arn, input=json_string_of(MAX_INPUT_BYTES))
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=arn, input=json_string_of(MAX_INPUT_BYTES + 1))

    assert started["executionArn"]
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == TOO_LARGE
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1


def test_execution_input_size_counts_utf8_bytes_not_characters(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "sized-utf8", PASS)
    # "é" is two bytes: well under 262,144 characters, one byte over in UTF-8.
    document = json_string_of(MAX_INPUT_BYTES + 1, fill="é")
    assert len(document) < MAX_INPUT_BYTES

    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=arn, input=document)

    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_execution_input_size_is_checked_before_the_state_machine_is_looked_up(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:missing"

    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=missing, input=json_string_of(MAX_INPUT_BYTES + 1))

    assert refused.value.response["Error"]["Code"] == "ValidationException"
