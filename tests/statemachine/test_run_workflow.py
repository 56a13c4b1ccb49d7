"""One test per path of statemachines/run_workflow.asl.json, each through its test case in
MockConfigFile.json: the states entered (in order), the final output or error, the billed
state transitions, and the exact DynamoDB write-backs (the TaskScheduled parameters the ASL
sends to dynamodb:updateItem/putItem; StartRun's claim and its RUNNING or INVALID marks and
CollectMetrics' VARIANT# item are their functions', tested in tests/unit), and what the ASL
builds from StartRun's mocked answer (its Lambda payloads and each Batch job). RunVariants is
a Distributed Map: each job runs in a child workflow execution with its own history, and
every reading covers the parent and its children (sfn_harness.Execution). The last tests
check every state (the children's included) is entered by some test case and every Lambda
payload parses as its handler's event.
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

import runledger.starting
from runledger.pricing import estimated_transitions
from runledger.results import CollectMetricsEvent
from runledger.starting import StartRunEvent
from runledger.summary import SummarizeRunEvent

PIPE_RECORD = json.loads(PIPE_INPUT.read_text())[0]
PK = PIPE_RECORD["pk"]
RUN_ID = PK.removeprefix("RUN#")

RUN_START = ["StartRun", "RunVariants"]
#: A job's child execution: collected and recorded (CollectMetrics writes its VARIANT# item).
VARIANT_SUCCEEDS = ["RunJob", "CollectMetrics"]
VARIANT_JOB_FAILS = ["RunJob", "RecordVariantFailure"]
RUN_SUCCEEDS = ["SummarizeRun", "DidAnyVariantSucceed", "RecordResult"]
#: The states that write to the runs table from the ASL; StartRun's claim and its
#: RUNNING/INVALID marks are the Lambda's (runledger.starting, tested in tests/unit), and so
#: is a collected job's VARIANT# item (CollectMetrics: runledger.results.record_job).
DYNAMODB_STATES = (
    "RecordVariantFailure",
    "RecordResult",
    "RecordRunFailed",
    "RecordFailure",
)
#: The event model of each Lambda state's handler, and the substitution naming its function.
LAMBDA_EVENTS: dict[str, tuple[type[BaseModel], str]] = {
    "StartRun": (StartRunEvent, "StartRunFunctionArn"),
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


def started(case: str) -> dict[str, Any]:
    """What StartRun answered (mocked): ``{request, attempt, run}``."""
    answer: dict[str, Any] = lambda_payloads(case, "StartRun")[-1]
    return answer


def request_variants(case: str) -> list[dict[str, Any]]:
    return list(started(case)["request"]["variants"])


def start_run_payload(run: Execution, workflow: Workflow) -> dict[str, Any]:
    """What StartRun sends its function: the key, this execution, the claim's time (the
    state's entered time, the same for every retry) and the limits a request is held to."""
    substitutions = workflow.substitutions
    return {
        "pk": PK,
        "execution": run.arn,
        "claimed_at": EnteredTime(run, "StartRun"),
        "limits": {
            "run_timeout_seconds": workflow.definition["TimeoutSeconds"],
            "max_concurrency": int(substitutions["MaxConcurrency"]),
            "job_attempts": int(substitutions["JobAttempts"]),
            "job_queue_seconds": int(substitutions["JobQueueSeconds"]),
        },
    }


def start_run_payload_call(run: Execution, workflow: Workflow) -> dict[str, Any]:
    """StartRun's lambda:invoke parameters."""
    return {
        "FunctionName": workflow.substitutions["StartRunFunctionArn"],
        "Payload": start_run_payload(run, workflow),
    }


def claimed(case: str) -> dict[str, Any]:
    """The claim the run's items carry, as StartRun answered it (its ``run``): owner,
    attempt (DynamoDB's N wants a string) and time."""
    jobs = started(case)["run"]
    return {
        "execution": {"S": jobs["execution"]},
        "attempt": {"N": jobs["attempt"]},
        "claimed_at": {"S": jobs["claimed_at"]},
    }


def owner(case: str) -> str:
    """The execution RecordResult and RecordRunFailed require (``$execution``): StartRun's."""
    execution: str = started(case)["run"]["execution"]
    return execution


