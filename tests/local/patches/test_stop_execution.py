"""The stop_execution patch, proved through boto3 against moto."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from patch_helpers import (
    aws,
    create_state_machine,
    history,
    history_when_ended,
    history_with,
)

from runledger_local.patches import AdaptationBrokenError, LocalCloud, local_aws


# ----------------------------------------------------------------------------- stop_execution
def test_stop_execution_inside_a_map_ends_the_execution_aborted(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "stop-in-map",
        {
            "StartAt": "EachItem",
            "States": {
                "EachItem": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "StartAt": "Long",
                        "States": {"Long": {"Type": "Wait", "Seconds": 60, "End": True}},
                    },
                    "End": True,
                }
            },
        },
    )
    execution = sfn.start_execution(stateMachineArn=arn, input='{"items": [1, 2]}')["executionArn"]
    history_with(sfn, execution, "MapIterationStarted")

    sfn.stop_execution(executionArn=execution, error="Stopped", cause="by the test")

    deadline = time.monotonic() + 10
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the stopped execution still runs"
        time.sleep(0.02)
    assert described["status"] == "ABORTED", (described.get("error"), described.get("cause"))
    # The iterations notice the stop on their own threads: read the history once it ended.
    assert "MapIterationAborted" in {e["type"] for e in history_when_ended(sfn, execution)}


def test_a_program_stopped_meanwhile_takes_its_next_state_quietly(local_cloud: LocalCloud) -> None:
    """A Map iteration whose start state was set just after the stop ended FAILED: moto
    raised on the setter. Any other ended program still refuses a next state."""
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramStopped

    stopped = Environment.__new__(Environment)
    stopped._program_state = ProgramStopped(stop_date=datetime.now(UTC), cause=None, error=None)
    stopped.next_state_name = "Long"
    assert isinstance(stopped.program_state(), ProgramStopped)

    ended = Environment.__new__(Environment)
    ended._program_state = ProgramEnded()
    with pytest.raises(RuntimeError, match="Could not set NextState"):
        ended.next_state_name = "Long"


def test_stop_execution_keeps_the_callers_error_and_cause(local_cloud: LocalCloud) -> None:
    """moto stopped the execution with an empty error and cause; AWS records the ones the
    caller gave in ExecutionAborted and DescribeExecution (StopExecution API reference)."""
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "stop-cause",
        {"StartAt": "Long", "States": {"Long": {"Type": "Wait", "Seconds": 60, "End": True}}},
    )
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    history_with(sfn, execution, "WaitStateEntered")

    stopped = sfn.stop_execution(executionArn=execution, error="Operator.Stop", cause="by hand")

    assert stopped["stopDate"] is not None
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the stopped execution still runs"
        time.sleep(0.02)
    (aborted,) = [e for e in history(sfn, execution) if e["type"] == "ExecutionAborted"]
    assert aborted["executionAbortedEventDetails"] == {"error": "Operator.Stop", "cause": "by hand"}


def test_stop_execution_fails_loudly_when_the_map_state_moves(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map

    def eval_state(self: object, env: object, frame: object) -> None:  # a "new moto" signature
        del self, env, frame

    monkeypatch.setattr(state_map.StateMap, "_eval_state", eval_state)

    with pytest.raises(AdaptationBrokenError, match="'stop_execution'"), local_aws():
        pass


def test_stop_execution_a_sync_task_stopped_early_ends_its_token_wait_quietly(
    local_cloud: LocalCloud,
) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_module,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackEndpoint,
        CallbackOutcomeTimedOut,
    )

    class Stopped:  # an execution stopped before its task evaluated its timeout
        def is_running(self) -> bool:
            return False

    service = callback_module.StateTaskServiceCallback

    class Task:  # the part of a .sync task the wait uses
        _wait_for_task_token_timeout = service._wait_for_task_token_timeout

    endpoint = CallbackEndpoint(callback_id="token-1")
    task_output = {"JobId": "j-1"}  # what the task popped instead of its timeout
    outcome = service._eval_wait_for_task_token(Task(), Stopped(), task_output, endpoint, None)

    assert isinstance(outcome, CallbackOutcomeTimedOut)
    assert outcome.callback_id == "token-1"
