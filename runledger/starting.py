"""Start a run: claim its REQUEST item, validate it, and mark it RUNNING or INVALID.

One Lambda step (StartRun) does what four states did (ClaimRun, ValidateRequest,
IsRequestValid and MarkRunning or RecordInvalid), so that a run of N jobs costs 5 + 3N
state transitions rather than 8 + 4N (runledger.pricing.estimated_transitions). It
writes the item twice, each write conditional:

1. the claim, ``REQUESTED -> CLAIMED`` (owner = this execution, ``claimed_at`` = the
   state's entered time), returning the item as claimed (``ALL_NEW``): the read and the
   claim are one atomic step, so what is validated is what was claimed. Pipes deliver
   at least once: a second delivery finds the claim taken (``AlreadyClaimed``). A retried
   invocation of the same execution finds its own claim and goes on.
2. after validating (runledger.validation), ``CLAIMED -> RUNNING`` with the claim's
   ``attempt``, ``started_at`` and ``variant_count``; or ``CLAIMED -> INVALID`` with the
   reason, then ``RequestInvalid`` is raised for the state machine to catch (an invalid
   request is an outcome: the execution succeeds). Both writes require that this
   execution still owns the claim; if a re-request took the run meanwhile, ``ClaimLost``.

The result carries what the rest of the workflow needs and no more than it needs (an
execution's state may hold at most 256 KiB): the normalized request, the claim's
``attempt``, ``run``, the parts of every Batch job the state machine builds in JSONata
from one variant (the workload's environment from the input, the job name's prefix, the
results prefix), and ``jobs``, one small item per job (a variant's index, its repeat and
the job's key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, Field

from runledger.models import (
    PK_PREFIX,
    REQUEST_SK,
    RunRequest,
    StepEvent,
    each_job,
)
from runledger.storage import join_uri
from runledger.times import workflow_time
from runledger.validation import (
    RunLimits,
    ValidationResult,
    validate_request,
)
from runledger.workflows import get_workflow

logger = Logger(child=True)

#: Attributes a claim clears: what an earlier attempt of the run wrote.
_CLEARED = ("#error", "cause", "reason", "summary", "cost", "started_at", "finished_at")
#: What a retried invocation may find an earlier invocation of its execution left.
_OWN = ("CLAIMED", "RUNNING", "INVALID")
_NOT_IN_JOB_NAME = re.compile(r"[^A-Za-z0-9_-]")
#: A Batch job name: <prefix>-<variant>, at most 128 characters.
MAX_JOB_NAME = 128
METRICS_FILE = "metrics.json"


class AlreadyClaimed(Exception):
    """The item is not REQUESTED (a duplicate delivery, or a run already in progress)."""


class RequestInvalid(Exception):
    """The request cannot run; it was written INVALID with this reason."""


class ClaimLost(Exception):
    """This execution's claim was taken by a newer request of the run before it was marked."""


class StartRunEvent(StepEvent):
    """start_run's event, from the StartRun state::

        {"pk": "RUN#...", "execution": "<execution ARN>", "claimed_at": "<entered time>",
         "limits": {...}}

    To try the function alone (``sam local invoke``, no table), the event may carry the
    item itself as ``"image"`` (DynamoDB JSON): it is validated, nothing is read or written.
    ``pk`` and ``image`` are ``Any``: whatever the table holds must end INVALID with a
    reason, never as a parse error.
    """

    pk: Any = None
    execution: str | None = None
    claimed_at: str | None = None
    image: Any = None
    limits: RunLimits | None = None


class RunJobs(BaseModel):
    """What every Batch job of the run shares; RunJob adds one variant's part in JSONata."""

    pk: str
    run_id: str
    execution: str
    attempt: str = Field(description="The claim's attempt, as DynamoDB's N wants it.")
    claimed_at: str
    workflow: str
    cost_center: str
    job_name_prefix: str = Field(description="The run id in [A-Za-z0-9_-] (Batch job names).")
    results_prefix: str = Field(description="<results>/runs/<run_id>/: + <variant>/metrics.json.")
    environment: list[dict[str, str]] = Field(
        description="The workload's container environment from the input, and the run's id."
    )