def variant_write(claim_marks: dict[str, Any]) -> dict[str, Any]:
    """The claim a VARIANT# item belongs to, and the condition that refuses the write when a
    later claim of the run already wrote the item."""
    return {
        "ConditionExpression": "attribute_not_exists(claimed_at) OR claimed_at <= :claimed_at",
        "ExpressionAttributeValues": {":claimed_at": claim_marks["claimed_at"]},
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
            "execution": marks["execution"],
            "attempt": marks["attempt"],
            "claimed_at": marks["claimed_at"],
            "recorded_at": {"S": EnteredTime(run, "RecordVariantFailure", index)},
        },
        **variant_write(marks),
    }


def record_result(
    run: Execution, table: str, summarized: dict[str, Any], case: str
) -> dict[str, Any]:
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
            ":execution": {"S": owner(case)},
            ":now": {"S": EnteredTime(run, "RecordResult")},
            ":summary": summarized["attributes"]["summary"],
            ":cost": summarized["attributes"]["cost"],
        },
    }


def record_failure(
    run: Execution, table: str, error: str, cause: str, execution: str | None = None
) -> dict[str, Any]:
    """RecordFailure: the key and the owner to require. After StartRun failed, the key from
    the pipe's record and this execution (StartRun's Catch assigns both, as StartRun answered
    nothing); later, StartRun's owner (``execution``)."""
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
            ":execution": {"S": execution or run.arn},
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


def job_outcomes(run: Execution) -> list[dict[str, Any]]:
    """What each job's child execution returned (the Map's output), in item order."""
    assert all(child.status == "SUCCEEDED" for child in run.children), run.children
    return [child.output for child in run.children]


def throw(case: str, state: str, invocation: int = 0) -> tuple[str, str]:
    thrown = mocked_responses(case, state)[invocation]["Throw"]
    return thrown["Error"], thrown["Cause"]


