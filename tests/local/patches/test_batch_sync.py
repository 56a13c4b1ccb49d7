"""The batch_sync patch, proved through boto3 against moto."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from patch_helpers import (
    aws,
    create_batch_environment,
    create_state_machine,
    output,
    run_execution,
    wait_for_job,
)

from runledger_local.patches import LocalCloud
from runledger_local.runtime.faults import OUT_OF_MEMORY, SPOT_INTERRUPTED, JobFault


# -------------------------------------------------------------------------- batch_local
def test_batch_local_sync_runs_each_job_as_a_process_and_returns_the_job_detail(
    local_cloud: LocalCloud, job_program: Path, tmp_path: Path
) -> None:
    batch = aws("batch")
    create_batch_environment(batch, job_program)
    local_cloud.batch_env["LOCAL_ONLY"] = "1"
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "batch-variants", "batch_variants.asl.json")
    variants = [
        {"name": "od-1vcpu", "queue": "spot", "exit_code": 0},
        {"name": "spot-2vcpu", "queue": "spot", "exit_code": 7},
    ]

    before_ms = int(time.time() * 1000)
    succeeded, failed = output(run_execution(sfn, arn, {"variants": variants}))
    after_ms = int(time.time() * 1000)

    # The .sync result is DescribeJobs' job detail in PascalCase, as on AWS.
    assert succeeded["Status"] == "SUCCEEDED"
    assert succeeded["JobName"] == "variant-od-1vcpu"
    assert succeeded["JobQueue"].endswith(":job-queue/spot")
    assert succeeded["Container"]["ExitCode"] == 0
    assert succeeded["Tags"] == {"run-id": "run-1", "variant": "od-1vcpu"}
    assert succeeded["PropagateTags"] is True
    assert before_ms <= succeeded["CreatedAt"] <= succeeded["StartedAt"] <= succeeded["StoppedAt"]
    assert succeeded["StoppedAt"] <= after_ms
    (attempt,) = succeeded["Attempts"]
    assert attempt["Container"]["ExitCode"] == 0
    assert attempt["Container"]["LogStreamName"].startswith("variant-job/default/")
    assert attempt["StartedAt"] <= attempt["StoppedAt"]
    environment = {e["Name"]: e["Value"] for e in succeeded["Container"]["Environment"]}
    assert environment["WORKLOAD"] == "kmer"  # job definition
    assert environment["VARIANT"] == "od-1vcpu"  # ContainerOverrides
    assert environment["MANAGED_BY_AWS"] == "STARTED_BY_STEP_FUNCTIONS"

    # A FAILED job fails the task with States.TaskFailed and the job detail as Cause.
    assert failed["error"] == "States.TaskFailed"
    assert failed["job"]["Status"] == "FAILED"
    assert failed["job"]["Container"]["ExitCode"] == 7
    assert failed["job"]["Tags"]["variant"] == "spot-2vcpu"

    # The process ran in the configured directory with the merged environment.
    record = json.loads((tmp_path / "od-1vcpu.jsonl").read_text().splitlines()[0])
    assert record["cwd"] == str(tmp_path)
    assert record["env"]["AWS_BATCH_JOB_ID"] == succeeded["JobId"]
    assert record["env"]["AWS_BATCH_JQ_NAME"] == "spot"
    assert record["env"]["AWS_BATCH_CE_NAME"] == "fargate-spot"

    # DescribeJobs reports the same jobs.
    described = {j["jobName"]: j for j in batch.describe_jobs(jobs=[succeeded["JobId"]])["jobs"]}
    assert described["variant-od-1vcpu"]["status"] == "SUCCEEDED"
    assert described["variant-od-1vcpu"]["tags"] == {"run-id": "run-1", "variant": "od-1vcpu"}
    logs = aws("logs").get_log_events(
        logGroupName="/aws/batch/job", logStreamName=attempt["Container"]["LogStreamName"]
    )
    assert logs["events"][0]["message"] == f"job {succeeded['JobId']} attempt 1"


@pytest.mark.parametrize(
    ("fail_code", "expected_status", "expected_attempts"),
    [
        pytest.param("3", "SUCCEEDED", 2, id="exit-3-matches-RETRY"),
        pytest.param("99", "FAILED", 1, id="exit-99-matches-EXIT-glob"),
        pytest.param("4", "FAILED", 3, id="exit-4-matches-nothing-so-retried"),
    ],
)
def test_batch_local_retry_strategy_follows_evaluate_on_exit(
    local_cloud: LocalCloud,
    job_program: Path,
    fail_code: str,
    expected_status: str,
    expected_attempts: int,
) -> None:
    batch = aws("batch")
    strategy = {
        "attempts": 3,
        "evaluateOnExit": [
            {"onExitCode": "9*", "action": "EXIT"},
            {"onExitCode": "3", "action": "RETRY"},
            {"onReason": "CannotStart*", "action": "EXIT"},
        ],
    }
    create_batch_environment(batch, job_program, retry_strategy=strategy)
    fail_attempts = "1" if fail_code == "3" else "10"

    job_id = batch.submit_job(
        jobName="retry-me",
        jobQueue="spot",
        jobDefinition="variant-job",
        containerOverrides={
            "environment": [
                {"name": "FAIL_ATTEMPTS", "value": fail_attempts},
                {"name": "FAIL_CODE", "value": fail_code},
            ]
        },
        tags={"run-id": "run-2"},
    )["jobId"]
    job = wait_for_job(batch, job_id)

    assert job["status"] == expected_status
    assert len(job["attempts"]) == expected_attempts
    codes = [a["container"]["exitCode"] for a in job["attempts"]]
    assert codes[0] == int(fail_code)
    assert job["tags"] == {"run-id": "run-2"}


def test_batch_local_runs_at_most_max_running_jobs_and_the_rest_wait_runnable(
    local_cloud: LocalCloud, job_program: Path
) -> None:
    local_cloud.max_running_jobs = 1
    batch = aws("batch")
    create_batch_environment(batch, job_program)
    sleep = {"environment": [{"name": "SLEEP_SECONDS", "value": "0.3"}]}
    job_ids = [
        batch.submit_job(
            jobName=f"queued-{n}",
            jobQueue="spot",
            jobDefinition="variant-job",
            containerOverrides=sleep,
        )["jobId"]
        for n in range(3)
    ]
    time.sleep(0.15)  # the first job is running by now
    waiting = [j["status"] for j in batch.describe_jobs(jobs=job_ids)["jobs"]]
    assert sorted(waiting) == ["RUNNABLE", "RUNNABLE", "RUNNING"]

    jobs = [wait_for_job(batch, job_id) for job_id in job_ids]
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 3
    spans = sorted((job["startedAt"], job["stoppedAt"]) for job in jobs)
    for (_, first_stopped), (second_started, _) in itertools.pairwise(spans):
        assert second_started >= first_stopped  # one at a time


def test_batch_local_injected_exit_codes_replace_matching_attempts_only(
    local_cloud: LocalCloud, job_program: Path
) -> None:
    batch = aws("batch")
    strategy = {"attempts": 3, "evaluateOnExit": [{"onExitCode": "75", "action": "RETRY"}]}
    create_batch_environment(batch, job_program, retry_strategy=strategy)
    local_cloud.inject_job_exit({"variant": "flaky"}, [75, 75])

    def submit(variant: str) -> dict[str, Any]:
        job_id = batch.submit_job(
            jobName=variant,
            jobQueue="spot",
            jobDefinition="variant-job",
            tags={"run-id": "run-3", "variant": variant},
        )["jobId"]
        return wait_for_job(batch, job_id)

    flaky, steady = submit("flaky"), submit("steady")
    # Attempts 1 and 2 exit 75 (RETRY); attempt 3 runs the real command, which succeeds.
    assert [a["container"]["exitCode"] for a in flaky["attempts"]] == [75, 75, 0]
    assert flaky["status"] == "SUCCEEDED"
    # A job whose tags do not match is untouched.
    assert [a["container"]["exitCode"] for a in steady["attempts"]] == [0]


def test_batch_local_injected_kills_and_spot_reclaims_end_attempts_as_aws_reports_them(
    local_cloud: LocalCloud, job_program: Path
) -> None:
    batch = aws("batch")
    # template.yaml's rules: a reclaimed Spot task is retried, any other reason exits.
    strategy = {
        "attempts": 3,
        "evaluateOnExit": [
            {"onStatusReason": "Your Spot Task was interrupted*", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
    create_batch_environment(batch, job_program, retry_strategy=strategy)
    local_cloud.inject_job_exit({"variant": "oom"}, [JobFault.out_of_memory()])
    local_cloud.inject_job_exit({"variant": "spot"}, [JobFault.spot_interrupted()])

    def submit(variant: str) -> dict[str, Any]:
        job_id = batch.submit_job(
            jobName=variant, jobQueue="spot", jobDefinition="variant-job", tags={"variant": variant}
        )["jobId"]
        return wait_for_job(batch, job_id)

    oom, spot = submit("oom"), submit("spot")

    # Killed by SIGKILL: exit code 137 and ECS's reason, which the EXIT rule matches.
    assert oom["status"] == "FAILED"
    assert [a["container"].get("exitCode") for a in oom["attempts"]] == [137]
    assert oom["attempts"][0]["container"]["reason"] == OUT_OF_MEMORY
    # Reclaimed: no exit code, ECS's stopped reason, retried; attempt 2 runs for real.
    assert spot["status"] == "SUCCEEDED"
    first, second = spot["attempts"]
    assert "exitCode" not in first["container"]
    assert first["statusReason"] == SPOT_INTERRUPTED
    assert second["container"]["exitCode"] == 0


def test_batch_local_attempt_timeout_kills_the_process_and_is_not_retried(
    local_cloud: LocalCloud, job_program: Path
) -> None:
    batch = aws("batch")
    create_batch_environment(batch, job_program, retry_strategy={"attempts": 3}, timeout_seconds=1)

    started = time.monotonic()
    job_id = batch.submit_job(
        jobName="too-slow",
        jobQueue="spot",
        jobDefinition="variant-job",
        containerOverrides={"environment": [{"name": "SLEEP_SECONDS", "value": "60"}]},
    )["jobId"]
    job = wait_for_job(batch, job_id)

    assert time.monotonic() - started < 10
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "Job attempt duration exceeded timeout"
    assert len(job["attempts"]) == 1
