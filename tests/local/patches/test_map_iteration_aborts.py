"""The map_iteration_aborts patch, proved through boto3 against moto.

Expected answer: LocalStack's AWS-recorded timeouts snapshot
(test_service_lambda_map_timeout): after the first MapIterationFailed, each iteration
still running gets ``TaskStateAborted`` then ``MapIterationAborted``, the failed one's
task ``TaskStateAborted``, then ``MapStateFailed`` and ``ExecutionFailed`` end it.
"""

from __future__ import annotations

import time

from patch_helpers import aws, create_state_machine, history, history_when_ended

from runledger_local.patches import LocalCloud


def test_map_iteration_aborts_the_running_iterations_before_the_map_fails(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "map-aborts",
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "StartAt": "Which",
                        "States": {
                            "Which": {
                                "Type": "Choice",
                                "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Soon"}],
                                "Default": "Slow",
                            },
                            "Soon": {"Type": "Wait", "Seconds": 1, "Next": "Breaks"},
                            "Breaks": {"Type": "Fail", "Error": "Broken", "Cause": "item 0"},
                            "Slow": {"Type": "Wait", "Seconds": 3, "Next": "After"},
                            "After": {"Type": "Pass", "End": True},
                        },
                    },
                    "End": True,
                }
            },
        },
    )
    execution = sfn.start_execution(stateMachineArn=arn, input='{"items": [0, 1, 2]}')[
        "executionArn"
    ]

    history_when_ended(sfn, execution)
    time.sleep(2.5)  # the aborted iterations' Wait states are over by now
    events = history(sfn, execution)
    types = [event["type"] for event in events]

    failed = types.index("MapIterationFailed")
    assert types[failed + 1 :] == [
        "WaitStateAborted",
        "MapIterationAborted",
        "WaitStateAborted",
        "MapIterationAborted",
        "MapStateFailed",
        "ExecutionFailed",
    ]
    aborted = [
        e["mapIterationAbortedEventDetails"]
        for e in events
        if "mapIterationAbortedEventDetails" in e
    ]
    assert sorted(detail["index"] for detail in aborted) == [1, 2]
    assert {detail["name"] for detail in aborted} == {"Each"}
    assert "PassStateEntered" not in types  # the aborted iterations went no further


def test_map_iteration_aborts_nothing_when_every_iteration_succeeds(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "map-fine",
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "StartAt": "P",
                        "States": {"P": {"Type": "Pass", "End": True}},
                    },
                    "End": True,
                }
            },
        },
    )
    execution = sfn.start_execution(stateMachineArn=arn, input='{"items": [1, 2, 3]}')[
        "executionArn"
    ]

    types = [event["type"] for event in history_when_ended(sfn, execution)]

    assert types.count("MapIterationSucceeded") == 3
    assert not [t for t in types if t.endswith("Aborted")]
    assert types[-1] == "ExecutionSucceeded"
