"""Collect a finished variant: read the metrics its Batch job wrote and price the job.

``collect_metrics`` returns the variant's result and its VARIANT# item (DynamoDB JSON).
It raises on real failures (no metrics, a job that did not succeed) so Step Functions'
Catch records the variant FAILED.
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


class CollectMetricsEvent(StepEvent):
    """collect_metrics' event: the job's key, its variant, where its metrics are, and its
    finished job. ``name`` is the job's key (``<variant>#<repeat>`` for a repeated
    variant); without it, the variant's name."""

    run_id: RunId
    name: str | None = None
    variant: Variant
    results_uri: str
    job: BatchJob


class MetricsNotFoundError(Exception):
    """The job's metrics file is missing, unreadable, or not a JSON object."""


class JobNotSucceededError(Exception):
    """collect_metrics was given a job whose status is not SUCCEEDED."""


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
