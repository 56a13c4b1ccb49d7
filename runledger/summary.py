"""Close a run: compare its variants and price it.

``summarize_run`` takes every variant's outcome (collect_metrics' result, or the failure
the state machine caught), names the fastest and the cheapest succeeded variant, and
estimates the run's cost with ``runledger.pricing``: the Batch jobs from their measured
attempts, the rest from the usage model. A run where no variant succeeded is a failed run,
priced all the same (its jobs ran): the result has status FAILED, error
``AllVariantsFailedError`` and a cause naming each variant's error, and the state machine
records it.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field

from runledger import pricing
from runledger.compute import catalogue
from runledger.dynamo import to_attribute_value
from runledger.models import (
    AttemptTime,
    RunId,
    RunRequest,
    StepEvent,
    Variant,
    VariantSucceeded,
    each_job,
    jobs_of,
)
from runledger.usage import HistoryUsage

logger = Logger(child=True)


class VariantFailed(BaseModel):
    """A variant the state machine caught failing.

    ``{"name", "status": "FAILED", "error", "cause"}``: Step Functions' error name and cause.
    """

    model_config = ConfigDict(extra="ignore")

    name: str
    status: Literal["FAILED"]
    error: str | None = None
    cause: str | None = None


VariantOutcome = Annotated[VariantSucceeded | VariantFailed, Field(discriminator="status")]


class JobReported(BaseModel):
    """What a Distributed Map child reports of its job: its key and status (the outcome
    itself is its VARIANT# item), or, for a failure that could not be recorded, the error
    and the start of its cause."""

    model_config = ConfigDict(extra="ignore")

    name: str
    status: Literal["SUCCEEDED", "FAILED"]
    error: str | None = None
    cause: str | None = None


class SummarizeRunEvent(StepEvent):
    """summarize_run's event: the validated request and each job's outcome in full
    (``variants``), or as the Distributed Map reports it (``jobs``), the outcomes then to be
    read from the runs table (``recorded_outcomes``)."""

    run_id: RunId
    request: RunRequest
    variants: list[VariantOutcome] = Field(default_factory=list)
    jobs: list[JobReported] | None = Field(
        default=None, description="What the Map's children reported, one per job."
    )
    pk: str | None = Field(default=None, description="The run's key, to read its jobs' items.")
    transitions_estimate: int | None = Field(
        default=None, ge=0, description="State transitions, if the caller counted them."
    )
    execution: str | None = Field(
        default=None,
        description="ARN of the execution summarizing; its history gives the measured usage.",
    )


#: The results below are plain dataclasses, not pydantic models: summarize_run builds them
#: from values already validated (the event's), so they need no validation; defining the
#: 13 classes took 9-20 ms of SummarizeRun's cold import as models, 5 ms as dataclasses
#: (docs/cold-start.md).
#: ``json_value`` gives the handler's JSON; a field's ``alias`` (dataclass metadata, which
#: pydantic reads too) is its JSON name, and one marked ``OMIT_EMPTY`` is left out when None
#: or empty.


#: Field metadata: left out of the JSON when None or empty (pydantic ignores the key).
OMIT_EMPTY: Final = MappingProxyType({"omit_empty": True})


@dataclass(kw_only=True, slots=True)
class Fastest:
    """The succeeded variant with the shortest Batch duration."""

    name: str
    duration_seconds: float


@dataclass(kw_only=True, slots=True)
class Cheapest:
    """The succeeded variant with the lowest Batch cost."""

    name: str
    batch_usd: float


@dataclass(kw_only=True, slots=True)
class RepeatSpread:
    """How a repeated variant's jobs spread: their Batch durations and mean cost."""

    jobs: int
    succeeded: int
    duration_min_seconds: float | None  #: None when none succeeded.
    duration_median_seconds: float | None
    duration_max_seconds: float | None
    batch_usd_mean: float | None  #: Mean over the succeeded jobs.


@dataclass(kw_only=True, slots=True)
class RunSummary:
    """How the jobs did: one per variant, or one per repeat of a repeated variant (named
    ``<variant>#<repeat>``); fastest and cheapest are jobs."""

    variants_total: int  #: Jobs in all (a repeated variant counts each).
    variants_succeeded: int
    variants_failed: int
    failed_variants: list[str]
    fastest: Fastest | None  #: None when no variant succeeded.
    cheapest: Cheapest | None  #: None when no variant succeeded.
    #: Each repeated variant's spread, by its name (left out of the JSON when none repeats).
    repeats: dict[str, RepeatSpread] = field(default_factory=dict, metadata=OMIT_EMPTY)


def repeat_spreads(
    variants: Sequence[Variant], outcomes: Sequence[VariantSucceeded | VariantFailed]
) -> dict[str, RepeatSpread]:
    """The spread of every variant that repeats, from its jobs' outcomes."""
    by_key = {outcome.name: outcome for outcome in outcomes}
    spreads: dict[str, RepeatSpread] = {}
    for variant in variants:
        if variant.repeats == 1:
            continue
        jobs = [by_key.get(key) for _, _, _, key in each_job([variant])]
        done = [job for job in jobs if isinstance(job, VariantSucceeded)]
        durations = sorted(job.duration_seconds for job in done)
        spreads[variant.name] = RepeatSpread(
            jobs=variant.repeats,
            succeeded=len(done),
            duration_min_seconds=durations[0] if durations else None,
            duration_median_seconds=statistics.median(durations) if durations else None,
            duration_max_seconds=durations[-1] if durations else None,
            batch_usd_mean=statistics.fmean(j.cost.batch_usd for j in done) if done else None,
        )
    return spreads


@dataclass(kw_only=True, slots=True)
class CostBreakdown:
    """The run's estimated cost by service, USD."""

    batch: float
    stepfunctions: float
    lambda_: float = field(metadata={"alias": "lambda"})
    pipes: float
    dynamodb: float


#: How a usage figure was got: measured or counted from the histories; extrapolated when
#: only some of a large Distributed Map's children were read (runledger.usage); modelled.
Basis = Literal["measured", "modelled", "counted", "extrapolated"]


@dataclass(kw_only=True, slots=True)
class BatchUsage:
    """Fargate usage of the run's priced jobs (measured: Batch start/stop of every attempt)."""

    basis: Basis = "measured"
    jobs: int
    attempts: int
    billed_seconds: int
    vcpu_seconds: float
    gib_seconds: float


@dataclass(kw_only=True, slots=True)
class LambdaUsage:
    """Lambda usage: invocations x configured memory x billed seconds per invocation."""

    basis: Basis = "modelled"
    invocations: int
    memory_mb: int
    seconds_per_invocation: float
    gb_seconds: float
    arch: str


@dataclass(kw_only=True, slots=True)
class TransitionUsage:
    """Step Functions Standard state transitions."""

    basis: Basis
    transitions: int


@dataclass(kw_only=True, slots=True)
class PipesUsage:
    """EventBridge Pipes requests (events that passed the filter, per 64 KB chunk)."""

    basis: Basis = "modelled"
    requests: int


@dataclass(kw_only=True, slots=True)
class DynamoDBUsage:
    """DynamoDB on-demand write request units of the workflow's write-backs."""

    basis: Basis = "modelled"
    write_request_units: int


@dataclass(kw_only=True, slots=True)
class RunUsage:
    """What the run used, per service, as priced in ``RunCost.breakdown``."""

    batch: BatchUsage
    lambda_: LambdaUsage = field(metadata={"alias": "lambda"})
    stepfunctions: TransitionUsage
    pipes: PipesUsage
    dynamodb: DynamoDBUsage


@dataclass(kw_only=True, slots=True)
class RunCost:
    """The run's estimated cost: unit prices from runledger/prices.json times ``usage``."""

    currency: Literal["USD"] = "USD"
    total_usd: float
    breakdown: CostBreakdown
    #: Batch USD per variant whose job times are known: every succeeded variant, and
    #: failed ones whose Batch failure carried its attempts.
    by_variant: dict[str, float]
    #: Failed variants whose job times are unknown: if their job ran, its cost is missing
    #: from the estimate.
    unpriced_variants: list[str] = field(default_factory=list)
    usage: RunUsage
    price_region: str
    prices_as_of: str


@dataclass(kw_only=True, slots=True)
class SummarizeRunResult:
    """summarize_run's result; ``attributes`` holds summary and cost as DynamoDB JSON.

    ``error`` and ``cause`` belong to FAILED results only: a SUCCEEDED one has neither key.
    """

    status: Literal["SUCCEEDED", "FAILED"] = "SUCCEEDED"
    error: str | None = field(default=None, metadata=OMIT_EMPTY)  #: AllVariantsFailedError.
    cause: str | None = field(default=None, metadata=OMIT_EMPTY)  #: each variant and its error
    summary: RunSummary
    cost: RunCost
    attributes: dict[str, Any]


def json_value(value: Any) -> Any:
    """``value`` as the handler returns it: a result dataclass as a dict of its fields in
    order, each under its ``alias`` when it has one, without the empty ones marked
    ``OMIT_EMPTY``; dicts and lists member by member; anything else as is."""
    if isinstance(value, dict):
        return {key: json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_value(item) for item in value]
    if not dataclasses.is_dataclass(value):
        return value
    found: dict[str, Any] = {}
    for spec in dataclasses.fields(value):
        item = getattr(value, spec.name)
        if spec.metadata.get("omit_empty") and (item is None or item == {}):
            continue
        found[spec.metadata.get("alias", spec.name)] = json_value(item)
    return found


ALL_VARIANTS_FAILED = "AllVariantsFailedError"


def read_job_items(pk: str, table: str, dynamodb: Any = None) -> list[dict[str, Any]]:
    """The run's ``VARIANT#`` items (plain values), read consistently, every page."""
    from runledger.dynamo import from_dynamodb_json

    if dynamodb is None:
        from runledger.clients import client

        dynamodb = client("dynamodb")
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :variant)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":variant": {"S": "VARIANT#"}},
        ConsistentRead=True,
    )
    return [from_dynamodb_json(item) for page in pages for item in page["Items"]]


