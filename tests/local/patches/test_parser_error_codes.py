"""The parser_error_codes patch: an invalid definition is ``InvalidDefinition``.

Expected answer: the CreateStateMachine API reference (Errors: InvalidDefinition, "The
provided Amazon States Language definition is not valid", HTTP 400), and AWS's message
opening "Invalid State Machine Definition: ".
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from patch_helpers import ROLE_ARN, aws

from runledger_local.patches import LocalCloud


def test_an_invalid_definition_is_invalid_definition(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    definition = {"StartAt": "Missing", "States": {"State0": {"Type": "Nope", "End": True}}}

    with pytest.raises(ClientError) as raised:
        sfn.create_state_machine(
            name="invalid", definition=json.dumps(definition), roleArn=ROLE_ARN
        )

    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidDefinition"
    assert error["Message"].startswith("Invalid State Machine Definition: '")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
