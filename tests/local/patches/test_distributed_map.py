"""The distributed_map patch, proved through boto3 against moto.

Expected answers: AWS's Developer Guide ("Using Map state in Distributed mode": each
iteration is a child workflow execution with its own history; "Examining Map Run": the
children's labelled state machine ARN; "Passing data between states with variables": a
Distributed Map's children do not see the parent's variables) and API reference
(ListExecutions' ``mapRunArn``, DescribeExecution's ``mapRunArn``); the tolerated failure
error as LocalStack's AWS-validated tests record it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from patch_helpers import (
    REGION,
    aws,
    create_state_machine,
    history,
    lambda_priorities,
    output,
    run_execution,
)

from runledger_local.patches import LocalCloud
from runledger_local.patches.features.distributed_map import (
    EXCEEDED_CAUSE,
    is_child_arn,
    tolerance_exceeded,
)

_ACCOUNT = "123456789012"
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _definition(function: str = "echo", **map_fields: Any) -> dict[str, Any]:
    """JSONata: a variable, then a Distributed Map whose child calls a Lambda and a Pass."""
    iteration = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": function, "Payload": "{% $states.input %}"},
                "Output": "{% $states.result.Payload.event %}",
                "Next": "Shape",
            },
            "Shape": {
                "Type": "Pass",
                "Output": {
                    "id": "{% $states.context.Execution.Id %}",
                    "name": "{% $states.context.Execution.Name %}",
                    "start": "{% $states.context.Execution.StartTime %}",
                    "item": "{% $states.context.Map.Item %}",
                    "input": "{% $states.input %}",
                    "outer": "{% $exists($outer) ? $outer : 'absent' %}",
                },
                "End": True,
            },
        },
    }
    fan: dict[str, Any] = {
        "Type": "Map",
        "Label": "files",
        "Items": "{% $states.input.items %}",
        "ItemSelector": {
            "v": "{% $states.context.Map.Item.Value %}",
            "i": "{% $states.context.Map.Item.Index %}",
            "o": "{% $outer %}",
        },
        "MaxConcurrency": 1,
        "ItemProcessor": iteration,
        "End": True,
    }
    fan.update(map_fields)
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"outer": "visible"}, "Next": "Fan"},
            "Fan": fan,
        },
    }


def _run(
    local_cloud: LocalCloud, functions: Path, definition: dict[str, Any], items: list[Any]
) -> tuple[Any, dict[str, Any], str]:
    """(client, the parent's description, its Map Run's ARN)."""
    local_cloud.register_function("echo", code_dir=functions / "echo")
    local_cloud.register_function("fail", code_dir=functions / "fail")
    sfn = aws("stepfunctions")
    described = run_execution(sfn, create_state_machine(sfn, "dmap", definition), {"items": items})
    (map_run,) = sfn.list_map_runs(executionArn=described["executionArn"])["mapRuns"]
    return sfn, described, map_run["mapRunArn"]


def _children(sfn: Any, map_run_arn: str, **extra: Any) -> list[dict[str, Any]]:
    return list(sfn.list_executions(mapRunArn=map_run_arn, **extra)["executions"])


def test_distributed_map_each_iteration_sees_its_child_execution_in_the_context(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    _, described, _ = _run(local_cloud, lambda_fixtures, _definition(), ["a", "b", "c"])

    result = output(described)
    child_arn = re.compile(rf"arn:aws:states:{REGION}:{_ACCOUNT}:execution:dmap/files:({_UUID})$")
    assert len({each["id"] for each in result}) == 3
    for index, (each, value) in enumerate(zip(result, "abc", strict=True)):
        matched = child_arn.match(each["id"])
        assert matched, each["id"]
        assert each["name"] == matched.group(1)
        # A child starts after its parent (both as AWS writes them: ISO 8601, ms, Z).
        started = dt.datetime.fromisoformat(each["start"].replace("Z", "+00:00"))
        assert started >= described["startDate"]
        assert each["item"] == {"Index": index, "Value": value}
        # ItemSelector is evaluated in the parent's scope: it sees the parent's variable;
        # the child workflow does not (AWS: no variables inherited by a Distributed Map).
        assert each["input"] == {"v": value, "i": index, "o": "visible"}
        assert each["outer"] == "absent"


def test_distributed_map_children_are_listed_by_their_map_run_one_at_a_time(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    sfn, described, map_run_arn = _run(local_cloud, lambda_fixtures, _definition(), [1, 2, 3])

    children = _children(sfn, map_run_arn)

    ids = [each["id"] for each in output(described)]
    assert sorted(each["executionArn"] for each in children) == sorted(ids)
    labelled = f"arn:aws:states:{REGION}:{_ACCOUNT}:stateMachine:dmap/files"
    for each in children:
        assert each["status"] == "SUCCEEDED"
        assert each["stateMachineArn"] == labelled
        assert each["mapRunArn"] == map_run_arn
        assert each["itemCount"] == 1
        assert each["startDate"] <= each["stopDate"]
    # Most recent first; MaxConcurrency 1: each child starts after the one before ended.
    in_order = children[::-1]
    assert [c["startDate"] for c in in_order] == sorted(c["startDate"] for c in children)
    for earlier, later in itertools.pairwise(in_order):
        assert earlier["stopDate"] <= later["startDate"]
    # Paginated as moto paginates ListExecutions.
    first = sfn.list_executions(mapRunArn=map_run_arn, maxResults=2)
    rest = sfn.list_executions(mapRunArn=map_run_arn, nextToken=first["nextToken"])
    assert [e["executionArn"] for e in first["executions"] + rest["executions"]] == [
        e["executionArn"] for e in children
    ]
    assert _children(sfn, map_run_arn, statusFilter="FAILED") == []
    # ListExecutions(stateMachineArn) lists the parent alone.
    parents = sfn.list_executions(stateMachineArn=described["stateMachineArn"])["executions"]
    assert [each["executionArn"] for each in parents] == [described["executionArn"]]


def test_distributed_map_child_is_described_and_has_its_own_history(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    sfn, described, map_run_arn = _run(local_cloud, lambda_fixtures, _definition(), ["a", "b"])
    second = output(described)[1]

    child = sfn.describe_execution(executionArn=second["id"])
    events = history(sfn, second["id"])

    assert child["status"] == "SUCCEEDED"
    assert child["name"] == second["name"]
    assert child["mapRunArn"] == map_run_arn
    assert child["stateMachineArn"].endswith(":stateMachine:dmap/files")
    assert json.loads(child["input"]) == {"v": "b", "i": 1, "o": "visible"}
    assert json.loads(child["output"]) == second
    assert child["startDate"] <= child["stopDate"]
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))
    # Each event after the one before, but the first state's after none: AWS gives it
    # previousEventId 0 as it does ExecutionStarted (LocalStack's AWS-recorded snapshots,
    # e.g. intrinsic_functions/test_string_operations.snapshot.json).
    assert [event.get("previousEventId", 0) for event in events] == [0, 0, *range(2, len(events))]
    types = [event["type"] for event in events]
    assert types == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    started = events[0]["executionStartedEventDetails"]
    assert json.loads(started["input"]) == {"v": "b", "i": 1, "o": "visible"}
    assert json.loads(events[-1]["executionSucceededEventDetails"]["output"]) == second
    with pytest.raises(ClientError) as raised:
        sfn.describe_execution(executionArn=second["id"][:-4] + "0000")
    assert raised.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


def test_distributed_map_a_failing_child_fails_the_map_over_its_tolerated_failures(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    sfn, described, map_run_arn = _run(local_cloud, lambda_fixtures, _definition("fail"), [1, 2])

    assert described["status"] == "FAILED"
    assert described["error"] == "States.ExceedToleratedFailureThreshold"
    assert described["cause"] == EXCEEDED_CAUSE
    children = _children(sfn, map_run_arn)
    assert [each["status"] for each in children] == ["FAILED", "FAILED"]
    failed = sfn.describe_execution(executionArn=children[0]["executionArn"])
    assert failed["error"] == "RequestInvalidError"
    assert "variants missing" in failed["cause"]
    assert "output" not in failed
    assert history(sfn, failed["executionArn"])[-1]["type"] == "ExecutionFailed"
    map_run = sfn.describe_map_run(mapRunArn=map_run_arn)
    assert map_run["status"] == "FAILED"
    assert map_run["executionCounts"]["failed"] == 2
    assert map_run["executionCounts"]["running"] == 0
    assert map_run["itemCounts"]["failed"] == 2
    parent = [event["type"] for event in history(sfn, described["executionArn"])]
    assert parent[-4:] == ["MapRunStarted", "MapRunFailed", "MapStateFailed", "ExecutionFailed"]


def test_distributed_map_tolerates_the_failures_it_is_told_to(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    definition = _definition("fail", ToleratedFailureCount=2)

    sfn, described, map_run_arn = _run(local_cloud, lambda_fixtures, definition, [{}, {}])

    assert output(described) == [None, None]  # moto's output for a failed child
    assert sfn.describe_map_run(mapRunArn=map_run_arn)["status"] == "SUCCEEDED"


def test_distributed_map_parent_history_keeps_only_the_map_runs_events(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    sfn, described, _ = _run(local_cloud, lambda_fixtures, _definition(), [1, 2])

    types = [event["type"] for event in history(sfn, described["executionArn"])]

    assert types == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "MapStateEntered",
        "MapStateStarted",
        "MapRunStarted",
        "MapRunSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]


def test_is_child_arn_and_tolerance_exceeded() -> None:
    base = f"arn:aws:states:{REGION}:{_ACCOUNT}:execution"
    assert is_child_arn(f"{base}:machine/label:0f8b")
    assert not is_child_arn(f"{base}:machine:run-1")
    assert not is_child_arn(f"arn:aws:states:{REGION}:{_ACCOUNT}:mapRun:machine/label:0f8b")
    assert tolerance_exceeded(1, 10, 0, 0.0)
    assert not tolerance_exceeded(0, 10, 0, 0.0)
    assert not tolerance_exceeded(2, 10, 2, 0.0)
    assert not tolerance_exceeded(2, 10, 0, 20.0)
    assert tolerance_exceeded(3, 10, 2, 20.0)


def test_distributed_map_a_batch_child_counts_its_items(local_cloud: LocalCloud) -> None:
    # With features/item_batcher: a child's input is a batch, its itemCount the batch's size.
    sfn = aws("stepfunctions")
    iteration = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "End": True}},
    }
    batch_map = {
        "Type": "Map",
        "ItemsPath": "$",
        "ItemBatcher": {"MaxItemsPerBatch": 2},
        "ItemProcessor": iteration,
        "End": True,
    }
    arn = create_state_machine(sfn, "batched", {"StartAt": "B", "States": {"B": batch_map}})
    described = run_execution(sfn, arn, [1, 2, 3])
    (map_run,) = sfn.list_map_runs(executionArn=described["executionArn"])["mapRuns"]

    children = _children(sfn, map_run["mapRunArn"])

    assert sorted(each["itemCount"] for each in children) == [1, 2]
    inputs = [
        json.loads(sfn.describe_execution(executionArn=c["executionArn"])["input"])
        for c in children
    ]
    assert sorted(inputs, key=lambda batch: batch["Items"][0]) == [
        {"Items": [1, 2]},
        {"Items": [3]},
    ]


def test_distributed_map_run_of_a_stopped_parent_is_aborted(local_cloud: LocalCloud) -> None:
    """StopExecution of the parent aborts its Map Run: its children end ABORTED and so does
    the Map Run (DescribeMapRun's status: RUNNING, SUCCEEDED, FAILED or ABORTED, API
    reference DescribeMapRun), not SUCCEEDED as moto's engine records it."""
    sfn = aws("stepfunctions")
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Long",
                    "States": {"Long": {"Type": "Wait", "Seconds": 60, "End": True}},
                },
                "End": True,
            }
        },
    }
    arn = create_state_machine(sfn, "dmap-stopped", definition)
    execution = sfn.start_execution(stateMachineArn=arn, input='{"items": [1, 2]}')["executionArn"]
    deadline = time.monotonic() + 10
    while not (runs := sfn.list_map_runs(executionArn=execution)["mapRuns"]) or not _children(
        sfn, runs[0]["mapRunArn"]
    ):
        assert time.monotonic() < deadline, "no child started"
        time.sleep(0.02)
    map_run_arn = runs[0]["mapRunArn"]
    for child in _children(sfn, map_run_arn):  # a running child is described as one
        assert sfn.describe_execution(executionArn=child["executionArn"])["status"] == "RUNNING"
        assert history(sfn, child["executionArn"])[-1]["type"] != "ExecutionAborted"

    sfn.stop_execution(executionArn=execution, error="Stopped", cause="by the test")

    deadline = time.monotonic() + 10
    while (map_run := sfn.describe_map_run(mapRunArn=map_run_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the Map Run still runs"
        time.sleep(0.02)
    assert map_run["status"] == "ABORTED"
    assert "stopDate" in map_run
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    assert {child["status"] for child in _children(sfn, map_run_arn)} == {"ABORTED"}


def test_distributed_map_children_call_lambda_in_their_runs_start_order(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    """The in-process Lambda lock serves executions by start; a child is served by its
    parent's start (features/lambda_invoke ORDER_START), not its own, which would put a
    run's jobs behind every run started after it."""
    with lambda_priorities() as priorities:
        sfn, described, map_run_arn = _run(local_cloud, lambda_fixtures, _definition(), ["a", "b"])
    children = _children(sfn, map_run_arn)
    assert len(priorities) == len(children) == 2
    started = described["startDate"].timestamp()
    assert priorities == [pytest.approx(started, abs=0.001)] * 2
    assert all(child["startDate"].timestamp() > started for child in children)