def recorded_outcomes(
    reported: Sequence[JobReported],
    items: Sequence[dict[str, Any]],
    execution: str | None,
) -> list[VariantOutcome]:
    """Each job's outcome: its ``VARIANT#`` item (plain values) that ``execution`` wrote,
    else what the Map reported (a failure that could not be recorded). A job reported
    SUCCEEDED whose item is missing is an error of the workflow, not of the job."""
    by_name = {str(item.get("name")): item for item in items}  # one VARIANT# item a job
    outcomes: list[VariantOutcome] = []
    for job in reported:
        item = by_name.get(job.name)
        owner = None if item is None else item.get("execution")
        if item is not None and execution is not None and owner != execution:
            if job.status == "SUCCEEDED":
                raise RunClaimedAgain(
                    f"job {job.name} succeeded, but its item is now that of execution "
                    f"{owner}: the run was claimed again while this execution ran"
                )
            item = None  # another claim's: not this execution's outcome
        if item is not None and item.get("status") == "SUCCEEDED":
            outcomes.append(VariantSucceeded.model_validate(item))
        elif item is not None:
            outcomes.append(VariantFailed.model_validate(item))
        elif job.status == "FAILED":
            outcomes.append(
                VariantFailed(name=job.name, status="FAILED", error=job.error, cause=job.cause)
            )
        else:
            raise VariantMismatchError(f"job {job.name} succeeded but its item is not there")
    return outcomes


