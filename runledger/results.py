"""Collect a finished job: read the metrics its Batch job wrote, price it, record it.

``collect_metrics`` returns the job's result and its VARIANT# item (DynamoDB JSON);
``record_job`` writes that item for the run's claim. They raise on real failures (no
metrics, a job that did not succeed, an item a later claim owns) so Step Functions' Catch
records the job FAILED.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, model_validator

from runledger import pricing
from runledger.compute import catalogue
from runledger.dynamo import to_dynamodb_json
from runledger.models import (
    AttemptTime,
    RunId,
    StepEvent,
    Variant,
    VariantCost,
    VariantSucceeded,
    compact_number,
)
from runledger.storage import LocationError, ObjectNotFoundError, read_bytes

logger = Logger(child=True)


class BatchJob(BaseModel):
    """The finished Batch job as RunJob reports it (times in epoch milliseconds).

    ``started_at``/``stopped_at`` are the job's (its last attempt's); ``attempt_times``
    has every attempt's, from the ``.sync`` result's ``Attempts``.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    job_id: str
    status: str
    started_at: int = Field(ge=0)
    stopped_at: int = Field(ge=0)
    attempts: int = Field(default=1, ge=0)
    attempt_times: list[AttemptTime] = Field(default_factory=list)

    @model_validator(mode="after")
    def _stops_after_it_starts(self) -> BatchJob:
        if self.stopped_at < self.started_at:
            raise ValueError(
                f"stopped_at ({self.stopped_at}) is before started_at ({self.started_at})"
            )
        return self

    def billed_attempts(self) -> list[AttemptTime]:
        """The attempts to price: ``attempt_times`` when RunJob sent them, else the job's times."""
        if self.attempt_times:
            return list(self.attempt_times)
        return [AttemptTime(started_at=self.started_at, stopped_at=self.stopped_at)]


