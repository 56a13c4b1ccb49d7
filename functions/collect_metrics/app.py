"""CollectMetrics: read what a finished Batch job measured, price the job, record it.

Event (from the CollectMetrics state)::

    {"run_id": "kmer-2026-11-23-001",
     "name": "od-2vcpu",  # the job's key: <variant>#<repeat> for a repeated variant
     "variant": {"name": "od-2vcpu", "vcpus": 2, "memory_mib": 4096,
                 "capacity": "ON_DEMAND", "timeout_seconds": 3600},
     "repeat": 1,
     "results_uri": "s3://bucket/runs/kmer-2026-11-23-001/od-2vcpu/metrics.json",
     "job": {"job_id": "...", "status": "SUCCEEDED", "started_at": 1763884800000,
             "stopped_at": 1763884925000, "attempts": 1,
             "attempt_times": [{"started_at": 1763884800000, "stopped_at": 1763884925000}]},
     "run": {"pk": "RUN#kmer-2026-11-23-001", "execution": "arn:...:execution:...",
             "attempt": "1", "claimed_at": "2026-11-23T08:00:00.000Z"}}

``results_uri`` may also be ``file:///path`` or a plain path (the local cloud). Times are
epoch milliseconds. Every attempt in ``attempt_times`` is priced as one Fargate task
(without it, the job's own start and stop are the one attempt).

Returns ``{"name", "status": "SUCCEEDED", "capacity", "vcpus", "memory_mib", "job_id",
"attempts", "duration_seconds", "metrics": {...the job's metrics.json...}, "cost":
{"batch_usd", "attempts_billed", "billed_seconds", "vcpu_seconds", "gib_seconds"},
"attributes": {...}}`` where ``attributes`` is the VARIANT# item without pk/sk in DynamoDB
JSON (status, capacity, vcpus, memory_mib, job_id, attempts, duration_seconds, started_at,
stopped_at, attempt_times, metrics, cost).

With ``run`` (the workflow always sends it) the function also writes the job's item
``VARIANT#<name>`` (``RUNS_TABLE_NAME``: the attributes above, the claim, ``recorded_at``,
and ``variant``/``repeat`` for a repeated variant), refused when a later claim of the run
wrote it (``runledger.results.record_job``). One Lambda step rather than a Lambda and a
DynamoDB task: in a Distributed Map each child's start is a billed transition too, and
this keeps a job at 3.

Raises MetricsNotFoundError when the metrics file is missing or unreadable,
JobNotSucceededError for a job that did not succeed, ItemOwnedByLaterClaim when a later
claim owns the item: the workflow's Catch records the job FAILED (or, for the last,
reports it not recorded). Metric: BatchCostUSD (None unit; USD of this job).
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from runledger.results import CollectMetricsEvent, collect_metrics, record_job

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
@event_parser(model=CollectMetricsEvent)
def lambda_handler(event: CollectMetricsEvent, context: LambdaContext) -> dict[str, Any]:
    result = collect_metrics(event)
    if event.run is not None:
        from runledger.clients import client

        record_job(client("dynamodb"), os.environ["RUNS_TABLE_NAME"], event, result)
    metrics.add_metric(name="BatchCostUSD", unit=MetricUnit.NoUnit, value=result.cost.batch_usd)
    return result.model_dump(mode="json")