class RunClaimedAgain(Exception):
    """A later claim of the run wrote over a job this execution recorded: this execution
    is stale, and its summary would not be the run's."""


class VariantMismatchError(ValueError):
    """The outcomes do not match the request's variants (a wiring bug, not a user error)."""


def failed_job_attempts(cause: str | None) -> list[AttemptTime] | None:
    """The attempts of a failed Batch job, from the cause Step Functions gave its failure.

    When ``batch:submitJob.sync`` fails, the cause is the job's description (JSON, with
    ``Attempts``). Any other cause (a Lambda error, a timeout, a description cut at the
    4000 characters the workflow keeps) says nothing of the job's times: None.
    """
    if not cause:
        return None
    try:
        job = json.loads(cause)
    except ValueError:
        return None
    if not isinstance(job, dict):
        return None
    attempts = job.get("Attempts", job.get("attempts"))
    if not isinstance(attempts, list):
        return None
    found: list[AttemptTime] = []
    for attempt in attempts:
        if not isinstance(attempt, dict):
            return None
        found.append(
            AttemptTime(
                started_at=_first(attempt, "StartedAt", "startedAt"),
                stopped_at=_first(attempt, "StoppedAt", "stoppedAt"),
            )
        )
    return found


def _first(mapping: dict[str, Any], *keys: str) -> Any:
    return next((mapping[key] for key in keys if mapping.get(key) is not None), None)


