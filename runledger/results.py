"""Collect a finished variant: read the metrics its Batch job wrote and price the job.

``collect_metrics`` returns the variant's result and its VARIANT# item (DynamoDB JSON).
It raises on real failures (no metrics, a job that did not succeed) so Step Functions'
Catch records the variant FAILED.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from runledger import pricing
from runledger.dynamo import to_dynamodb_json
from runledger.models import (
    CollectMetricsEvent,
    VariantCost,
    VariantSucceeded,
    compact_number,
)
from runledger.storage import LocationError, ObjectNotFoundError, read_bytes

logger = Logger(child=True)


class MetricsNotFoundError(Exception):
    """The job's metrics file is missing, unreadable, or not a JSON object."""


class JobNotSucceededError(Exception):
    """collect_metrics was given a job whose status is not SUCCEEDED."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number DynamoDB can store")


def read_metrics(uri: str) -> dict[str, Any]:
    """The JSON object a job wrote at ``uri`` (``s3://``, ``file://`` or a path).

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
            "variant": variant.name,
            "duration_seconds": duration_seconds,
            "attempts_billed": priced.attempts,
            "batch_usd": priced.usd,
        },
    )
    return VariantSucceeded(
        name=variant.name,
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
