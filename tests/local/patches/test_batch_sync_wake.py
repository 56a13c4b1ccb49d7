"""The batch_sync_wake patch, proved through boto3 against moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from patch_helpers import (
    aws,
    create_batch_environment,
    create_state_machine,
    output,
    run_execution,
)

from runledger_local.patches import LocalCloud


def test_batch_local_sync_describes_each_job_once_when_it_ends(
    local_cloud: LocalCloud, job_program: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runledger_local.patches.features.batch_sync import LocalBatchBackend

    local_cloud.max_running_jobs = 1  # the second and third jobs wait RUNNABLE
    local_cloud.batch_env["SLEEP_SECONDS"] = "0.3"
    create_batch_environment(aws("batch"), job_program)
    described: list[str] = []
    describe_jobs = LocalBatchBackend.describe_jobs

    def counting(self: Any, jobs: list[str] | None) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = describe_jobs(self, jobs)
        described.extend(job["status"] for job in answer)
        return answer

    monkeypatch.setattr(LocalBatchBackend, "describe_jobs", counting)
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "batch-described", "batch_variants.asl.json")
    variants = [{"name": f"v{n}", "queue": "spot", "exit_code": 0} for n in range(3)]

    results = output(run_execution(sfn, arn, {"variants": variants}))

    assert [result["Status"] for result in results] == ["SUCCEEDED"] * 3
    assert described == ["SUCCEEDED"] * 3  # never while queued or running
