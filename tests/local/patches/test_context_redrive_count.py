"""The context_redrive_count patch, proved through boto3 against moto."""

from __future__ import annotations

import json

from patch_helpers import aws, create_state_machine, history, output, run_execution

from runledger_local.patches import LocalCloud


def test_context_redrive_count_is_zero_in_the_execution(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "redrive-count",
        {
            "StartAt": "Query",
            "States": {
                "Query": {
                    "Type": "Pass",
                    "Parameters": {
                        "execution.$": "$$.Execution",
                        "count.$": "$$.Execution.RedriveCount",
                    },
                    "End": True,
                },
            },
        },
    )

    described = run_execution(sfn, arn, {})

    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    (succeeded,) = [
        e for e in history(sfn, described["executionArn"]) if "executionSucceededEventDetails" in e
    ]
    result = json.loads(succeeded["executionSucceededEventDetails"]["output"])

    # AWS (LocalStack's AWS-recorded test_context_object.snapshot.json, test_input_path[$$]):
    # "Execution": {"Id", "Input", "StartTime", "Name", "RoleArn", "RedriveCount": 0}.
    assert result["count"] == 0
    assert set(result["execution"]) == {
        "Id",
        "Input",
        "StartTime",
        "Name",
        "RoleArn",
        "RedriveCount",
    }


def test_context_redrive_count_inside_the_map(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "redrive-count-map",
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "StartAt": "Inner",
                        "States": {
                            "Inner": {
                                "Type": "Pass",
                                "Parameters": {"count.$": "$$.Execution.RedriveCount"},
                                "End": True,
                            }
                        },
                    },
                    "End": True,
                },
            },
        },
    )

    assert output(run_execution(sfn, arn, {"items": [1, 2]})) == [{"count": 0}, {"count": 0}]
