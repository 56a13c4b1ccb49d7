"""One test per path of statemachines/run_workflow.asl.json, each through its test case in
MockConfigFile.json: the states entered (in order), the final output or error, the billed
state transitions, and the exact DynamoDB write-backs (the TaskScheduled parameters the ASL
sends to dynamodb:updateItem/putItem). The last tests check every state is entered by some
test case and every Lambda payload parses as its handler's event.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pydantic import BaseModel
from sfn_harness import (
    PIPE_INPUT,
    Execution,
    Workflow,
    all_states,
    case_mocks,
    lambda_payloads,
    mocked_responses,
)

from runledger.pricing import estimated_transitions
from runledger.results import CollectMetricsEvent
from runledger.summary import SummarizeRunEvent
from runledger.validation import ValidateRequestEvent
from runledger.variants import PrepareVariantEvent

PIPE_RECORD = json.loads(PIPE_INPUT.read_text())[0]
PK = PIPE_RECORD["pk"]
RUN_ID = PK.removeprefix("RUN#")

RUN_START = ["ClaimRun", "ValidateRequest", "IsRequestValid", "MarkRunning", "RunVariants"]
VARIANT_SUCCEEDS = ["PrepareVariant", "RunJob", "CollectMetrics", "RecordVariant"]
VARIANT_JOB_FAILS = ["PrepareVariant", "RunJob", "RecordVariantFailure"]
RUN_SUCCEEDS = ["SummarizeRun", "DidAnyVariantSucceed", "RecordResult"]
DYNAMODB_STATES = (
    "ClaimRun",
    "MarkRunning",
    "RecordVariant",
    "RecordVariantFailure",
    "RecordInvalid",
    "RecordResult",
    "RecordRunFailed",
    "RecordFailure",
)
#: The event model of each Lambda state's handler, and the substitution naming its function.
LAMBDA_EVENTS: dict[str, tuple[type[BaseModel], str]] = {
    "ValidateRequest": (ValidateRequestEvent, "ValidateRequestFunctionArn"),
    "PrepareVariant": (PrepareVariantEvent, "PrepareVariantFunctionArn"),
    "CollectMetrics": (CollectMetricsEvent, "CollectMetricsFunctionArn"),
    "SummarizeRun": (SummarizeRunEvent, "SummarizeRunFunctionArn"),
}


# ----------------------------------------------------------------------------- helpers
class EnteredTime:
    """Equals the ISO timestamp ``$states.context.State.EnteredTime`` of one state entry:
    within a second of that entry's StateEntered event."""

    def __init__(self, execution: Execution, state: str, index: int = 0) -> None:
        self.at = execution.entered_at(state)[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        stamp = dt.datetime.fromisoformat(other.replace("Z", "+00:00"))
        return abs(stamp - self.at) < dt.timedelta(seconds=1)

    def __repr__(self) -> str:
        return f"<EnteredTime ~{self.at.isoformat()}>"


def write_backs(execution: Execution) -> dict[str, list[dict[str, Any]]]:
    """DynamoDB state -> the parameters of each call it made (states that made none left out)."""
    return {s: execution.scheduled(s) for s in DYNAMODB_STATES if execution.scheduled(s)}


def request_variants(case: str) -> list[dict[str, Any]]:
    return list(lambda_payloads(case, "ValidateRequest")[0]["request"]["variants"])


def claim(run: Execution, table: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": {"pk": {"S": PK}, "sk": {"S": "REQUEST"}},
        "ReturnValues": "UPDATED_NEW",
        "UpdateExpression": "SET #status = :claimed, #execution = :execution, claimed_at = :now "
        "REMOVE #error, cause, reason, summary, cost, started_at, finished_at",
        "ConditionExpression": "#status = :requested",
        "ExpressionAttributeNames": {
            "#status": "status",
            "#execution": "execution",
            "#error": "error",
        },
        "ExpressionAttributeValues": {
            ":claimed": {"S": "CLAIMED"},
            ":requested": {"S": "REQUESTED"},
            ":execution": {"S": run.arn},
            ":now": {"S": EnteredTime(run, "ClaimRun")},
        },
    }


def validated_attempt(case: str) -> dict[str, str]:
    """The claim's attempt as the item gets it: what ValidateRequest answered (mocked)."""
    return {"N": str(lambda_payloads(case, "ValidateRequest")[0]["attempt"])}


def mark_running(run: Execution, table: str, variant_count: int, case: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": {"pk": {"S": PK}, "sk": {"S": "REQUEST"}},
        "UpdateExpression": "SET #status = :running, started_at = :now, variant_count = :count, "
        "attempt = :attempt",
        "ConditionExpression": "#execution = :execution AND #status = :claimed",
        "ExpressionAttributeNames": {"#status": "status", "#execution": "execution"},
        "ExpressionAttributeValues": {
            ":running": {"S": "RUNNING"},
            ":claimed": {"S": "CLAIMED"},
            ":execution": {"S": run.arn},
            ":now": {"S": EnteredTime(run, "MarkRunning")},
            ":count": {"N": str(variant_count)},
            ":attempt": validated_attempt(case),
        },
    }


def claimed(case: str) -> dict[str, Any]:
    """The claim the run's items carry: its time from what ClaimRun wrote (its mocked
    ``UPDATED_NEW`` answer), its attempt from what ValidateRequest answered."""
    written = mocked_responses(case, "ClaimRun")[0]["Return"]["Attributes"]
    return {**written, "attempt": validated_attempt(case)}


def variant_write(claim_marks: dict[str, Any]) -> dict[str, Any]:
    """The claim a VARIANT# item belongs to, and the condition that refuses the write when a
    later claim of the run already wrote the item."""
    return {
        "ConditionExpression": "attribute_not_exists(claimed_at) OR claimed_at <= :claimed_at",
        "ExpressionAttributeValues": {":claimed_at": claim_marks["claimed_at"]},
    }


def record_variant(
    run: Execution, table: str, collected: dict[str, Any], index: int, case: str
) -> dict[str, Any]:
    """The VARIANT# item: CollectMetrics' ``attributes`` plus keys, name, owner and time."""
    marks = claimed(case)
    return {
        "TableName": table,
        "Item": {
            **collected["attributes"],
            "pk": {"S": PK},
            "sk": {"S": f"VARIANT#{collected['name']}"},
            "name": {"S": collected["name"]},
            "execution": {"S": run.arn},
            "attempt": marks["attempt"],
            "claimed_at": marks["claimed_at"],
            "recorded_at": {"S": EnteredTime(run, "RecordVariant", index)},
        },
        **variant_write(marks),
    }


def record_variant_failure(
    run: Execution, table: str, name: str, error: str, cause: str, index: int, case: str
) -> dict[str, Any]:
    marks = claimed(case)
    return {
        "TableName": table,
        "Item": {
            "pk": {"S": PK},
            "sk": {"S": f"VARIANT#{name}"},
            "name": {"S": name},
            "status": {"S": "FAILED"},
            "error": {"S": error},
            "cause": {"S": cause[:4000]},
            "execution": {"S": run.arn},
            "attempt": marks["attempt"],
            "claimed_at": marks["claimed_at"],
            "recorded_at": {"S": EnteredTime(run, "RecordVariantFailure", index)},
        },
        **variant_write(marks),
    }


def record_result(run: Execution, table: str, summarized: dict[str, Any]) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": {"pk": {"S": PK}, "sk": {"S": "REQUEST"}},
        "UpdateExpression": "SET #status = :succeeded, summary = :summary, cost = :cost, "
        "finished_at = :now",
        "ConditionExpression": "#execution = :execution AND #status = :running",
        "ExpressionAttributeNames": {"#status": "status", "#execution": "execution"},
        "ExpressionAttributeValues": {
            ":succeeded": {"S": "SUCCEEDED"},
            ":running": {"S": "RUNNING"},
            ":execution": {"S": run.arn},
            ":now": {"S": EnteredTime(run, "RecordResult")},
            ":summary": summarized["attributes"]["summary"],
            ":cost": summarized["attributes"]["cost"],
        },
    }


