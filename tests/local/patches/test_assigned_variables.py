"""The assigned_variables patch: ``assignedVariables`` values are JSON text.

Expected answer: the Step Functions API reference (StateExitedEventDetails,
"assignedVariables: ... value as a serialized JSON representation"); the recorded AWS
answers have strings as ``"\\"varname2\\""`` and lists as ``"[null,0,...]"``.
"""

from __future__ import annotations

import json

from patch_helpers import aws, create_state_machine, history, run_execution

from runledger_local.patches import LocalCloud


def test_assigned_values_are_serialized_json(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    text = 'quote " backslash \\ newline \n end'
    definition = {
        "StartAt": "State0",
        "States": {
            "State0": {
                "Type": "Pass",
                "Assign": {"text": text, "plain": "varname2", "list": [None, 0, 0.1, True]},
                "End": True,
            }
        },
    }
    described = run_execution(sfn, create_state_machine(sfn, "assigned", definition), {})

    exited = [e for e in history(sfn, described["executionArn"]) if e["type"] == "PassStateExited"]
    assigned = exited[0]["stateExitedEventDetails"]["assignedVariables"]
    assert assigned == {
        "text": json.dumps(text),
        "plain": '"varname2"',
        "list": "[null,0,0.1,true]",
    }
    assert json.loads(assigned["text"]) == text
