"""The retry_sleep patch, proved through boto3 against moto."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from patch_helpers import (
    aws,
    create_state_machine,
    history,
    output,
    run_execution,
)

from runledger_local.patches import LocalCloud


# -------------------------------------------------------------------------- retry_sleep
def test_retry_sleep_scale_shortens_waits_but_history_keeps_every_attempt(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    local_cloud.register_function("flaky", code_dir=lambda_fixtures / "flaky")
    local_cloud.retry_sleep_scale = 0.01  # IntervalSeconds 20 -> 0.2 s, then 0.4 s
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "retry",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Flaky",
            "States": {
                "Flaky": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": {"FunctionName": "flaky", "Payload": {"succeed_on": 3}},
                    "Retry": [
                        {
                            "ErrorEquals": ["TransientError"],
                            "IntervalSeconds": 20,
                            "BackoffRate": 2.0,
                            "MaxAttempts": 5,
                        }
                    ],
                    "Output": "{% $states.result.Payload %}",
                    "End": True,
                }
            },
        },
    )

    started = time.monotonic()
    described = run_execution(sfn, arn, {})
    elapsed = time.monotonic() - started

    assert output(described) == {"calls": 3}
    assert 0.5 < elapsed < 5
    types = Counter(e["type"] for e in history(sfn, described["executionArn"]))
    assert (types["TaskScheduled"], types["TaskFailed"], types["TaskSucceeded"]) == (3, 2, 1)