def record_failure(run: Execution, table: str, error: str, cause: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": {"pk": {"S": PK}, "sk": {"S": "REQUEST"}},
        "UpdateExpression": "SET #status = :failed, #error = :error, cause = :cause, "
        "finished_at = :now",
        "ConditionExpression": "#execution = :execution AND #status IN (:claimed, :running)",
        "ExpressionAttributeNames": {
            "#status": "status",
            "#execution": "execution",
            "#error": "error",
        },
        "ExpressionAttributeValues": {
            ":claimed": {"S": "CLAIMED"},
            ":running": {"S": "RUNNING"},
            ":failed": {"S": "FAILED"},
            ":error": {"S": error},
            ":cause": {"S": cause[:4000]},
            ":execution": {"S": run.arn},
            ":now": {"S": EnteredTime(run, "RecordFailure")},
        },
    }


def succeeded_output(case: str) -> dict[str, Any]:
    summarized = lambda_payloads(case, "SummarizeRun")[0]
    return {
        "run_id": RUN_ID,
        "status": "SUCCEEDED",
        "summary": summarized["summary"],
        "cost": summarized["cost"],
    }


def throw(case: str, state: str, invocation: int = 0) -> tuple[str, str]:
    thrown = mocked_responses(case, state)[invocation]["Throw"]
    return thrown["Error"], thrown["Cause"]