class JobItem(BaseModel):
    """One job of the run, as the Map's items list it: small, so that a run of
    ``MAX_JOBS`` jobs stays far inside a state's 256 KiB (about 40 bytes each)."""

    variant: int = Field(description="The variant's index in request.variants.")
    repeat: int = Field(description="1..the variant's repeats.")
    key: str = Field(description="<name>, or <name>#<repeat> when the variant repeats.")


class RunStarted(BaseModel):
    """start_run's result (a valid request, now RUNNING)."""

    request: RunRequest
    attempt: int
    run: RunJobs
    jobs: list[JobItem]
    placement: dict[str, dict[str, str]] = Field(
        description=(
            "Variant name -> its jobs' job_queue and job_definition, without the stack's "
            "prefixes RunJob adds (runledger.compute.placement). Not part of ``run``, which "
            "every job's input copies: the Map's ItemSelector gives each job its own."
        )
    )


def job_items(request: RunRequest) -> list[JobItem]:
    """Every job of ``request``: each variant's repeats, in order."""
    return [
        JobItem(variant=index, repeat=repeat, key=key)
        for index, _, repeat, key in each_job(request.variants)
    ]


def placements(request: RunRequest) -> dict[str, dict[str, str]]:
    """Each variant's queue and job definition (runledger.compute.placement), by name."""
    return {v.name: v.placement(request.workflow) for v in request.variants}


def job_name_prefix(run_id: str, longest_variant: int = 43) -> str:
    """The run id with every character outside ``[A-Za-z0-9_-]`` made ``-``, short enough
    that ``<prefix>-<variant>[-<repeat>]`` fits a Batch job name."""
    return _NOT_IN_JOB_NAME.sub("-", run_id)[: MAX_JOB_NAME - 1 - longest_variant]


def results_prefix(results_base: str, run_id: str) -> str:
    """Where a run's jobs write: ``<base>/runs/<run_id>/``; a job adds
    ``<variant>/metrics.json``. ``results_base`` is ``RESULTS_BUCKET``: a bucket name on
    AWS; the local cloud may pass ``file:///dir`` or a directory path instead."""
    return join_uri(results_base, "runs", run_id) + "/"


def run_jobs(
    request: RunRequest, pk: str, execution: str, attempt: int, claimed_at: str, results: str
) -> RunJobs:
    """The parts every job of ``request`` shares."""
    environment = {
        **get_workflow(request.workflow).job_environment(request.input),
        "RUNLEDGER_RUN_ID": request.run_id,
    }
    return RunJobs(
        pk=pk,
        run_id=request.run_id,
        execution=execution,
        attempt=str(attempt),
        claimed_at=claimed_at,
        workflow=request.workflow,
        cost_center=request.cost_center,
        job_name_prefix=job_name_prefix(request.run_id),
        results_prefix=results_prefix(results, request.run_id),
        environment=[{"Name": k, "Value": v} for k, v in sorted(environment.items())],
    )


def _conditional_failure(error: Exception) -> dict[str, Any] | None:
    """The item a failed ``ConditionExpression`` returned (``ALL_OLD``), ``{}`` when there
    is none; None when ``error`` is something else."""
    response = getattr(error, "response", None)
    if not isinstance(response, Mapping):
        return None
    if response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
        return None
    item = response.get("Item")
    return dict(item) if isinstance(item, Mapping) else {}


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    text = value.get("S") if isinstance(value, Mapping) else None
    return text if isinstance(text, str) else None


def claim(dynamodb: Any, table: str, pk: str, execution: str, claimed_at: str) -> dict[str, Any]:
    """Claim the REQUEST item of ``pk`` for ``execution``; return it as claimed.

    Raises ``AlreadyClaimed`` when it is not REQUESTED and not this execution's already:
    a retried invocation (Step Functions retries a Lambda service error, and the first
    invocation may have run) gets the item as the first one left it, CLAIMED, RUNNING or
    INVALID, and goes on from there.
    """
    key = {"pk": {"S": pk}, "sk": {"S": REQUEST_SK}}
    try:
        answer = dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=(
                "SET #status = :claimed, #execution = :execution, claimed_at = :now "
                "REMOVE " + ", ".join(_CLEARED)
            ),
            ConditionExpression="#status = :requested",
            ExpressionAttributeNames={
                "#status": "status",
                "#execution": "execution",
                "#error": "error",
            },
            ExpressionAttributeValues={
                ":claimed": {"S": "CLAIMED"},
                ":requested": {"S": "REQUESTED"},
                ":execution": {"S": execution},
                ":now": {"S": claimed_at},
            },
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as error:
        found = _conditional_failure(error)
        if found is None:
            raise
        if _text(found, "execution") == execution and _text(found, "status") in _OWN:
            return found  # this execution's own, from an invocation that was retried
        raise AlreadyClaimed(
            f"{pk} is {_text(found, 'status') or 'absent'}, not REQUESTED: "
            "nothing to run (a duplicate delivery, or a run already in progress)"
        ) from None
    item: dict[str, Any] = answer["Attributes"]
    return item