def without_managed_by_aws(submitted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """RunJob's parameters without the variable Step Functions adds to a .sync job's
    environment (MANAGED_BY_AWS=STARTED_BY_STEP_FUNCTIONS; moto records it among the
    parameters, as LocalStack does)."""
    for parameters in submitted:
        environment = parameters["ContainerOverrides"]["Environment"]
        environment[:] = [e for e in environment if e.get("name") != "MANAGED_BY_AWS"]
    return submitted


# ------------------------------------------------------------------------------- paths
def test_happy_path_runs_every_variant_and_records_the_result(workflow: Workflow) -> None:
    run = workflow.run("HappyPath")
    variants = request_variants("HappyPath")
    collected = lambda_payloads("HappyPath", "CollectMetrics")
    table = workflow.substitutions["RunsTableName"]

    assert len(variants) == 3
    assert run.status == "SUCCEEDED"
    # One child execution per job, each with its own history: the parent's holds the Map Run.
    assert len(run.children) == len(variants)
    assert [child.entered for child in run.children] == [VARIANT_SUCCEEDS] * len(variants)
    assert [child.input["key"] for child in run.children] == [v["name"] for v in variants]
    assert run.entered == RUN_START + VARIANT_SUCCEEDS * len(variants) + RUN_SUCCEEDS
    assert run.output == succeeded_output("HappyPath")
    # 5 in the parent, 3 per job: its child's start, RunJob and CollectMetrics.
    assert run.transitions == estimated_transitions(len(variants)) == 14
    assert run.scheduled("StartRun") == [start_run_payload_call(run, workflow)]
    # CollectMetrics wrote each job's item (its function's, tested in tests/unit), for the
    # claim StartRun answered: the ASL writes only the result.
    assert [call["Payload"]["run"] for call in run.scheduled("CollectMetrics")] == [
        started("HappyPath")["run"]
    ] * len(variants)
    assert write_backs(run) == {
        "RecordResult": [
            record_result(run, table, lambda_payloads("HappyPath", "SummarizeRun")[0], "HappyPath")
        ],
    }
    # Each child returns the job's name and status only; SummarizeRun reads the items.
    assert job_outcomes(run) == [{"name": c["name"], "status": "SUCCEEDED"} for c in collected]
    # SummarizeRun gets StartRun's request, key and owner, and the jobs' outcomes.
    assert run.scheduled("SummarizeRun")[0]["Payload"] == {
        "run_id": RUN_ID,
        "request": started("HappyPath")["request"],
        "jobs": job_outcomes(run),
        "execution": owner("HappyPath"),
        "pk": PK,
    }


def test_happy_path_builds_each_job_from_the_started_run_and_its_variant(
    workflow: Workflow,
) -> None:
    """RunJob's SubmitJob is built in JSONata from StartRun's ``run`` and the Map item: the
    job's name, queue by capacity, the workload's job definition, resources, environment,
    timeout and the run's cost tags; CollectMetrics then reads the same results URI."""
    case = "HappyPath"
    run = workflow.run(case)
    substitutions = workflow.substitutions
    jobs = started(case)["run"]
    queues = {
        "ON_DEMAND": substitutions["JobQueuePrefix"] + "fargate-on-demand",
        "SPOT": substitutions["JobQueuePrefix"] + "fargate-spot",
    }
    variants = request_variants(case)
    results_uris = [f"{jobs['results_prefix']}{v['name']}/metrics.json" for v in variants]

    assert {v["capacity"] for v in variants} == set(queues)  # both queues are exercised
    assert len({v["timeout_seconds"] for v in variants}) > 1  # so is each variant's timeout
    assert without_managed_by_aws(run.scheduled("RunJob")) == [
        {
            "JobName": f"{jobs['job_name_prefix']}-{variant['name']}",
            # By name: StartRun's placement of the variant, after the stack's prefixes.
            "JobQueue": queues[variant["capacity"]],
            "JobDefinition": substitutions["WorkloadJobDefinitionPrefix"]
            + jobs["workflow"]
            + "-FargateX8664",
            "ContainerOverrides": {
                "ResourceRequirements": [
                    {"Type": "VCPU", "Value": str(variant["vcpus"])},
                    {"Type": "MEMORY", "Value": str(variant["memory_mib"])},
                ],
                "Environment": [
                    *jobs["environment"],
                    {"Name": "RUNLEDGER_RESULTS_URI", "Value": results_uri},
                    {"Name": "RUNLEDGER_VARIANT", "Value": variant["name"]},
                    {"Name": "RUNLEDGER_REPEAT", "Value": "1"},
                ],
            },
            "Timeout": {"AttemptDurationSeconds": variant["timeout_seconds"]},
            "Tags": {
                "run-id": RUN_ID,
                "workflow": jobs["workflow"],
                "variant": variant["name"],
                "cost-center": jobs["cost_center"],
            },
            "PropagateTags": True,
        }
        for variant, results_uri in zip(variants, results_uris, strict=True)
    ]
    # CollectMetrics reads where the job wrote, with RunJob's summary of the finished job.
    finished = [o["Return"] for o in mocked_responses(case, "RunJob")]
    assert [call["Payload"] for call in run.scheduled("CollectMetrics")] == [
        {
            "run_id": RUN_ID,
            "name": variant["name"],  # the job's key: a variant run once is its name
            "variant": variant,
            "repeat": 1,
            "results_uri": results_uri,
            "job": {
                "job_id": job["JobId"],
                "status": job["Status"],
                "started_at": job["StartedAt"],
                "stopped_at": job["StoppedAt"],
                "attempts": len(job["Attempts"]),
                "attempt_times": [
                    {"started_at": a["StartedAt"], "stopped_at": a["StoppedAt"]}
                    for a in job["Attempts"]
                ],
            },
            "run": jobs,  # the claim CollectMetrics writes the job's item for
        }
        for variant, results_uri, job in zip(variants, results_uris, finished, strict=True)
    ]


def test_lambda_transient_errors_are_retried_then_the_run_succeeds(workflow: Workflow) -> None:
    case = "LambdaRetriedThenSucceeds"
    run = workflow.run(case)
    variants = request_variants(case)
    table = workflow.substitutions["RunsTableName"]

    # GIVEN StartRun throttled, then a Lambda service error, then an answer
    assert [next(iter(o)) for o in mocked_responses(case, "StartRun")] == [
        "Throw",
        "Throw",
        "Return",
    ]
    # THEN the history shows two retries of the one StartRun state entry
    assert run.retries("StartRun") == 2
    assert [(state, error) for state, error, _ in run.task_failures] == [
        ("StartRun", "Lambda.TooManyRequestsException"),
        ("StartRun", "Lambda.ServiceException"),
    ]
    # Every attempt claims with the same execution and time: a retried invocation finds
    # its own claim.
    assert run.scheduled("StartRun") == [start_run_payload_call(run, workflow)] * 3
    assert run.status == "SUCCEEDED"
    assert run.entered == RUN_START + VARIANT_SUCCEEDS * len(variants) + RUN_SUCCEEDS
    assert run.output == succeeded_output(case)
    # Each retry is one more billed transition.
    assert run.transitions == estimated_transitions(len(variants)) + 2 == 10
    assert len(run.children) == len(variants) == 1
    assert job_outcomes(run) == [
        {"name": lambda_payloads(case, "CollectMetrics")[0]["name"], "status": "SUCCEEDED"}
    ]
    assert write_backs(run) == {
        "RecordResult": [record_result(run, table, lambda_payloads(case, "SummarizeRun")[0], case)],
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
    table = workflow.substitutions["RunsTableName"]

    assert record_error == "DynamoDB.ResourceNotFoundException"
    assert run.status == "SUCCEEDED"
    assert run.entered == (
        RUN_START
        + VARIANT_SUCCEEDS
        + [*VARIANT_JOB_FAILS, "VariantNotRecorded"]
        + VARIANT_SUCCEEDS
        + RUN_SUCCEEDS
    )
    # 5 + 3 per job, and VariantNotRecorded one more.
    assert run.transitions == estimated_transitions(3) + 1 == 15
    assert len(run.scheduled("CollectMetrics")) == 2
    # The write that failed was the FAILED item of the second variant, with its job's error.
    assert run.scheduled("RecordVariantFailure") == [
        record_variant_failure(run, table, "od-2vcpu", job_error, job_cause, 0, case)
    ]
    outcomes = run.scheduled("SummarizeRun")[0]["Payload"]["jobs"]
    assert outcomes == job_outcomes(run)
    assert [(o["name"], o["status"]) for o in outcomes] == [
        ("od-1vcpu", "SUCCEEDED"),
        ("od-2vcpu", "FAILED"),
        ("spot-2vcpu", "SUCCEEDED"),
    ]
    # No item to read it from: the child reports the error and (the start of) its cause.
    assert outcomes[1] == {
        "name": "od-2vcpu",
        "status": "FAILED",
        "error": job_error,
        "cause": job_cause[:100],
    }


def test_a_job_item_a_later_claim_owns_is_left_to_it_and_so_is_the_run(
    workflow: Workflow,
) -> None:
    """GIVEN the run was requested again while its jobs ran and the later claim already
    wrote the second job's item WHEN CollectMetrics' write of it is refused
    (ItemOwnedByLaterClaim, a function error: no retry) THEN RecordVariantFailure's write is
    refused by the same condition, the job is reported FAILED unrecorded
    (VariantNotRecorded) while the others go on, and RecordResult and RecordFailure find
    the run no longer this execution's: the execution fails and writes nothing over the
    later claim."""
    case = "RunTakenOverWhileJobsRun"
    run = workflow.run(case)
    error, cause = throw(case, "CollectMetrics", 1)
    refused, refused_cause = throw(case, "RecordVariantFailure")
    table = workflow.substitutions["RunsTableName"]

    assert (error, json.loads(cause)["errorType"]) == ("ItemOwnedByLaterClaim",) * 2
    assert refused == "DynamoDB.ConditionalCheckFailedException"
    assert throw(case, "RecordResult") == throw(case, "RecordFailure") == (refused, refused_cause)
    assert (run.status, run.error, run.cause) == ("FAILED", refused, refused_cause)
    assert run.output is None
    assert run.entered == (
        RUN_START
        + VARIANT_SUCCEEDS
        + [*VARIANT_SUCCEEDS, "RecordVariantFailure", "VariantNotRecorded"]
        + VARIANT_SUCCEEDS
        + ["SummarizeRun", "DidAnyVariantSucceed", "RecordResult", "RecordFailure", "RunFailed"]
    )
    assert run.task_failures == [
        ("CollectMetrics", error, cause),
        ("RecordVariantFailure", refused, refused_cause),
        ("RecordResult", refused, refused_cause),
        ("RecordFailure", refused, refused_cause),
    ]
    assert sum(run.retries(state) for state in run.attempts) == 0
    # 5 + 3 per job, 2 more for the refused job, RecordFailure and RunFailed.
    assert run.transitions == estimated_transitions(3) + 4 == 18
    # Every CollectMetrics call writes for this execution's claim; the second was refused.
    assert [call["Payload"]["run"] for call in run.scheduled("CollectMetrics")] == [
        started(case)["run"]
    ] * 3
    summarized = lambda_payloads(case, "SummarizeRun")[0]
    assert write_backs(run) == {
        "RecordVariantFailure": [
            record_variant_failure(run, table, "od-2vcpu", error, cause, 0, case)
        ],
        "RecordResult": [record_result(run, table, summarized, case)],
        "RecordFailure": [record_failure(run, table, refused, refused_cause, owner(case))],
    }
    outcomes = run.scheduled("SummarizeRun")[0]["Payload"]["jobs"]
    assert outcomes == job_outcomes(run)
    assert outcomes == [
        {"name": "od-1vcpu", "status": "SUCCEEDED"},
        {"name": "od-2vcpu", "status": "FAILED", "error": error, "cause": cause[:100]},
        {"name": "spot-2vcpu", "status": "SUCCEEDED"},
    ]


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
    # RunJob's failure is caught to RecordVariantFailure instead of CollectMetrics: the
    # failed job costs 3 transitions too (its child's start, RunJob, RecordVariantFailure).
    assert run.transitions == estimated_transitions(3) == 14
    assert [c["name"] for c in collected] == ["od-1vcpu", "spot-2vcpu"]
    assert [call["Payload"]["name"] for call in run.scheduled("CollectMetrics")] == [
        c["name"] for c in collected
    ]
    assert write_backs(run) == {
        "RecordVariantFailure": [
            record_variant_failure(run, table, "od-2vcpu", error, cause, 0, case)
        ],
        "RecordResult": [record_result(run, table, lambda_payloads(case, "SummarizeRun")[0], case)],
    }
    # SummarizeRun hears about the failure in the order of the request.
    outcomes = run.scheduled("SummarizeRun")[0]["Payload"]["jobs"]
    assert [(o["name"], o["status"]) for o in outcomes] == [
        ("od-1vcpu", "SUCCEEDED"),
        ("od-2vcpu", "FAILED"),
        ("spot-2vcpu", "SUCCEEDED"),
    ]
    # The FAILED item holds the cause (written above); the child reports the error.
    assert outcomes == job_outcomes(run)
    assert outcomes[1] == {"name": "od-2vcpu", "status": "FAILED", "error": error}


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
    # 2 run-level states, 3 per failed job (its child's start, RunJob, RecordVariantFailure),
    # then SummarizeRun, the choice, RecordRunFailed and RunFailed.
    assert run.transitions == 2 + 3 * len(variants) + 4 == 15
    assert run.transitions == estimated_transitions(len(variants), all_failed=True)
    assert job_outcomes(run) == [
        {"name": name, "status": "FAILED", "error": "States.TaskFailed"} for name in variants
    ]
    failures = [throw(case, "RunJob", i) for i in range(len(variants))]
    assert write_backs(run) == {
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
                    ":execution": {"S": owner(case)},
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


def test_invalid_request_ends_invalid_with_the_reason_start_run_gave(workflow: Workflow) -> None:
    """StartRun wrote the run INVALID itself and raised RequestInvalid with the reason as
    its message: the ASL catches it, succeeds, and writes nothing more."""
    case = "InvalidRequest"
    run = workflow.run(case)
    error, cause = throw(case, "StartRun")

    assert error == "RequestInvalid"
    reason = json.loads(cause)["errorMessage"]
    assert reason == 'variants.1.name: duplicate variant name "od-1vcpu"'
    assert run.status == "SUCCEEDED"
    assert run.entered == ["StartRun", "RequestInvalid"]
    assert run.output == {"run_id": RUN_ID, "status": "INVALID", "reason": reason}
    assert run.transitions == 2
    assert run.scheduled("StartRun") == [start_run_payload_call(run, workflow)]
    # No retry (a function error), no job, no other call, no write from the ASL.
    assert dict(run.attempts) == {"StartRun": 1}
    assert write_backs(run) == {}


def test_duplicate_delivery_finds_the_claim_taken_and_does_no_work(workflow: Workflow) -> None:
    case = "DuplicateDelivery"
    run = workflow.run(case)
    error, cause = throw(case, "StartRun")

    assert error == "AlreadyClaimed"
    assert run.status == "SUCCEEDED"
    assert run.entered == ["StartRun", "AlreadyClaimed"]
    assert run.output == {"Error": error, "Cause": cause}
    assert run.transitions == 2
    assert run.retries("StartRun") == 0
    # Only StartRun was called (its claim found the item taken): no job, no write.
    assert dict(run.attempts) == {"StartRun": 1}
    assert run.scheduled("StartRun") == [start_run_payload_call(run, workflow)]
    assert write_backs(run) == {}


def test_start_run_failing_records_the_run_failed_with_error_and_cause(
    workflow: Workflow,
) -> None:
    case = "StartRunFails"
    run = workflow.run(case)
    error, cause = throw(case, "StartRun")
    table = workflow.substitutions["RunsTableName"]

    assert error == "Sandbox.Timedout"  # not one of the retried transient Lambda errors
    assert (run.status, run.error, run.cause) == ("FAILED", error, cause)
    assert run.entered == ["StartRun", "RecordFailure", "RunFailed"]
    assert run.retries("StartRun") == 0
    assert run.transitions == 3
    # StartRun answered nothing: RecordFailure writes the pipe's key, owned by this execution.
    assert write_backs(run) == {"RecordFailure": [record_failure(run, table, error, cause)]}


def test_failed_claim_fails_the_execution_with_the_claims_error(workflow: Workflow) -> None:
    """The claim's own DynamoDB call failed inside StartRun (the function's error, not a
    Lambda service error: no retry). RecordFailure tries the run (if this execution had
    claimed it), fails too, and the execution fails with StartRun's error; CloseRun closes
    a run nobody claimed."""
    case = "ClaimFails"
    run = workflow.run(case)
    error, cause = throw(case, "StartRun")
    record_error, _ = throw(case, "RecordFailure")
    table = workflow.substitutions["RunsTableName"]

    assert (error, json.loads(cause)["errorType"]) == ("ResourceNotFoundException",) * 2
    assert record_error == "DynamoDB.ResourceNotFoundException"
    assert (run.status, run.error, run.cause) == ("FAILED", error, cause)
    assert run.entered == ["StartRun", "RecordFailure", "RunFailed"]
    assert run.retries("StartRun") == run.retries("RecordFailure") == 0
    assert run.transitions == 3
    assert write_backs(run) == {"RecordFailure": [record_failure(run, table, error, cause)]}


def test_run_taken_over_before_it_starts_is_left_to_its_new_owner(workflow: Workflow) -> None:
    """A newer execution claimed the run (a re-run) between StartRun's claim and its mark:
    StartRun raises ClaimLost, and RecordFailure finds the run no longer this execution's,
    so it writes nothing; the execution fails with ClaimLost and the run item stays the
    newer execution's."""
    case = "ClaimLost"
    run = workflow.run(case)
    error, cause = throw(case, "StartRun")
    assert error == "ClaimLost"
    # RecordFailure's condition (this execution's, still open) no longer holds.
    assert throw(case, "RecordFailure")[0] == "DynamoDB.ConditionalCheckFailedException"
    table = workflow.substitutions["RunsTableName"]

    assert (run.status, run.error, run.cause) == ("FAILED", error, cause)
    assert run.entered == ["StartRun", "RecordFailure", "RunFailed"]
    assert run.transitions == 3
    assert write_backs(run) == {"RecordFailure": [record_failure(run, table, error, cause)]}


# ------------------------------------------------------------------------ whole-ASL checks
def test_every_state_of_the_asl_is_entered_by_some_test_case(workflow: Workflow) -> None:
    runs = [workflow.run(case) for case in case_mocks()]
    entered = {state for run in runs for state in run.entered}
    never = sorted(set(all_states(workflow.definition)) - entered)
    assert not never, f"states no test case in MockConfigFile.json enters: {never}"
    # The Map's states are entered in its children's histories, never in the parent's.
    in_children = {s for run in runs for child in run.children for s in child.entered}
    map_states = set(workflow.definition["States"]["RunVariants"]["ItemProcessor"]["States"])
    assert in_children == map_states
    in_parent = {
        e["stateEnteredEventDetails"]["name"]
        for run in runs
        for e in run.events
        if "stateEnteredEventDetails" in e
    }
    assert not in_parent & map_states


def test_errors_start_run_catches_by_name_are_the_ones_its_function_raises(
    workflow: Workflow,
) -> None:
    """A Lambda function error is named by the exception's class: each error StartRun's
    Catch names must be an exception runledger.starting raises."""
    catches = all_states(workflow.definition)["StartRun"]["Catch"]
    named = [e for catch in catches for e in catch["ErrorEquals"] if e != "States.ALL"]
    assert named == ["AlreadyClaimed", "RequestInvalid"]
    for name in named:
        raised = getattr(runledger.starting, name, None)
        assert isinstance(raised, type), name
        assert issubclass(raised, Exception), name


@pytest.mark.parametrize("case", sorted(case_mocks()))
def test_every_lambda_payload_the_workflow_sends_parses_as_its_handler_event(
    workflow: Workflow, case: str
) -> None:
    run = workflow.run(case)
    assert run.scheduled("StartRun"), f"{case} never invoked StartRun"
    for state, (model, function) in LAMBDA_EVENTS.items():
        for parameters in run.scheduled(state):
            assert parameters["FunctionName"] == workflow.substitutions[function]
            model.model_validate(parameters["Payload"])