# ------------------------------------------------------------------------------- paths
def test_happy_path_runs_every_variant_and_records_the_result(workflow: Workflow) -> None:
    run = workflow.run("HappyPath")
    variants = request_variants("HappyPath")
    collected = lambda_payloads("HappyPath", "CollectMetrics")
    table = workflow.substitutions["RunsTableName"]

    assert len(variants) == 3
    assert run.status == "SUCCEEDED"
    assert run.entered == RUN_START + VARIANT_SUCCEEDS * len(variants) + RUN_SUCCEEDS
    assert run.output == succeeded_output("HappyPath")
    assert run.transitions == estimated_transitions(len(variants)) == 20
    assert write_backs(run) == {
        "ClaimRun": [claim(run, table)],
        "MarkRunning": [mark_running(run, table, len(variants), "HappyPath")],
        "RecordVariant": [
            record_variant(run, table, c, i, "HappyPath") for i, c in enumerate(collected)
        ],
        "RecordResult": [
            record_result(run, table, lambda_payloads("HappyPath", "SummarizeRun")[0])
        ],
    }
    # The variants reach SummarizeRun without the item attributes RecordVariant wrote.
    assert run.scheduled("SummarizeRun")[0]["Payload"]["variants"] == [
        {k: v for k, v in c.items() if k != "attributes"} for c in collected
    ]


def test_happy_path_submits_each_job_to_its_capacity_queue_with_the_run_tags(
    workflow: Workflow,
) -> None:
    run = workflow.run("HappyPath")
    substitutions = workflow.substitutions
    prepared = lambda_payloads("HappyPath", "PrepareVariant")
    request = lambda_payloads("HappyPath", "ValidateRequest")[0]["request"]
    queues = {
        "ON_DEMAND": substitutions["OnDemandJobQueueArn"],
        "SPOT": substitutions["SpotJobQueueArn"],
    }

    # Step Functions adds MANAGED_BY_AWS=STARTED_BY_STEP_FUNCTIONS to the environment of a
    # .sync job; moto records it among the parameters (as LocalStack does): left out here.
    submitted = run.scheduled("RunJob")
    for parameters in submitted:
        environment = parameters["ContainerOverrides"]["Environment"]
        environment[:] = [e for e in environment if e.get("name") != "MANAGED_BY_AWS"]
    assert submitted == [
        {
            "JobName": job["job_name"],
            "JobQueue": queues[variant["capacity"]],
            # The workload's job definition by name: <stack>-workload-<workflow>.
            "JobDefinition": substitutions["WorkloadJobDefinitionPrefix"] + request["workflow"],
            "ContainerOverrides": job["container_overrides"],
            "Timeout": {"AttemptDurationSeconds": job["timeout_seconds"]},
            "Tags": {
                "run-id": RUN_ID,
                "workflow": request["workflow"],
                "variant": variant["name"],
                "cost-center": request["cost_center"],
            },
            "PropagateTags": True,
        }
        for job, variant in zip(prepared, request_variants("HappyPath"), strict=True)
    ]


