"""The jsonata_errors patch: a JSONata error names its field, one EvaluationFailed event.

The expected causes are AWS's own answers, recorded for these definitions (LocalStack's
AWS-validated snapshots of test_assign_reference_variables, BASE_UNDEFINED_* cases, and of
test_math_operations_jsonata, test_math_random_seeded).
"""

from __future__ import annotations

from typing import Any

import pytest
from patch_helpers import aws, create_state_machine, history, run_execution

from runledger_local.patches import LocalCloud

_UNDEFINED = "{% $doesNotExist %}"


def _failed(sfn: Any, name: str, state: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    definition = {"QueryLanguage": "JSONata", "StartAt": "State0", "States": {"State0": state}}
    described = run_execution(sfn, create_state_machine(sfn, name, definition), {})
    assert described["status"] == "FAILED"
    return described, history(sfn, described["executionArn"])


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ({"Type": "Pass", "Output": _UNDEFINED, "End": True}, "Output"),
        ({"Type": "Pass", "Output": {"result": _UNDEFINED}, "End": True}, "Output/result"),
        ({"Type": "Pass", "Assign": {"result": _UNDEFINED}, "End": True}, "Assign/result"),
        (
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": _UNDEFINED,
                "End": True,
            },
            "Arguments",
        ),
        (
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": _UNDEFINED, "Payload": {}},
                "End": True,
            },
            "Arguments/FunctionName",
        ),
    ],
)
def test_an_undefined_expression_names_its_field_in_one_event(
    local_cloud: LocalCloud, state: dict[str, Any], field: str
) -> None:
    sfn = aws("stepfunctions")
    described, events = _failed(sfn, "undefined", state)

    cause = (
        "An error occurred while executing the state 'State0' (entered at the event id #2). "
        f"The JSONata expression '$doesNotExist' specified for the field '{field}' "
        "returned nothing (undefined)."
    )
    assert (described["error"], described["cause"]) == ("States.QueryEvaluationError", cause)
    failed = [e for e in events if e["type"] == "EvaluationFailed"]
    assert len(failed) == 1  # a Task state recorded it a second time
    assert failed[0]["evaluationFailedEventDetails"] == {
        "error": "States.QueryEvaluationError",
        "cause": cause,
        "location": field,
        "state": "State0",
    }
    assert [e["type"] for e in events][-2:] == ["EvaluationFailed", "ExecutionFailed"]


def test_an_expression_that_throws_names_the_field_and_the_jsonata_error(
    local_cloud: LocalCloud,
) -> None:
    # $randomSeeded is no Step Functions function: AWS answers T1006.
    sfn = aws("stepfunctions")
    described, _ = _failed(
        sfn,
        "throws",
        {"Type": "Pass", "Output": {"FunctionResult": "{% $randomSeeded(3) %}"}, "End": True},
    )

    assert described["error"] == "States.QueryEvaluationError"
    assert described["cause"] == (
        "An error occurred while executing the state 'State0' (entered at the event id #2). "
        "The JSONata expression '$randomSeeded(3)' specified for the field "
        "'Output/FunctionResult' threw an error during evaluation. "
        "T1006: Attempted to invoke a non-function"
    )


def test_a_caught_arguments_error_is_recorded_once_and_the_catcher_runs(
    local_cloud: LocalCloud,
) -> None:
    # Not among the recorded answers: the field path of an array value ([i], an
    # assumption) and one EvaluationFailed event before a Catch takes the error.
    sfn = aws("stepfunctions")
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "State0",
        "States": {
            "State0": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": "f", "Payload": {"list": [1, _UNDEFINED]}},
                "Catch": [
                    {
                        "ErrorEquals": ["States.QueryEvaluationError"],
                        "Output": "{% $states.errorOutput %}",
                        "Next": "Caught",
                    }
                ],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    described = run_execution(sfn, create_state_machine(sfn, "caught", definition), {})

    assert described["status"] == "SUCCEEDED"
    events = history(sfn, described["executionArn"])
    failed = [e for e in events if e["type"] == "EvaluationFailed"]
    assert len(failed) == 1
    assert failed[0]["evaluationFailedEventDetails"]["location"] == "Arguments/Payload/list[1]"