def _price_failed(variant: Variant, cause: str | None) -> pricing.BatchJobCost | None:
    attempts = failed_job_attempts(cause)
    if attempts is None:
        return None
    return pricing.batch_job_cost(
        variant.vcpus,
        variant.memory_mib,
        variant.capacity,
        [a.seconds for a in attempts if a.seconds is not None],
        arch=variant.architecture,
        instance_type=catalogue().options[variant.compute].instance_type,
    )


#: States a run still enters after SummarizeRun: the choice, then RecordResult; or
#: RecordRunFailed and RunFailed when every variant failed.
REMAINING_TRANSITIONS = {"SUCCEEDED": 2, "FAILED": 3}


def _history_basis(history: HistoryUsage | None, read: Basis) -> Basis:
    """``read`` when every history was read; extrapolated from some; modelled without."""
    if history is None:
        return "modelled"
    return "extrapolated" if history.extrapolated else read


def summarize_run(
    event: SummarizeRunEvent,
    lambda_memory_mb: int = pricing.DEFAULT_LAMBDA_MEMORY_MB,
    history: HistoryUsage | None = None,
) -> SummarizeRunResult:
    """Summarize and price a run from its variants' outcomes.

    Failed variants count in the summary. Their Batch cost is priced when their failure
    carries the job's attempts (a failed ``.sync`` job); otherwise they are listed in
    ``cost.unpriced_variants``. Ties for fastest and cheapest go to the variant listed
    first. ``history`` (the execution's usage so far, ``runledger.usage``) gives measured
    Lambda durations and counted transitions, completed with the states still ahead;
    without it those are modelled for every variant taking the full path, an upper
    bound for failed ones. Pipes and DynamoDB are orchestration.

    When no variant succeeded the result has status FAILED, error ``AllVariantsFailedError``
    and a cause listing each variant and its error, with no fastest or cheapest.

    Raises:
        VariantMismatchError: an outcome is missing, extra or repeated.
    """
    if event.jobs is not None:
        raise VariantMismatchError("outcomes as the Map reports them: read them first")
    outcomes = event.variants
    requested = jobs_of(event.request.variants)  # each variant's repeats, by job key
    reported = [outcome.name for outcome in outcomes]
    if sorted(requested) != sorted(reported):
        raise VariantMismatchError(
            f"request has jobs {list(requested)}, outcomes are for {reported}"
        )

    succeeded = [o for o in outcomes if isinstance(o, VariantSucceeded)]
    failed = [o for o in outcomes if isinstance(o, VariantFailed)]
    fastest: Fastest | None = None
    cheapest: Cheapest | None = None
    if succeeded:
        quick = min(succeeded, key=lambda o: o.duration_seconds)
        cheap = min(succeeded, key=lambda o: o.cost.batch_usd)
        fastest = Fastest(name=quick.name, duration_seconds=quick.duration_seconds)
        cheapest = Cheapest(name=cheap.name, batch_usd=cheap.cost.batch_usd)
    summary = RunSummary(
        variants_total=len(outcomes),
        variants_succeeded=len(succeeded),
        variants_failed=len(failed),
        failed_variants=[o.name for o in failed],
        fastest=fastest,
        cheapest=cheapest,
        repeats=repeat_spreads(event.request.variants, outcomes),
    )

    by_variant: dict[str, float] = {}
    unpriced: list[str] = []
    # A float field holds a float, as pydantic's coercion made it: 0.0, not 0, in the JSON
    # and in DynamoDB (a job none of whose attempts ran costs 0; an int vCPU count gives
    # int seconds).
    batch = BatchUsage(jobs=0, attempts=0, billed_seconds=0, vcpu_seconds=0.0, gib_seconds=0.0)
    for outcome in outcomes:
        if isinstance(outcome, VariantSucceeded):
            job = outcome.cost
            usd, attempts, billed = job.batch_usd, job.attempts_billed, job.billed_seconds
            vcpu_seconds, gib_seconds = job.vcpu_seconds, job.gib_seconds
        else:
            priced = _price_failed(requested[outcome.name], outcome.cause)
            if priced is None:
                unpriced.append(outcome.name)
                continue
            usd, attempts, billed = priced.usd, priced.attempts, priced.billed_seconds
            vcpu_seconds, gib_seconds = priced.vcpu_seconds, priced.gib_seconds
        by_variant[outcome.name] = float(usd)
        batch.jobs += 1
        batch.attempts += attempts
        batch.billed_seconds += billed
        batch.vcpu_seconds += vcpu_seconds
        batch.gib_seconds += gib_seconds

    transitions = event.transitions_estimate
    if transitions is None and history is not None:
        transitions = (
            history.transitions + REMAINING_TRANSITIONS["SUCCEEDED" if succeeded else "FAILED"]
        )
    estimate = pricing.estimate_run_cost(
        batch_usd=sum(by_variant.values(), 0.0),
        n_variants=len(outcomes),
        transitions=transitions,
        lambda_memory_mb=lambda_memory_mb,
        all_failed=not succeeded,
        lambda_seconds=None if history is None else history.lambda_seconds,
    )
    orchestration = estimate.usage  # modelled, or measured from the history
    book = pricing.price_book()
    cost = RunCost(
        total_usd=estimate.total,
        breakdown=CostBreakdown(
            batch=estimate.batch,
            stepfunctions=estimate.stepfunctions,
            lambda_=estimate.lambda_,
            pipes=estimate.pipes,
            dynamodb=estimate.dynamodb,
        ),
        by_variant=by_variant,
        unpriced_variants=unpriced,
        usage=RunUsage(
            batch=batch,
            lambda_=LambdaUsage(
                basis=_history_basis(history, "measured"),
                invocations=orchestration.lambda_invocations,
                memory_mb=orchestration.lambda_memory_mb,
                seconds_per_invocation=orchestration.lambda_seconds_per_invocation,
                gb_seconds=orchestration.lambda_gb_seconds,
                arch=orchestration.lambda_arch,
            ),
            stepfunctions=TransitionUsage(
                basis="counted"
                if event.transitions_estimate is not None
                else _history_basis(history, "counted"),
                transitions=orchestration.transitions,
            ),
            pipes=PipesUsage(requests=orchestration.pipes_requests),
            dynamodb=DynamoDBUsage(write_request_units=orchestration.dynamodb_write_request_units),
        ),
        price_region=book.region,
        prices_as_of=book.as_of,
    )
    logger.info(
        "run summarized",
        extra={
            "run_id": event.run_id,
            "variants_succeeded": summary.variants_succeeded,
            "variants_failed": summary.variants_failed,
            "unpriced_variants": unpriced,
            "total_usd": cost.total_usd,
        },
    )
    failure: dict[str, Any] = {}
    if not succeeded:
        details = ", ".join(f"{o.name} ({o.error or 'unknown error'})" for o in failed)
        failure = {
            "status": "FAILED",
            "error": ALL_VARIANTS_FAILED,
            "cause": f"all {len(failed)} variants failed: {details}",
        }
    return SummarizeRunResult(
        **failure,
        summary=summary,
        cost=cost,
        attributes={
            "summary": to_attribute_value(json_value(summary)),
            "cost": to_attribute_value(json_value(cost)),
        },
    )