def test_lambda_transient_errors_are_retried_then_the_run_succeeds(workflow: Workflow) -> None:
    case = "LambdaRetriedThenSucceeds"
    run = workflow.run(case)
    variants = request_variants(case)
    table = workflow.substitutions["RunsTableName"]

    # GIVEN ValidateRequest throttled, then a Lambda service error, then an answer
    assert [next(iter(o)) for o in mocked_responses(case, "ValidateRequest")] == [
        "Throw",
        "Throw",
        "Return",
    ]
    # THEN the history shows two retries of the one ValidateRequest state entry
    assert run.retries("ValidateRequest") == 2
    assert [(state, error) for state, error, _ in run.task_failures] == [
        ("ValidateRequest", "Lambda.TooManyRequestsException"),
        ("ValidateRequest", "Lambda.ServiceException"),
    ]
    assert run.status == "SUCCEEDED"
    assert run.entered == RUN_START + VARIANT_SUCCEEDS * len(variants) + RUN_SUCCEEDS
    assert run.output == succeeded_output(case)
    # Each retry is one more billed transition.
    assert run.transitions == estimated_transitions(len(variants)) + 2 == 14
    assert write_backs(run) == {
        "ClaimRun": [claim(run, table)],
        "MarkRunning": [mark_running(run, table, len(variants), case)],
        "RecordVariant": [
            record_variant(run, table, lambda_payloads(case, "CollectMetrics")[0], 0, case)
        ],
        "RecordResult": [record_result(run, table, lambda_payloads(case, "SummarizeRun")[0])],
    }


def test_a_variant_failure_that_cannot_be_recorded_does_not_stop_the_other_variants(
    workflow: Workflow,
) -> None:
    """GIVEN the second job fails AND writing its FAILED item fails too THEN the variant is
    still reported FAILED to SummarizeRun (VariantNotRecorded) and the others are
    recorded; before, the failed write failed the whole inline Map."""
    case = "VariantFailureNotRecorded"
    run = workflow.run(case)
    record_error, _ = throw(case, "RecordVariantFailure")
    job_error, job_cause = throw(case, "RunJob", 1)

    assert record_error == "DynamoDB.ResourceNotFoundException"
    assert run.status == "SUCCEEDED"
    assert run.entered == (
        RUN_START
        + VARIANT_SUCCEEDS
        + [*VARIANT_JOB_FAILS, "VariantNotRecorded"]
        + VARIANT_SUCCEEDS
        + RUN_SUCCEEDS
    )
    assert len(run.scheduled("RecordVariant")) == 2
    outcomes = run.scheduled("SummarizeRun")[0]["Payload"]["variants"]
    assert [(o["name"], o["status"]) for o in outcomes] == [
        ("od-1vcpu", "SUCCEEDED"),
        ("od-2vcpu", "FAILED"),
        ("spot-2vcpu", "SUCCEEDED"),
    ]
    assert (outcomes[1]["error"], outcomes[1]["cause"]) == (job_error, job_cause[:4000])


def test_failed_batch_job_is_recorded_as_a_failed_variant_while_the_others_succeed(
    workflow: Workflow,
) -> None:
    case = "OneVariantJobFails"
    run = workflow.run(case)
    variants = [v["name"] for v in request_variants(case)]
    collected = lambda_payloads(case, "CollectMetrics")
    error, cause = throw(case, "RunJob", 1)
    table = workflow.substitutions["RunsTableName"]

    assert variants == ["od-1vcpu", "od-2vcpu", "spot-2vcpu"]  # the second job fails
    assert (error, json.loads(cause)["Status"]) == ("States.TaskFailed", "FAILED")
    assert run.status == "SUCCEEDED"
    assert run.entered == (
        RUN_START + VARIANT_SUCCEEDS + VARIANT_JOB_FAILS + VARIANT_SUCCEEDS + RUN_SUCCEEDS
    )
    assert run.output == succeeded_output(case)
    assert run.output["summary"]["failed_variants"] == ["od-2vcpu"]
    # RunJob's failure is caught to RecordVariantFailure: CollectMetrics and RecordVariant
    # are skipped, so the failed variant costs 3 transitions instead of 4.
    assert run.transitions == estimated_transitions(3) - 1 == 19
    assert write_backs(run) == {
        "ClaimRun": [claim(run, table)],
        "MarkRunning": [mark_running(run, table, 3, case)],
        "RecordVariant": [record_variant(run, table, c, i, case) for i, c in enumerate(collected)],
        "RecordVariantFailure": [
            record_variant_failure(run, table, "od-2vcpu", error, cause, 0, case)
        ],
        "RecordResult": [record_result(run, table, lambda_payloads(case, "SummarizeRun")[0])],
    }
    # SummarizeRun hears about the failure in the order of the request.
    outcomes = run.scheduled("SummarizeRun")[0]["Payload"]["variants"]
    assert [(o["name"], o["status"]) for o in outcomes] == [
        ("od-1vcpu", "SUCCEEDED"),
        ("od-2vcpu", "FAILED"),
        ("spot-2vcpu", "SUCCEEDED"),
    ]
    assert outcomes[1] == {"name": "od-2vcpu", "status": "FAILED", "error": error, "cause": cause}


