"""The context_timestamps patch, proved through boto3 against moto.

AWS (Developer Guide, "Accessing execution data from the Context object"): the Context
object's ``Execution.StartTime`` and ``State.EnteredTime`` are ISO 8601 text such as
``2019-03-26T20:14:13.192Z`` (UTC, milliseconds), the time the execution started and the
time its state was entered, as in the execution's history.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from patch_helpers import aws, create_state_machine, history, output, run_execution

from runledger_local.patches import LocalCloud

_AWS_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _text(moment: dt.datetime) -> str:
    """A boto3 timestamp (milliseconds on the wire) as AWS's Context object writes it."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _entered(events: list[dict[str, Any]], name: str) -> list[str]:
    return [
        _text(e["timestamp"])
        for e in events
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == name
    ]


def test_context_timestamps_are_aws_text_in_jsonata_and_jsonpath(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "context-timestamps",
        {
            "StartAt": "Jsonata",
            "States": {
                "Jsonata": {
                    "Type": "Pass",
                    "QueryLanguage": "JSONata",
                    "Output": {
                        "entered": "{% $states.context.State.EnteredTime %}",
                        "started": "{% $states.context.Execution.StartTime %}",
                        "context": "{% $states.context %}",
                    },
                    "Next": "Wait",
                },
                "Wait": {"Type": "Wait", "Seconds": 0, "Next": "JsonPath"},
                "JsonPath": {
                    "Type": "Pass",
                    "Parameters": {
                        "jsonata.$": "$",
                        "entered.$": "$$.State.EnteredTime",
                        "started.$": "$$.Execution.StartTime",
                        "context.$": "$$",
                    },
                    "End": True,
                },
            },
        },
    )

    described = run_execution(sfn, arn, {})

    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    result = output(described)
    jsonata = result.pop("jsonata")
    events = history(sfn, described["executionArn"])
    (started_event,) = [e for e in events if e["type"] == "ExecutionStarted"]
    for each, state in ((jsonata, "Jsonata"), (result, "JsonPath")):
        assert _AWS_TIMESTAMP.match(each["entered"]), each["entered"]
        assert _AWS_TIMESTAMP.match(each["started"]), each["started"]
        # The same text through the whole Context object, too.
        assert each["context"]["State"]["EnteredTime"] == each["entered"]
        assert each["context"]["Execution"]["StartTime"] == each["started"]
        # EnteredTime: the state's StateEntered event; StartTime: the execution's
        # startDate, which is its ExecutionStarted event's timestamp too.
        assert [each["entered"]] == _entered(events, state)
        assert each["started"] == _text(described["startDate"])
        assert each["started"] == _text(started_event["timestamp"])
    # As text they sort in time order, as the workflow's DynamoDB items compare them.
    assert jsonata["started"] <= jsonata["entered"] <= result["entered"]
    assert result["started"] == jsonata["started"]


def test_context_timestamps_each_map_iteration_enters_its_own_state(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "context-timestamps-map",
        {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 4,
                    "ItemProcessor": {
                        "StartAt": "Each",
                        "States": {
                            "Each": {
                                "Type": "Pass",
                                "Parameters": {"entered.$": "$$.State.EnteredTime"},
                                "End": True,
                            }
                        },
                    },
                    "End": True,
                }
            },
        },
    )

    described = run_execution(sfn, arn, {"items": list(range(8))})

    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    entered = [each["entered"] for each in output(described)]
    assert all(_AWS_TIMESTAMP.match(each) for each in entered), entered
    # Iterations run concurrently: each one's EnteredTime is its own StateEntered event's.
    assert sorted(entered) == sorted(_entered(history(sfn, described["executionArn"]), "Each"))


def test_context_timestamps_in_a_distributed_map_child_execution(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "context-timestamps-dmap",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Map",
                    "Items": "{% $states.input.items %}",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                        "StartAt": "Each",
                        "States": {
                            "Each": {
                                "Type": "Pass",
                                "Output": {
                                    "id": "{% $states.context.Execution.Id %}",
                                    "started": "{% $states.context.Execution.StartTime %}",
                                    "entered": "{% $states.context.State.EnteredTime %}",
                                },
                                "End": True,
                            }
                        },
                    },
                    "End": True,
                }
            },
        },
    )

    described = run_execution(sfn, arn, {"items": ["a", "b"]})

    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    parent_started = _text(described["startDate"])
    for each in output(described):
        assert _AWS_TIMESTAMP.match(each["started"]), each["started"]
        assert _AWS_TIMESTAMP.match(each["entered"]), each["entered"]
        child = sfn.describe_execution(executionArn=each["id"])
        events = history(sfn, each["id"])
        assert events[0]["type"] == "ExecutionStarted"
        # The child's own start: its startDate and its ExecutionStarted event's timestamp.
        assert each["started"] == _text(child["startDate"])
        assert each["started"] == _text(events[0]["timestamp"])
        assert each["started"] >= parent_started
        assert [each["entered"]] == _entered(events, "Each")
