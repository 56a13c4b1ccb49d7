"""The jsonata patch, proved through boto3 against moto."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from patch_helpers import (
    aws,
    create_runs_table,
    create_state_machine,
    entered_states,
    history,
    output,
    run_execution,
)

from runledger_local.patches import LocalCloud
from runledger_local.patches.features import jsonata


# ------------------------------------------------------------------------------ jsonata
def test_jsonata_workflow_with_assign_choice_map_retry_and_catch(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    for name, folder in (("echo", "echo"), ("flaky", "flaky"), ("fail", "fail")):
        local_cloud.register_function(name, code_dir=lambda_fixtures / folder)
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    ddb.put_item(
        TableName="runs",
        Item={"pk": {"S": "RUN#r-7"}, "sk": {"S": "REQUEST"}, "status": {"S": "REQUESTED"}},
    )
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "jsonata-workflow", "jsonata_workflow.asl.json")
    request = {"run_id": "r-7", "variants": [{"name": "od-1vcpu"}, {"name": "spot-2vcpu"}]}

    started = time.monotonic()
    first = run_execution(sfn, arn, request)
    duplicate = run_execution(sfn, arn, request)
    elapsed = time.monotonic() - started

    result = output(first)
    assert result["runId"] == "r-7"
    assert result["note"] == 'quote " backslash \\ newline \n end'
    assert result["startedBy"] == first["executionArn"]
    assert abs(result["startMillis"] - first["startDate"].timestamp() * 1000) < 5
    assert result["prepared"] == [
        {"variant": {"name": "od-1vcpu"}, "index": 0, "tags": ["r-7", {"nested": "OD-1VCPU"}]},
        {"variant": {"name": "spot-2vcpu"}, "index": 1, "tags": ["r-7", {"nested": "SPOT-2VCPU"}]},
    ]
    assert result["validation"] == {
        "error": "RequestInvalidError",
        "message": "variants missing in r-7",
    }
    item = ddb.get_item(TableName="runs", Key={"pk": {"S": "RUN#r-7"}, "sk": {"S": "REQUEST"}})
    assert item["Item"]["status"] == {"S": "RUNNING"}

    events = history(sfn, first["executionArn"])
    assert entered_states(events) == [
        "Init", "HasVariants", "ClaimRun", "Variants", "Prepare", "Prepare", "Flaky",
        "Validate", "Summarize",
    ]  # fmt: skip
    flaky_attempts = [
        e["type"]
        for e in events
        if e["type"].startswith("Task") and _state_of(events, e) == "Flaky"
    ]
    assert Counter(flaky_attempts)["TaskScheduled"] == 3
    assert Counter(flaky_attempts)["TaskFailed"] == 2
    assert elapsed < 10  # 30 s + 60 s of backoff were not slept (retry_sleep_scale=0)

    assert output(duplicate) == {
        "duplicate": True,
        "error": "DynamoDB.ConditionalCheckFailedException",
    }
    assert entered_states(history(sfn, duplicate["executionArn"]))[-1] == "AlreadyClaimed"


def _state_of(events: list[dict[str, Any]], event: dict[str, Any]) -> str | None:
    """Name of the state an event belongs to (the last state entered before it)."""
    name = None
    for candidate in events:
        if "stateEnteredEventDetails" in candidate:
            name = candidate["stateEnteredEventDetails"]["name"]
        if candidate is event:
            return name
    return None


def test_jsonata_step_functions_functions(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "functions",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Compute",
            "States": {
                "Compute": {
                    "Type": "Pass",
                    "Output": {
                        "partition": "{% $partition([1, 2, 3, 4, 5], 2) %}",
                        "range": "{% $range(0, 10, 5) %}",
                        "range_of_one": "{% $range(1, 9, 9) %}",
                        "hash": "{% $hash('abc', 'SHA-256') %}",
                        "seeded": "{% $random(42) = $random(42) %}",
                        "random": "{% $random() %}",
                        "uuid": "{% $uuid() %}",
                        "parsed": "{% $parse($states.input.json).k %}",
                        "arithmetic": "{% $states.input.n * 2 %}",
                    },
                    "End": True,
                }
            },
        },
    )

    result = output(run_execution(sfn, arn, {"json": '{"k": [1, "two"]}', "n": 21}))

    assert result["partition"] == [[1, 2], [3, 4], [5]]
    assert result["range"] == [0, 5, 10]
    assert result["range_of_one"] == 1  # a one-value sequence (AWS-recorded: test_array_range)
    assert result["hash"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert result["seeded"] is True
    assert 0 <= result["random"] < 1
    assert len(result["uuid"]) == 36
    assert result["parsed"] == [1, "two"]
    assert result["arithmetic"] == 42


def test_jsonata_bindings_and_results_are_what_a_json_round_trip_gives() -> None:
    # Bindings and results are converted directly, not through JSON text; the values must
    # be exactly what the text round trip (moto's encoder for bindings) would give.
    import datetime as dt
    import enum

    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    class Colour(enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    class Tagged(dict[str, Any]):
        pass

    class Items(list[Any]):
        pass

    value = {
        "context": {"StartTime": dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)},
        "day": dt.date(2026, 11, 23),
        "nested": [1, 2.5, ("t", None), {"b": True, "nan": float("inf")}],
        "enum": Colour.RED,
        "level": Level.HIGH,
        "keys": {1: "one", None: "none", 2.5: "x"},
        "tagged": Tagged(k=Items([1, {"d": "e"}])),
    }
    converted = jsonata._as_json(value, to_json_str)
    assert converted == json.loads(to_json_str(value))
    assert type(converted["tagged"]) is dict
    assert type(converted["tagged"]["k"]) is list
    converted["nested"][3]["b"] = False  # a new tree: the original is untouched
    assert value["nested"][3] == {"b": True, "nan": float("inf")}
    results = [Items([1, "a", {"x": None}]), 3.0, "s", None, {"k": Level.HIGH}]
    assert [jsonata._as_json(r) for r in results] == json.loads(json.dumps(results))
    with pytest.raises(TypeError):  # what json.dumps does with a non-JSON result
        jsonata._as_json({"f": object()})


def _workflow_jsonata_expressions() -> list[str]:
    definition = (Path(__file__).parents[3] / "statemachines" / "run_workflow.asl.json").read_text()
    found = (match.strip() for match in re.findall(r"\{%(.*?)%\}", definition))
    return [expression for expression in found if "${" not in expression]  # not SAM's


def test_jsonata_cached_expressions_answer_as_freshly_parsed_ones() -> None:
    # Speed on, a parsed expression is kept and each evaluation runs on a copy of it; every
    # expression (the workflow's own among them) must give what a fresh parse gives, also
    # when evaluated again after other expressions.
    import datetime as dt

    import jsonata as jsonata_python
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    started = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    run_input = {
        "name": "run-1",
        "variants": [{"name": "a", "cost": 1}, {"name": "b", "cost": 2}],
        "attributes": {"summary": {"ok": 2}, "cost": {"usd": 0.5}},
        "error": "E", "cause": "C", "Error": "E2", "Cause": "C2", "reason": "r",
        "valid": True, "timeout_seconds": 60, "summary": "s", "status": "RUNNING",
        "job_name": "j", "cost": 0.1, "container_overrides": {"Environment": []},
        "0": "zero",
    }  # fmt: skip
    values = {
        "states": {
            "input": run_input,
            "context": {
                "Execution": {"Id": "arn:x", "Input": run_input, "StartTime": started},
                "State": {"EnteredTime": started, "Name": "Prepare", "RetryCount": 0},
            },
            "result": {
                "Payload": {"request": run_input, "valid": True},
                "JobId": "job-1",
                "Status": "SUCCEEDED",
                "StartedAt": 1,
                "StoppedAt": 2,
                "Attempts": [{"StartedAt": 1, "StoppedAt": 2, "Container": {"ExitCode": 0}}],
            },
            "errorOutput": {"Error": "States.TaskFailed", "Cause": "boom"},
        },
        "run": {"id": "run-1", "variants": ["a", "b"], "tags": {"team": "x"}},
        "unused": {"big": list(range(50))},
    }
    expressions = [
        *_workflow_jsonata_expressions(),
        "$states.input.variants.name",
        "$states.input.variants[0].name",
        "$states.input.variants[cost > 1].name",
        "$keys($states.input)",
        "$states.input.*",
        "$states.input.**.name",
        "$states.input.`name`",
        "$lookup($states.input, 'name')",
        "$states.input.attributes.$keys()",
        "$states.input.attributes.(summary.ok + cost.usd)",
        "$states.input.variants.%.name",
        "$states.input.0",
        "($x := $states.input; $x.name)",
        "$each($states.context.State, function($v, $k) {$k})",
        "$states.context.Execution.StartTime & ' ' & $run.id",
        "$run.variants[1] & $string($run.tags)",
        "$states",
        "$states.input.variants.{'n': name, 'all': $states.context.Execution.Input.name}",
    ]
    assert len(expressions) > 30  # the workflow's own expressions are in the list

    def evaluate(expression: str, *, cached: bool) -> Any:
        try:
            result = jsonata._evaluate_jsonata(
                jsonata_python, expression, everything, cached=cached
            )
        except Exception as exc:  # both ways must fail alike
            return ("error", str(exc))
        return None if result is None else jsonata._python_value(result)

    everything = jsonata._as_json(values, to_json_str)
    fresh = [evaluate(expression, cached=False) for expression in expressions]
    for _ in range(2):  # the second round reuses every kept parse
        assert [evaluate(expression, cached=True) for expression in expressions] == fresh
    assert fresh[expressions.index("$states.input.variants[cost > 1].name")] == "b"


def test_jsonata_outer_variables_are_read_only_inside_a_map(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    inner = {"Type": "Pass", "Assign": {"total": "{% $total + $states.input %}"}, "End": True}
    arn = create_state_machine(
        sfn,
        "scopes",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Init",
            "States": {
                "Init": {"Type": "Pass", "Assign": {"total": 0}, "Next": "Add"},
                "Add": {
                    "Type": "Map",
                    "Items": [1, 2],
                    "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": inner}},
                    "End": True,
                },
            },
        },
    )

    assert run_execution(sfn, arn, {})["status"] == "FAILED"


def test_jsonata_evaluation_error_is_a_catchable_query_evaluation_error(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "bad-expression",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Divide",
            "States": {
                "Divide": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:getItem",
                    "Arguments": {"TableName": "{% 'runs-' & $number($states.input.size) %}"},
                    "Catch": [
                        {
                            "ErrorEquals": ["States.QueryEvaluationError"],
                            "Output": {"caught": "{% $states.errorOutput.Error %}"},
                            "Next": "Caught",
                        }
                    ],
                    "End": True,
                },
                "Caught": {"Type": "Succeed"},
            },
        },
    )

    described = run_execution(sfn, arn, {"size": "large"})

    assert output(described) == {"caught": "States.QueryEvaluationError"}
    types = [e["type"] for e in history(sfn, described["executionArn"])]
    assert "EvaluationFailed" in types


def test_jsonata_timeout_seconds_from_an_expression_times_the_task_out(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    local_cloud.register_function("slow", code_dir=lambda_fixtures / "slow", timeout=10)
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "timeout",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Slow",
            "States": {
                "Slow": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": {"FunctionName": "slow", "Payload": {"sleep": 3}},
                    "TimeoutSeconds": "{% $states.input.limit %}",
                    "End": True,
                }
            },
        },
    )

    described = run_execution(sfn, arn, {"limit": 1})

    assert (described["status"], described["error"]) == ("FAILED", "States.Timeout")
