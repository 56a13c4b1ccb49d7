"""The assign_literals patch: an Assign string literal is the string JSON decodes.

Expected answers: AWS's recorded answer for BASE_REFERENCE_IN_INTRINSIC_FUNCTION
(LocalStack's AWS-validated snapshot): ``States.StringToJson($jsonString)`` of the
assigned ``"{\\"key\\":\\"value\\"}"`` is ``{"key": "value"}``.
"""

from __future__ import annotations

from patch_helpers import aws, create_state_machine, output, run_execution

from runledger_local.patches import LocalCloud


def test_an_assigned_string_keeps_no_json_escapes(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    text = 'quote " backslash \\ newline \n end'
    definition = {
        "StartAt": "State0",
        "States": {
            "State0": {
                "Type": "Pass",
                "Assign": {"jsonString": '{"key":"value"}', "text": text, "nested": [text]},
                "Next": "State1",
            },
            "State1": {
                "Type": "Pass",
                "Parameters": {
                    "parsedJson.$": "States.StringToJson($jsonString)",
                    "text.$": "$text",
                    "nested.$": "$nested",
                },
                "End": True,
            },
        },
    }
    arn = create_state_machine(sfn, "assign-literals", definition)

    result = output(run_execution(sfn, arn, {}))

    assert result == {"parsedJson": {"key": "value"}, "text": text, "nested": [text]}
