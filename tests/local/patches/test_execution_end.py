"""The execution_end patch, proved through boto3 against moto.

Expected answers (AWS): the history's terminal event is its last and comes once, and
DescribeExecution reports the status it records (GetExecutionHistory and
DescribeExecution API references; LocalStack's AWS-recorded base snapshot
test_state_fail_empty: history ends ExecutionFailed, describe_execution says FAILED).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from patch_helpers import (
    TERMINAL_EVENTS,
    aws,
    create_state_machine,
    history,
    history_when_ended,
    history_with,
)

from runledger_local.patches import LocalCloud


def test_execution_end_describe_agrees_with_the_terminal_event_at_once(
    local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.backend import execution as execution_module

    communication = execution_module.BaseExecutionWorkerCommunication
    terminated = communication.terminated

    def late_terminated(self: Any) -> None:  # widen the race moto leaves open
        time.sleep(0.3)
        terminated(self)

    monkeypatch.setattr(communication, "terminated", late_terminated)
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn, "fail-empty", {"StartAt": "F", "States": {"F": {"Type": "Fail"}}}
    )
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]

    events = history_when_ended(sfn, execution)
    described = sfn.describe_execution(executionArn=execution)

    assert events[-1]["type"] == "ExecutionFailed"
    assert described["status"] == "FAILED"


def test_execution_end_describe_says_aborted_as_soon_as_stop_execution_answers(
    local_cloud: LocalCloud,
) -> None:
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    add_event = EventManager.add_event  # the local cloud's

    def late_abort(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> Any:
        if str(getattr(event_type, "value", event_type)) == "ExecutionAborted":
            time.sleep(0.3)  # widen the race: the engine's thread writes the end late
        return add_event(self, context, event_type, *args, **kwargs)

    sfn = aws("stepfunctions")
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
    arn = create_state_machine(sfn, "stopped", wait)
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    history_with(sfn, execution, "WaitStateEntered")

    # Undone before the local cloud ends (it put back the add_event it patched).
    with mock.patch.object(EventManager, "add_event", late_abort):
        sfn.stop_execution(executionArn=execution, error="Stopped", cause="by the test")
        described = sfn.describe_execution(executionArn=execution)

    assert described["status"] == "ABORTED"
    assert history(sfn, execution)[-1]["type"] == "ExecutionAborted"


def test_execution_end_no_event_follows_the_terminal_one(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "map-fails-early",
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
                                "Choices": [
                                    {"Variable": "$", "NumericEquals": 0, "Next": "Breaks"}
                                ],
                                "Default": "Slow",
                            },
                            "Breaks": {"Type": "Fail", "Error": "Broken", "Cause": "item 0"},
                            "Slow": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
                            "Done": {"Type": "Pass", "End": True},
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
    time.sleep(1.5)  # the slow iterations have woken up by now
    types = [event["type"] for event in history(sfn, execution)]

    assert types[-1] == "ExecutionFailed"
    assert sum(t in TERMINAL_EVENTS for t in types) == 1
    assert sfn.describe_execution(executionArn=execution)["error"] == "Broken"


def test_execution_end_a_timed_out_execution_writes_execution_timed_out_when_it_times_out(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    local_cloud.register_function("slow", code_dir=lambda_fixtures / "slow", timeout=10)
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "times-out",
        {
            "TimeoutSeconds": 1,
            "StartAt": "Long",
            "States": {
                "Long": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "slow", "Payload": {"sleep": 3}},
                    "End": True,
                }
            },
        },
    )
    started = time.monotonic()
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]

    events = history_when_ended(sfn, execution)
    ended = time.monotonic() - started
    described = sfn.describe_execution(executionArn=execution)
    time.sleep(2.5)  # past the task's own end
    later = [event["type"] for event in history(sfn, execution)]

    assert ended < 2.5
    assert events[-1]["type"] == "ExecutionTimedOut"
    assert described["status"] == "TIMED_OUT"
    assert later[-1] == "ExecutionTimedOut"
    assert sum(t in TERMINAL_EVENTS for t in later) == 1
