"""The service_shapes patch: integrations' PascalCase parameters reach each API in its shape."""

from __future__ import annotations

import json

from patch_helpers import aws, create_state_machine, run_execution

from runledger_local.patches import LocalCloud

CHILD = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


def start_execution_machine(resource: str, target: str) -> dict[str, object]:
    return {
        "StartAt": "Start",
        "States": {
            "Start": {
                "Type": "Task",
                "Resource": resource,
                "Parameters": {"StateMachineArn": target, "Input": {"from": "parent"}},
                "End": True,
            }
        },
    }


def test_service_shapes_states_start_execution_starts_the_named_machine(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    child = create_state_machine(sfn, "child", CHILD)
    for resource in (
        "arn:aws:states:::states:startExecution",
        "arn:aws:states:::aws-sdk:sfn:startExecution",
    ):
        parent = create_state_machine(
            sfn, f"parent-{resource.rsplit(':', 2)[-2]}", start_execution_machine(resource, child)
        )

        described = run_execution(sfn, parent, {})

        assert described["status"] == "SUCCEEDED", described
        # The result in Step Functions' casing (StartExecution's ExecutionArn, StartDate).
        started = json.loads(described["output"])
        assert started["ExecutionArn"].startswith(child.replace(":stateMachine:", ":execution:"))
        assert isinstance(started["StartDate"], int)  # epoch ms, as the docs show
    started_inputs = [
        json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
        for e in sfn.list_executions(stateMachineArn=child)["executions"]
    ]
    assert started_inputs == [{"from": "parent"}] * 2


def test_service_shapes_start_execution_of_an_unknown_machine_fails_as_on_aws(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:no-such-machine"
    parent = create_state_machine(
        sfn,
        "parent-missing",
        start_execution_machine("arn:aws:states:::states:startExecution", missing),
    )

    described = run_execution(sfn, parent, {})

    # AWS (LocalStack's AWS-validated snapshot error_handling/test_task_service_sfn::
    # test_start_execution_no_such_arn): the service's error, not States.Runtime
    # (moto's KeyError 'StateMachineArn' before this patch).
    assert described["status"] == "FAILED"
    assert described["error"] == "StepFunctions.StateMachineDoesNotExistException"
    assert described["cause"].startswith(f"State Machine Does Not Exist: '{missing}'")


def test_service_shapes_a_null_inside_a_value_is_kept(local_cloud: LocalCloud) -> None:
    sqs = aws("sqs")
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "send-null",
        {
            "StartAt": "Send",
            "States": {
                "Send": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage",
                    "Parameters": {"QueueUrl": queue, "MessageBody": {"x": None, "y": 1}},
                    "End": True,
                }
            },
        },
    )

    assert run_execution(sfn, arn, {})["status"] == "SUCCEEDED"
    # The body is the JSON Step Functions was given, its null included; only null request
    # members (none here) are left out, as the SDK leaves them out.
    body = sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"]
    assert json.loads(body) == {"x": None, "y": 1}