def test_every_variant_failing_fails_the_run_with_its_summary_and_cost(
    workflow: Workflow,
) -> None:
    case = "AllVariantsFail"
    run = workflow.run(case)
    variants = [v["name"] for v in request_variants(case)]
    summarized = lambda_payloads(case, "SummarizeRun")[0]
    table = workflow.substitutions["RunsTableName"]

    assert (summarized["status"], summarized["error"]) == ("FAILED", "AllVariantsFailedError")
    assert (run.status, run.error, run.cause) == (
        "FAILED",
        "AllVariantsFailedError",
        summarized["cause"],
    )
    assert run.output is None
    assert run.entered == (
        RUN_START
        + VARIANT_JOB_FAILS * len(variants)
        + ["SummarizeRun", "DidAnyVariantSucceed", "RecordRunFailed", "RunFailed"]
    )
    # 5 run-level states, 3 per failed variant, then SummarizeRun, the choice,
    # RecordRunFailed and RunFailed.
    assert run.transitions == 5 + 3 * len(variants) + 4 == 18
    assert run.transitions == estimated_transitions(len(variants), all_failed=True) - len(variants)
    failures = [throw(case, "RunJob", i) for i in range(len(variants))]
    assert write_backs(run) == {
        "ClaimRun": [claim(run, table)],
        "MarkRunning": [mark_running(run, table, len(variants), case)],
        "RecordVariantFailure": [
            record_variant_failure(run, table, name, e, c, i, case)
            for i, (name, (e, c)) in enumerate(zip(variants, failures, strict=True))
        ],
        "RecordRunFailed": [
            {
                "TableName": table,
                "Key": {"pk": {"S": PK}, "sk": {"S": "REQUEST"}},
                "UpdateExpression": "SET #status = :failed, #error = :error, cause = :cause, "
                "summary = :summary, cost = :cost, finished_at = :now",
                "ConditionExpression": "#execution = :execution AND #status = :running",
                "ExpressionAttributeNames": {
                    "#status": "status",
                    "#execution": "execution",
                    "#error": "error",
                },
                "ExpressionAttributeValues": {
                    ":failed": {"S": "FAILED"},
                    ":running": {"S": "RUNNING"},
                    ":error": {"S": "AllVariantsFailedError"},
                    ":cause": {"S": summarized["cause"]},
                    ":execution": {"S": run.arn},
                    ":now": {"S": EnteredTime(run, "RecordRunFailed")},
                    ":summary": summarized["attributes"]["summary"],
                    ":cost": summarized["attributes"]["cost"],
                },
            }
        ],
    }
    # The jobs ran: the failed run's cost prices every attempt in the failures' causes.
    assert summarized["cost"]["unpriced_variants"] == []
    assert summarized["cost"]["breakdown"]["batch"] > 0


def test_invalid_request_is_recorded_invalid_with_its_reason(workflow: Workflow) -> None:
    case = "InvalidRequest"
    run = workflow.run(case)
    answer = lambda_payloads(case, "ValidateRequest")[0]
    table = workflow.substitutions["RunsTableName"]

    assert answer["valid"] is False
    assert run.status == "SUCCEEDED"
    assert run.entered == ["ClaimRun", "ValidateRequest", "IsRequestValid", "RecordInvalid"]
    assert run.output == {"run_id": RUN_ID, "status": "INVALID", "reason": answer["reason"]}
    assert run.transitions == 4
    assert write_backs(run) == {
        "ClaimRun": [claim(run, table)],
        "RecordInvalid": [
            {
                "TableName": table,
                "Key": {"pk": {"S": PK}, "sk": {"S": "REQUEST"}},
                "UpdateExpression": "SET #status = :invalid, reason = :reason, finished_at = :now, "
                "attempt = :attempt",
                "ConditionExpression": "#execution = :execution AND #status = :claimed",
                "ExpressionAttributeNames": {"#status": "status", "#execution": "execution"},
                "ExpressionAttributeValues": {
                    ":claimed": {"S": "CLAIMED"},
                    ":invalid": {"S": "INVALID"},
                    ":reason": {"S": answer["reason"]},
                    ":attempt": validated_attempt(case),
                    ":execution": {"S": run.arn},
                    ":now": {"S": EnteredTime(run, "RecordInvalid")},
                },
            }
        ],
    }


