"""The execution_names patch, proved through boto3 against moto."""

from __future__ import annotations

from patch_helpers import (
    aws,
    create_state_machine,
)

from runledger_local.patches import LocalCloud


# --------------------------------------------------------------------- execution_names
def test_execution_names_unnamed_executions_get_distinct_uuid_names(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn, "pass", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )

    first = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]

    names = [a.rsplit(":", 1)[1] for a in (first, second)]
    assert names[0] != names[1]
    assert all(len(name) == 36 and name != "None" for name in names)
