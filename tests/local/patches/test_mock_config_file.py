"""The mock_config patch, proved through boto3 against moto."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from moto import mock_aws
from patch_helpers import (
    aws,
    create_state_machine,
    history,
    output,
    run_execution,
)

from runledger_local.patches import local_aws


# -------------------------------------------------------------------------- mock_config
def test_mock_config_runs_test_cases_from_the_sfn_mock_config_file(
    aws_credentials: None, mock_config_file: Path
) -> None:
    with mock_aws(), local_aws(mock_config_file=mock_config_file):
        assert os.environ["SFN_MOCK_CONFIG"] == str(mock_config_file)
        sfn = aws("stepfunctions")
        arn = create_state_machine(sfn, "MockedRun", "mocked_run.asl.json")
        request = {"variants": ["a", "b"]}

        happy = run_execution(sfn, f"{arn}#HappyPath", request)
        throttled = run_execution(sfn, f"{arn}#ThrottledThenOk", request)
        job_fails = run_execution(sfn, f"{arn}#JobFails", request)
        with pytest.raises(sfn.exceptions.InvalidName, match="NoSuchCase"):
            sfn.start_execution(stateMachineArn=f"{arn}#NoSuchCase", input="{}")
        throttled_events = history(sfn, throttled["executionArn"])

    assert output(happy) == {"variants": 2, "job": "mock-job-1", "exit": 0}
    assert output(throttled) == {"variants": 3, "job": "mock-job-1", "exit": 0}
    assert Counter(e["type"] for e in throttled_events)["TaskFailed"] == 2
    assert (job_fails["status"], job_fails["error"], job_fails["cause"]) == (
        "FAILED",
        "JobFailed",
        "mock-job-2",
    )


def test_mock_config_numbers_responses_across_map_iterations_and_retries(
    aws_credentials: None, mock_config_file: Path
) -> None:
    # As on Step Functions Local, the Nth invocation of a state in an execution gets
    # response N; moto alone numbers by retry count, so every iteration would get "0".
    with mock_aws(), local_aws(mock_config_file=mock_config_file):
        sfn = aws("stepfunctions")
        arn = create_state_machine(sfn, "MockedMap", "mocked_map.asl.json")
        done = run_execution(sfn, f"{arn}#ThreeItems", {"items": [1, 2, 3]})
        events = history(sfn, done["executionArn"])

    assert output(done) == ["first", "second", "third"]
    failed = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failed == ["Lambda.TooManyRequestsException"]  # item 2, retried once