def test_duplicate_delivery_finds_the_claim_taken_and_does_no_work(workflow: Workflow) -> None:
    case = "DuplicateDelivery"
    run = workflow.run(case)
    error, cause = throw(case, "ClaimRun")
    table = workflow.substitutions["RunsTableName"]

    assert error == "DynamoDB.ConditionalCheckFailedException"
    assert run.status == "SUCCEEDED"
    assert run.entered == ["ClaimRun", "AlreadyClaimed"]
    assert run.output == {"Error": error, "Cause": cause}
    assert run.transitions == 2
    assert run.retries("ClaimRun") == 0
    # Only the conditional claim was attempted: no Lambda, no job, no other write.
    assert dict(run.attempts) == {"ClaimRun": 1}
    assert write_backs(run) == {"ClaimRun": [claim(run, table)]}


def test_error_outside_the_map_records_the_run_failed_with_error_and_cause(
    workflow: Workflow,
) -> None:
    case = "ValidateRequestFails"
    run = workflow.run(case)
    error, cause = throw(case, "ValidateRequest")
    table = workflow.substitutions["RunsTableName"]

    assert error == "Sandbox.Timedout"  # not one of the retried transient Lambda errors
    assert (run.status, run.error, run.cause) == ("FAILED", error, cause)
    assert run.entered == ["ClaimRun", "ValidateRequest", "RecordFailure", "RunFailed"]
    assert run.retries("ValidateRequest") == 0
    assert run.transitions == 4
    assert write_backs(run) == {
        "ClaimRun": [claim(run, table)],
        "RecordFailure": [record_failure(run, table, error, cause)],
    }


def test_failed_claim_fails_the_execution_without_writing_back(workflow: Workflow) -> None:
    case = "ClaimFails"
    run = workflow.run(case)
    error, cause = throw(case, "ClaimRun")
    table = workflow.substitutions["RunsTableName"]

    # Nothing is claimed, so nothing may be written: the execution itself fails.
    assert (run.status, run.error, run.cause) == ("FAILED", error, cause)
    assert run.entered == ["ClaimRun", "RunFailed"]
    assert run.retries("ClaimRun") == 0  # ResourceNotFound is not a throttling error
    assert run.transitions == 2
    assert write_backs(run) == {"ClaimRun": [claim(run, table)]}


def test_run_taken_over_before_it_starts_is_left_to_its_new_owner(workflow: Workflow) -> None:
    """A newer execution claimed the run (a re-run): MarkRunning and then RecordFailure find
    it no longer this execution's, so neither writes; the execution fails with MarkRunning's
    error and the run item stays the newer execution's."""
    case = "MarkRunningFails"
    run = workflow.run(case)
    error, cause = throw(case, "MarkRunning")  # the run is no longer CLAIMED by us
    assert throw(case, "RecordFailure")[0] == error  # nor open and ours for RecordFailure
    table = workflow.substitutions["RunsTableName"]

    assert (run.status, run.error, run.cause) == ("FAILED", error, cause)
    assert run.entered == [*RUN_START[:4], "RecordFailure", "RunFailed"]
    assert run.transitions == 6
    assert write_backs(run) == {
        "ClaimRun": [claim(run, table)],
        "MarkRunning": [mark_running(run, table, len(request_variants(case)), case)],
        "RecordFailure": [record_failure(run, table, error, cause)],
    }


# ------------------------------------------------------------------------ whole-ASL checks
def test_every_state_of_the_asl_is_entered_by_some_test_case(workflow: Workflow) -> None:
    entered = {state for case in case_mocks() for state in workflow.run(case).entered}
    never = sorted(set(all_states(workflow.definition)) - entered)
    assert not never, f"states no test case in MockConfigFile.json enters: {never}"


@pytest.mark.parametrize("case", sorted(case_mocks()))
def test_every_lambda_payload_the_workflow_sends_parses_as_its_handler_event(
    workflow: Workflow, case: str
) -> None:
    run = workflow.run(case)
    for state, (model, function) in LAMBDA_EVENTS.items():
        for parameters in run.scheduled(state):
            assert parameters["FunctionName"] == workflow.substitutions[function]
            model.model_validate(parameters["Payload"])
