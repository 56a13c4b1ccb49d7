"""The task_faults patch: a fault injected into one run's Task state is what the state's
service call answers, named as Step Functions names it, seen by its Retry and Catch."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from patch_helpers import (
    aws,
    create_batch_environment,
    create_runs_table,
    create_state_machine,
    history,
    run_execution,
)

from runledger_local.patches import LocalCloud
from runledger_local.patches.features.task_faults import run_id_of
from runledger_local.runtime.faults import TaskFault

PUT_ITEM = {
    "TableName": "runs",
    "Item": {"pk": {"S": "{% $states.input[0].pk %}"}, "sk": {"S": "REQUEST"}},
}


def machine(resource: str, arguments: dict[str, Any], **task: Any) -> dict[str, Any]:
    """One Task state; any error it ends with is caught and becomes the output."""
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": resource,
                "Arguments": arguments,
                "Output": {"ok": True},
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Output": "{% $states.errorOutput %}",
                        "Next": "Caught",
                    }
                ],
                "End": True,
                **task,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }


def run(definition: dict[str, Any], run_id: str, name: str = "m") -> tuple[Any, list[Any]]:
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, name, definition)
    described = run_execution(sfn, arn, [{"pk": f"RUN#{run_id}", "sk": "REQUEST"}])
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"]), history(sfn, described["executionArn"])


def failed_events(events: list[dict[str, Any]]) -> list[str]:
    return [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]


def test_task_faults_a_dynamodb_service_error_is_named_by_its_sdk_class_and_retried(
    local_cloud: LocalCloud,
) -> None:
    create_runs_table(aws("dynamodb"))
    throttled = TaskFault.service_error("ProvisionedThroughputExceededException", 400)
    local_cloud.inject_task_fault("r-1", "Call", throttled)
    retry = [
        {
            "ErrorEquals": ["DynamoDB.ProvisionedThroughputExceededException"],
            "IntervalSeconds": 1,
            "MaxAttempts": 1,
        }
    ]

    result, events = run(machine("arn:aws:states:::dynamodb:putItem", PUT_ITEM, Retry=retry), "r-1")

    # The first call answered the fault, the retry was made for real.
    assert failed_events(events) == ["DynamoDB.ProvisionedThroughputExceededException"]
    assert result == {"ok": True}
    item = aws("dynamodb").get_item(
        TableName="runs", Key={"pk": {"S": "RUN#r-1"}, "sk": {"S": "REQUEST"}}
    )
    assert "Item" in item
    assert local_cloud.task_faults[("r-1", "Call")] == []  # consumed


def test_task_faults_only_the_named_run_and_state_are_faulted(local_cloud: LocalCloud) -> None:
    create_runs_table(aws("dynamodb"))
    refused = TaskFault.service_error("ValidationException", 400)
    local_cloud.inject_task_fault("r-2", "Call", refused)
    local_cloud.inject_task_fault("r-3", "Elsewhere", TaskFault.state_timeout())
    definition = machine("arn:aws:states:::dynamodb:putItem", PUT_ITEM)

    other, other_events = run(definition, "r-3", "other")
    faulted, _ = run(definition, "r-2", "faulted")

    assert other == {"ok": True}
    assert failed_events(other_events) == []
    assert faulted["Error"] == "DynamoDB.AmazonDynamoDBException"  # its SDK class
    assert "ValidationException" in faulted["Cause"]


def test_task_faults_a_before_call_action_runs_then_the_real_call_answers(
    local_cloud: LocalCloud,
) -> None:
    ddb = aws("dynamodb")
    create_runs_table(ddb)

    def taken() -> None:
        ddb.put_item(TableName="runs", Item={"pk": {"S": "RUN#r-4"}, "sk": {"S": "REQUEST"}})

    local_cloud.inject_task_fault("r-4", "Call", TaskFault.before_call(taken))
    arguments = {**PUT_ITEM, "ConditionExpression": "attribute_not_exists(pk)"}

    result, _ = run(machine("arn:aws:states:::dynamodb:putItem", arguments), "r-4")

    assert result["Error"] == "DynamoDB.ConditionalCheckFailedException"


@pytest.mark.parametrize(
    ("fault", "error", "cause"),
    [
        (TaskFault.service_error("TooManyRequestsException", 429, "Rate exceeded"),
         "Lambda.TooManyRequestsException", "Rate exceeded"),
        (TaskFault.service_error("ServiceException", 500), "Lambda.ServiceException", ""),
        (TaskFault.function_error("RuntimeError", "boom"), "RuntimeError", "boom"),
        (TaskFault.function_error("Sandbox.Timedout", "Task timed out after 30.00 seconds"),
         "Sandbox.Timedout", "Task timed out"),
    ],
)  # fmt: skip
def test_task_faults_a_lambda_fault_is_the_error_the_invoke_task_reports(
    local_cloud: LocalCloud, lambda_fixtures: Path, fault: TaskFault, error: str, cause: str
) -> None:
    local_cloud.register_function("echo", code_dir=lambda_fixtures / "echo")
    local_cloud.inject_task_fault("r-5", "Call", fault)
    arguments = {"FunctionName": "echo", "Payload": {"x": 1}}

    result, events = run(machine("arn:aws:states:::lambda:invoke", arguments), "r-5")

    assert result["Error"] == error
    assert cause in result["Cause"]
    assert failed_events(events) == [error]


def test_task_faults_a_state_timeout_is_states_timeout_in_a_task_timed_out_event(
    local_cloud: LocalCloud, job_program: Path
) -> None:
    create_batch_environment(aws("batch"), job_program)
    local_cloud.inject_task_fault("r-6", "Call", TaskFault.state_timeout())
    arguments = {"JobName": "j", "JobQueue": "spot", "JobDefinition": "variant-job"}

    result, events = run(
        machine("arn:aws:states:::batch:submitJob.sync", arguments, TimeoutSeconds=600), "r-6"
    )

    assert result["Error"] == "States.Timeout"
    assert [e["type"] for e in events if e["type"].startswith("TaskTimedOut")] == ["TaskTimedOut"]
    assert aws("batch").list_jobs(jobQueue="spot")["jobSummaryList"] == []  # never submitted


def test_task_faults_a_fault_where_the_parameters_hold_a_text_fails_only_that_iteration(
    local_cloud: LocalCloud,
) -> None:
    create_runs_table(aws("dynamodb"))
    iteration = machine(
        "arn:aws:states:::dynamodb:putItem",
        {"TableName": "runs", "Item": {"pk": {"S": "RUN#r-8"}, "sk": {"S": "{% $states.input %}"}}},
    )
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "Items": ["a", "b", "c"],
                "ItemProcessor": {"StartAt": "Call", "States": iteration["States"]},
                "End": True,
            }
        },
    }
    local_cloud.inject_task_fault(
        "r-8", "Call", TaskFault.service_error("ValidationException", 400), where='"b"'
    )

    result, _ = run(definition, "r-8")

    assert [r.get("Error") for r in result] == [None, "DynamoDB.AmazonDynamoDBException", None]


@pytest.mark.parametrize(
    ("execution_input", "run_id"),
    [
        ([{"pk": "RUN#a"}], "a"),
        ('[{"pk": "RUN#b"}]', "b"),
        ([{"pk": "other"}], None),
        ({"pk": "RUN#c"}, None),
        ([], None),
        # A Distributed Map's child: its input is the ItemSelector's item.
        ({"key": "od-1vcpu", "run": {"pk": "RUN#d", "run_id": "d"}}, "d"),
        ('{"key": "od-1vcpu", "run": {"pk": "RUN#e"}}', "e"),
        ({"run": "RUN#f"}, None),
        ({"run": {"pk": "other"}}, None),
    ],
)
def test_task_faults_the_run_is_read_from_the_pipe_or_child_shaped_input(
    execution_input: Any, run_id: str | None
) -> None:
    context = SimpleNamespace(context_object_data={"Execution": {"Input": execution_input}})
    env = SimpleNamespace(states=SimpleNamespace(context_object=context))

    assert run_id_of(env) == run_id