def _mark(
    dynamodb: Any,
    table: str,
    pk: str,
    execution: str,
    assignments: str,
    values: Mapping[str, Any],
) -> None:
    """``SET #status = ..., <assignments>`` on the item if ``execution`` still holds the claim."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": pk}, "sk": {"S": REQUEST_SK}},
            UpdateExpression=f"SET {assignments}",
            ConditionExpression="#execution = :execution AND #status = :claimed",
            ExpressionAttributeNames={"#status": "status", "#execution": "execution"},
            ExpressionAttributeValues={
                **values,
                ":execution": {"S": execution},
                ":claimed": {"S": "CLAIMED"},
            },
        )
    except Exception as error:
        if _conditional_failure(error) is None:
            raise
        raise ClaimLost(
            f"{pk}: this execution no longer holds the claim (the run was requested again)"
        ) from None


def start_run(
    event: StartRunEvent,
    *,
    table: str | None,
    results: str,
    input_locations: list[str] | None,
    dynamodb: Any = None,
) -> RunStarted:
    """Claim, validate and mark the run of ``event``; see the module's docstring.

    With ``event.image`` (trying the function alone) nothing is read or written.

    Raises:
        AlreadyClaimed: the item was not REQUESTED (nothing written).
        RequestInvalid: the request cannot run (written INVALID with the reason).
        ClaimLost: a newer request of the run took the claim meanwhile.
    """
    execution = event.execution or "local"
    claimed_at = event.claimed_at or workflow_time()
    pk = event.pk
    if event.image is None:
        if not isinstance(pk, str) or table is None:
            raise ValueError("StartRun needs pk (a string) and the runs table, or an image")
        if dynamodb is None:
            from runledger.clients import client

            dynamodb = client("dynamodb")
        image: Any = claim(dynamodb, table, pk, execution, claimed_at)
    else:
        dynamodb, image = None, event.image  # tried alone: nothing is read or written
    left = _text(image, "status") if dynamodb is not None else None
    if left == "INVALID":  # an earlier invocation wrote it so: the same answer again
        raise RequestInvalid(_text(image, "reason") or "request: invalid")
    result: ValidationResult = validate_request(pk, image, input_locations, event.limits)
    # A run an earlier invocation marked RUNNING holds this claim's attempt already.
    attempt = int(image["attempt"]["N"]) if left == "RUNNING" else result.attempt
    request = result.request
    jobs = job_items(request) if request is not None else []
    if request is None:
        reason = result.reason or "request: invalid"
        if dynamodb is not None:
            _mark(
                dynamodb,
                str(table),
                str(pk),
                execution,
                "#status = :invalid, reason = :reason, finished_at = :now, attempt = :attempt",
                {
                    ":invalid": {"S": "INVALID"},
                    ":reason": {"S": reason},
                    ":now": {"S": workflow_time()},
                    ":attempt": {"N": str(attempt)},
                },
            )
        raise RequestInvalid(reason)
    if dynamodb is not None and left != "RUNNING":
        _mark(
            dynamodb,
            str(table),
            str(pk),
            execution,
            "#status = :running, started_at = :now, variant_count = :count, "
            "job_count = :jobs, attempt = :attempt",
            {
                ":running": {"S": "RUNNING"},
                ":now": {"S": workflow_time()},
                ":count": {"N": str(len(request.variants))},
                ":jobs": {"N": str(len(jobs))},
                ":attempt": {"N": str(attempt)},
            },
        )
    logger.info("run started", extra={"run_id": request.run_id, "attempt": attempt})
    pk = f"{PK_PREFIX}{request.run_id}"  # what the key says: the run id comes from it
    return RunStarted(
        request=request,
        attempt=attempt,
        run=run_jobs(request, pk, execution, attempt, claimed_at, results),
        jobs=jobs,
        placement=placements(request),
    )
