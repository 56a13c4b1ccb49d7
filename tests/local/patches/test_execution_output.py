"""The execution_output patch: DescribeExecution's output is always JSON text."""

from __future__ import annotations

from patch_helpers import aws, create_state_machine, run_execution

from runledger_local.patches import LocalCloud


def test_execution_output_a_string_output_is_described_as_json_text(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "string-output",
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "ValueError", "End": True}}},
    )

    described = run_execution(sfn, arn, {})

    # AWS: DescribeExecution's output is JSON text, as the ExecutionSucceeded event's is.
    assert described["output"] == '"ValueError"'
    events = sfn.get_execution_history(executionArn=described["executionArn"])["events"]
    assert events[-1]["executionSucceededEventDetails"]["output"] == described["output"]