class JobClaim(BaseModel):
    """The claim a job's item belongs to: the run's key and the execution that claimed it
    (StartRun's ``run``; other keys ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    pk: str
    execution: str
    attempt: str = Field(pattern=r"^[1-9][0-9]*$")
    claimed_at: str


class CollectMetricsEvent(StepEvent):
    """collect_metrics' event: the job's key, its variant and repeat, where its metrics
    are, its finished job, and the claim to record it for. ``name`` is the job's key
    (``<variant>#<repeat>`` for a repeated variant); without it, the variant's name.
    Without ``run`` (the function tried alone) nothing is written."""

    run_id: RunId
    name: str | None = None
    variant: Variant
    repeat: int = Field(default=1, ge=1)
    results_uri: str
    job: BatchJob
    run: JobClaim | None = None


class MetricsNotFoundError(Exception):
    """The job's metrics file is missing, unreadable, or not a JSON object."""


class JobNotSucceededError(Exception):
    """collect_metrics was given a job whose status is not SUCCEEDED."""


class ItemOwnedByLaterClaim(Exception):
    """The job's VARIANT# item was written by a later claim of the run: a stale execution
    never overwrites a newer attempt's job."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number DynamoDB can store")


def read_metrics(uri: str) -> dict[str, Any]:
    """The JSON object a job wrote at ``uri`` (``s3://``; in the local cloud, a local file).

    Raises:
        MetricsNotFoundError: missing, access denied, malformed URI, not JSON, NaN or
            Infinity inside, or not a JSON object.
    """
    try:
        body = read_bytes(uri)
    except (ObjectNotFoundError, LocationError) as exc:
        raise MetricsNotFoundError(f"no metrics at {uri}: {exc}") from exc
    try:
        metrics = json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MetricsNotFoundError(f"metrics at {uri} are not valid JSON: {exc}") from exc
    if not isinstance(metrics, dict):
        raise MetricsNotFoundError(
            f"metrics at {uri} must be a JSON object, got {type(metrics).__name__}"
        )
    return metrics


def collect_metrics(event: CollectMetricsEvent) -> VariantSucceeded:
    """Read a finished variant's metrics and price its job.

    Every attempt is priced (``job.billed_attempts()``): a job retried after a Spot reclaim
    ran, and was billed, once per attempt. ``duration_seconds`` is the last attempt's.
    The result's ``attributes`` is the VARIANT# item (without pk/sk) in DynamoDB JSON; it
    records ``attempt_times``, the usage behind ``cost``.

    Raises:
        JobNotSucceededError: the job did not succeed.
        MetricsNotFoundError: see ``read_metrics``.
    """
    variant, job = event.variant, event.job
    if job.status != "SUCCEEDED":
        raise JobNotSucceededError(f"job {job.job_id} ended {job.status}, not SUCCEEDED")
    metrics = read_metrics(event.results_uri)
    duration_seconds = (job.stopped_at - job.started_at) / 1000
    attempts = job.billed_attempts()
    priced = pricing.batch_job_cost(
        variant.vcpus,
        variant.memory_mib,
        variant.capacity,
        [a.seconds for a in attempts if a.seconds is not None],
        arch=variant.architecture,
        instance_type=catalogue().options[variant.compute].instance_type,
    )
    cost = VariantCost(
        batch_usd=priced.usd,
        attempts_billed=priced.attempts,
        billed_seconds=priced.billed_seconds,
        vcpu_seconds=priced.vcpu_seconds,
        gib_seconds=priced.gib_seconds,
    )
    attributes = to_dynamodb_json(
        {
            "status": "SUCCEEDED",
            "capacity": variant.capacity,
            "compute": variant.compute,
            "architecture": variant.architecture,
            "vcpus": compact_number(variant.vcpus),
            "memory_mib": variant.memory_mib,
            "job_id": job.job_id,
            "attempts": job.attempts,
            "duration_seconds": duration_seconds,
            "started_at": job.started_at,
            "stopped_at": job.stopped_at,
            "attempt_times": [a.model_dump(exclude_none=True) for a in attempts],
            "metrics": metrics,
            "cost": cost.model_dump(),
        }
    )
    logger.info(
        "variant collected",
        extra={
            "run_id": event.run_id,
            "variant": event.name or variant.name,
            "duration_seconds": duration_seconds,
            "attempts_billed": priced.attempts,
            "batch_usd": priced.usd,
        },
    )
    return VariantSucceeded(
        name=event.name or variant.name,
        capacity=variant.capacity,
        vcpus=variant.vcpus,
        memory_mib=variant.memory_mib,
        job_id=job.job_id,
        attempts=job.attempts,
        duration_seconds=duration_seconds,
        metrics=metrics,
        cost=cost,
        attributes=attributes,
    )


def record_job(
    dynamodb: Any, table: str, event: CollectMetricsEvent, result: VariantSucceeded
) -> dict[str, Any]:
    """Write the job's ``VARIANT#<key>`` item for ``event.run``'s claim; return it.

    The item is ``result.attributes`` with the key, the job's name, the claim (execution,
    attempt, claimed_at) and ``recorded_at``, and, for a variant that repeats, ``variant``
    and ``repeat``. Refused when a later claim of the run wrote it (``claimed_at`` greater
    than this one's); the same claim may write it again (a retried invocation).

    Raises:
        ItemOwnedByLaterClaim: a later claim owns the item.
    """
    from runledger.times import workflow_time

    claim = event.run
    if claim is None:
        raise ValueError("record_job needs the run's claim (event.run)")
    item: dict[str, Any] = {
        **(result.attributes or {}),
        "pk": {"S": claim.pk},
        "sk": {"S": f"VARIANT#{result.name}"},
        "name": {"S": result.name},
        "execution": {"S": claim.execution},
        "attempt": {"N": claim.attempt},
        "claimed_at": {"S": claim.claimed_at},
        "recorded_at": {"S": workflow_time()},
    }
    if event.variant.repeats > 1:
        item["variant"] = {"S": event.variant.name}
        item["repeat"] = {"N": str(event.repeat)}
    try:
        dynamodb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(claimed_at) OR claimed_at <= :claimed_at",
            ExpressionAttributeValues={":claimed_at": {"S": claim.claimed_at}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise ItemOwnedByLaterClaim(
            f"{claim.pk} VARIANT#{result.name}: a later claim of the run wrote it"
        ) from None
    return item
