"""The branch_states_errors patch, proved through boto3 against moto.

Expected answers: AWS passes a Map iteration's or Parallel branch's ``States.*`` error
on to the Map or Parallel state (LocalStack's AWS-recorded timeouts snapshot,
test_service_lambda_map_timeout: the execution fails ``States.Timeout``; Developer
Guide, "Map state" and "Parallel state": the state fails when an iteration or branch
does, and its Catch sees that error).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from patch_helpers import aws, create_state_machine, output, run_execution

from runledger_local.patches import LocalCloud, local_aws

_JOB_FAILED_CAUSE = '{"JobId":"job-1","Status":"FAILED"}'
#: A Step Functions Local mock config: the job task of "Jobs" fails States.TaskFailed.
_MOCK_CONFIG = {
    "StateMachines": {
        "Jobs": {"TestCases": {"JobFails": {"RunJob": "JobFailed"}}},
    },
    "MockedResponses": {
        "JobFailed": {"0": {"Throw": {"Error": "States.TaskFailed", "Cause": _JOB_FAILED_CAUSE}}}
    },
}
_RUN_JOB: dict[str, Any] = {
    "Type": "Task",
    "Resource": "arn:aws:states:::batch:submitJob.sync",
    "Parameters": {"JobName": "variant", "JobQueue": "spot", "JobDefinition": "variant-job"},
    "End": True,
}
#: A task that waits for a token nobody sends: States.Timeout after one second.
_WAIT_FOR_TOKEN: dict[str, Any] = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
    "Parameters": {"FunctionName": "echo", "Payload": {"token.$": "$$.Task.Token"}},
    "TimeoutSeconds": 1,
    "End": True,
}
_CAUGHT = {"Caught": {"Type": "Pass", "End": True}}


def _map_of(task: dict[str, Any], catch: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "RunJob", "States": {"RunJob": task}},
                "Catch": catch,
                "End": True,
            },
            **_CAUGHT,
        },
    }


def _parallel_of(task: dict[str, Any], catch: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "RunJob", "States": {"RunJob": task}},
                    {"StartAt": "Fine", "States": {"Fine": {"Type": "Pass", "End": True}}},
                ],
                "Catch": catch,
                "End": True,
            },
            **_CAUGHT,
        },
    }


@pytest.fixture
def mocked_cloud(aws_credentials: None, tmp_path: Path) -> Iterator[LocalCloud]:
    config = tmp_path / "mock_config.json"
    config.write_text(json.dumps(_MOCK_CONFIG))
    with mock_aws(), local_aws(batch_workdir=tmp_path, mock_config_file=config) as cloud:
        yield cloud


@pytest.mark.parametrize("shape", [_map_of, _parallel_of], ids=["map", "parallel"])
def test_branch_states_errors_task_failed_is_caught_by_name_at_the_state(
    mocked_cloud: LocalCloud, shape: Any
) -> None:
    sfn = aws("stepfunctions")
    catch = [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}]
    arn = create_state_machine(sfn, "Jobs", shape(_RUN_JOB, catch))

    described = run_execution(sfn, f"{arn}#JobFails", {"items": [1]})

    assert output(described) == {"Error": "States.TaskFailed", "Cause": _JOB_FAILED_CAUSE}


@pytest.mark.parametrize("shape", [_map_of, _parallel_of], ids=["map", "parallel"])
def test_branch_states_errors_task_failed_uncaught_fails_the_execution_with_it(
    mocked_cloud: LocalCloud, shape: Any
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "Jobs", shape(_RUN_JOB, []))

    described = run_execution(sfn, f"{arn}#JobFails", {"items": [1]})

    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "States.TaskFailed",
        _JOB_FAILED_CAUSE,
    )


@pytest.mark.parametrize("shape", [_map_of, _parallel_of], ids=["map", "parallel"])
def test_branch_states_errors_timeout_passes_states_task_failed_to_states_all_with_its_name(
    local_cloud: LocalCloud, lambda_fixtures: Path, shape: Any
) -> None:
    # AWS: States.TaskFailed matches any known error except States.Timeout (Developer
    # Guide, "Error names"), so the first catcher does not fire and States.ALL does, with
    # the error's own name. (One execution for both: each waits a second for its timeout.)
    local_cloud.register_function("echo", code_dir=lambda_fixtures / "echo")
    sfn = aws("stepfunctions")
    catch = [
        {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.wrongly", "Next": "Caught"},
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"},
    ]
    arn = create_state_machine(sfn, "timeouts", shape(_WAIT_FOR_TOKEN, catch))

    described = run_execution(sfn, arn, {"items": [1]})

    caught = output(described)
    assert "wrongly" not in caught
    assert caught["error"]["Error"] == "States.Timeout"
