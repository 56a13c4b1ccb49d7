"""The assign_order patch: a state's output sees the variables from before its Assign.

Expected answers: AWS's recorded answer for BASE_EVALUATION_ORDER_PASS_STATE (LocalStack's
AWS-validated snapshot) is 42; the JSONata case follows the developer guide ("Passing
data between states with variables": Assign and Output are evaluated in parallel, the
new values are available from the next state on).
"""

from __future__ import annotations

import json

from patch_helpers import aws, create_state_machine, history, output, run_execution

from runledger_local.patches import LocalCloud


def test_output_path_reads_the_value_from_before_the_states_assign(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    definition = {
        "StartAt": "State0",
        "States": {
            "State0": {
                "Type": "Pass",
                "Result": {"theQuestion": "What is the answer?"},
                "Assign": {"question.$": "$.theQuestion", "answer": 42},
                "Next": "State1",
            },
            "State1": {
                "Type": "Pass",
                "InputPath": "$answer",
                "ResultPath": "$.theAnswer",
                "OutputPath": "$answer",
                "Assign": {"answer": "<omitted>"},
                "End": True,
            },
        },
    }
    described = run_execution(sfn, create_state_machine(sfn, "order", definition), {})

    assert output(described) == 42
    exited = [e for e in history(sfn, described["executionArn"]) if e["type"] == "PassStateExited"]
    assert exited[-1]["stateExitedEventDetails"]["assignedVariables"] == {
        "answer": json.dumps("<omitted>")
    }


def test_jsonata_output_reads_old_values_and_the_next_state_the_new_ones(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Second"},
            "Second": {
                "Type": "Pass",
                "Assign": {"x": 2, "seen": "{% $x %}"},
                "Output": {"x": "{% $x %}"},
                "Next": "Third",
            },
            "Third": {
                "Type": "Pass",
                "Output": {
                    "before": "{% $states.input.x %}",
                    "x": "{% $x %}",
                    "seen": "{% $seen %}",
                },
                "End": True,
            },
        },
    }
    arn = create_state_machine(sfn, "order-jsonata", definition)

    assert output(run_execution(sfn, arn, {})) == {"before": 1, "x": 2, "seen": 1}
