"""The branch_aborts patch, proved through boto3 against moto.

Expected answer for a Map: LocalStack's AWS-recorded timeouts snapshot
(test_service_lambda_map_timeout): after the first MapIterationFailed, each iteration
still running gets ``TaskStateAborted`` then ``MapIterationAborted``, the failed one's
task ``TaskStateAborted``, then ``MapStateFailed`` and ``ExecutionFailed`` end it. For a
Parallel state (no recording found; the module's docstring says why this order): each
branch still running gets the ``<Type>StateAborted`` of its state, then
``ParallelStateFailed``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from moto import mock_aws
from patch_helpers import (
    REGION,
    aws,
    create_state_machine,
    entered_states,
    history,
    history_when_ended,
)

from runledger_local.patches import LocalCloud, local_aws

#: A Map whose item 0 fails after 1 s while items 1 and 2 wait 3 s.
MAP_FAILS_SOON: dict[str, Any] = {
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
}


def test_map_iteration_aborts_the_running_iterations_before_the_map_fails(
    aborted: dict[str, list[dict[str, Any]]],
) -> None:
    events = aborted["map-aborts"]
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
    details = [
        e["mapIterationAbortedEventDetails"]
        for e in events
        if "mapIterationAbortedEventDetails" in e
    ]
    assert sorted(detail["index"] for detail in details) == [1, 2]
    assert {detail["name"] for detail in details} == {"Each"}
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


def _parallel(name: str, failing: dict[str, Any], catch: bool = False) -> dict[str, Any]:
    parallel: dict[str, Any] = {
        "Type": "Parallel",
        "Branches": [
            {
                "StartAt": "Slow",
                "States": {
                    "Slow": {"Type": "Wait", "Seconds": 3, "Next": "After"},
                    "After": {"Type": "Pass", "End": True},
                },
            },
            failing,
            {"StartAt": "Quick", "States": {"Quick": {"Type": "Pass", "End": True}}},
        ],
    }
    if catch:
        parallel["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
        return {
            "StartAt": name,
            "States": {name: parallel, "Caught": {"Type": "Pass", "End": True}},
        }
    parallel["End"] = True
    return {"StartAt": name, "States": {name: parallel}}


_FAILS_SOON: dict[str, Any] = {
    "StartAt": "Soon",
    "States": {
        "Soon": {"Type": "Wait", "Seconds": 1, "Next": "Breaks"},
        "Breaks": {"Type": "Fail", "Error": "Broken", "Cause": "branch 1"},
    },
}


@pytest.fixture(scope="module")
def aborted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """The histories of the three executions that abort what still runs: a Map, a Parallel
    state and a caught Parallel state. Each fails after a 1 s Wait while another
    iteration or branch waits 3 s; they run side by side in one cloud, and are read 2.5 s
    after they end, once the aborted Wait states would have ended, so that any event an
    aborted branch wrote late is in them. The cloud is gone when the tests read them."""
    machines = {
        "map-aborts": (MAP_FAILS_SOON, '{"items": [0, 1, 2]}'),
        "parallel-aborts": (_parallel("Both", _FAILS_SOON), "{}"),
        "parallel-caught": (_parallel("Both", _FAILS_SOON, catch=True), "{}"),
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", REGION)  # mock_aws sets fake credentials
        with mock_aws(), local_aws(batch_workdir=tmp_path_factory.mktemp("aborts")):
            sfn = aws("stepfunctions")
            executions = {
                name: sfn.start_execution(
                    stateMachineArn=create_state_machine(sfn, name, definition), input=given
                )["executionArn"]
                for name, (definition, given) in machines.items()
            }
            for execution in executions.values():
                history_when_ended(sfn, execution)
            time.sleep(2.5)  # the aborted iterations' and branches' Wait states are over
            return {name: history(sfn, execution) for name, execution in executions.items()}


def test_branch_aborts_the_running_branches_before_the_parallel_state_fails(
    aborted: dict[str, list[dict[str, Any]]],
) -> None:
    events = aborted["parallel-aborts"]
    types = [event["type"] for event in events]

    failed = types.index("FailStateEntered")
    assert types[failed + 1 :] == ["WaitStateAborted", "ParallelStateFailed", "ExecutionFailed"]
    slow = next(
        e["id"] for e in events if e.get("stateEnteredEventDetails", {}).get("name") == "Slow"
    )
    aborted = next(e for e in events if e["type"] == "WaitStateAborted")
    assert aborted["previousEventId"] == slow  # the waiting branch's state, not the failed one's
    assert "WaitStateExited" not in types[failed:]  # the aborted branch went no further
    assert "After" not in entered_states(events)


def test_branch_aborts_a_caught_parallel_state_and_its_branch_stays_stopped(
    aborted: dict[str, list[dict[str, Any]]],
) -> None:
    types = [event["type"] for event in aborted["parallel-caught"]]

    assert types[types.index("FailStateEntered") + 1 :] == [
        "WaitStateAborted",
        "ParallelStateFailed",
        "ParallelStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]


def test_branch_aborts_nothing_when_every_branch_succeeds(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    succeeds: dict[str, Any] = {
        "StartAt": "Fine",
        "States": {"Fine": {"Type": "Pass", "End": True}},
    }
    definition = _parallel("Both", succeeds)
    definition["States"]["Both"]["Branches"][0]["States"]["Slow"]["Seconds"] = 0
    arn = create_state_machine(sfn, "parallel-fine", definition)
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]

    types = [event["type"] for event in history_when_ended(sfn, execution)]

    assert not [t for t in types if t.endswith("Aborted")]
    assert types[-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]
