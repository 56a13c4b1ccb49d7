"""SummarizeRun: compare a run's variants (fastest, cheapest) and estimate its cost.

Event (from the SummarizeRun state)::

    {"run_id": "kmer-2026-11-23-001",
     "request": {...as StartRun returned it...},
     "jobs": [{"name": "od-1vcpu", "status": "SUCCEEDED"},   # what each child reported
              {"name": "spot-2vcpu", "status": "FAILED", "error": "..."}],
     "pk": "RUN#kmer-2026-11-23-001",       # with "jobs": where their VARIANT# items are
     "execution": "arn:aws:states:...:execution:...",  # optional: measure from its history
     "transitions_estimate": 14}            # optional; default 5 + 3 * len(variants)

The outcomes are then the items ``execution`` wrote (RUNS_TABLE_NAME, dynamodb:Query); a
job with none is taken as the Map reported it (a failure that could not be recorded).
Instead of "jobs" the event may give the outcomes in full (events/summarize_run.json):
``"variants": [<CollectMetrics' result>, {"name", "status": "FAILED", "error", "cause"}]``.

Returns::

    {"status": "SUCCEEDED",                 # or "FAILED", with "error" and "cause"
     "summary": {"variants_total", "variants_succeeded", "variants_failed",
                 "failed_variants": [...], "fastest": {"name", "duration_seconds"},
                 "cheapest": {"name", "batch_usd"}},
     "cost": {"currency": "USD", "total_usd",
              "breakdown": {"batch", "stepfunctions", "lambda", "pipes", "dynamodb"},
              "by_variant": {name: usd}, "unpriced_variants": [name, ...],
              "usage": {"batch": {"basis": "measured", "jobs", "attempts",
                                  "billed_seconds", "vcpu_seconds", "gib_seconds"},
                        "lambda": {"basis": "measured", "invocations", "memory_mb",
                                   "seconds_per_invocation", "gb_seconds", "arch"},
                        "stepfunctions": {"basis", "transitions"},
                        "pipes": {"basis", "requests"},
                        "dynamodb": {"basis", "write_request_units"}},
              "price_region": "us-east-1", "prices_as_of": "..."},
     "attributes": {"summary": {"M": ...}, "cost": {"M": ...}}}

With "execution", the execution's history and its Distributed Map's children's
(states:GetExecutionHistory, ListMapRuns, ListExecutions) give the Lambda invocations
with their measured durations and the counted state transitions (runledger/usage.py);
without it, or if the history cannot be read (logged), both are modelled. Each breakdown
entry is its ``usage`` times the unit prices in runledger/prices.json. A failed variant
is priced from the Batch job description in its ``cause`` when there is one, else named
in ``unpriced_variants``. Lambda cost assumes every runledger function has this
function's memory size (the template gives them all the same). When no variant succeeded
the status is FAILED, with "error": "AllVariantsFailedError" and a "cause" naming each
variant's error, and no fastest or cheapest; the run is priced all the same (its jobs
ran) and recorded FAILED.
Metrics: RunCostUSD (None unit), VariantsFailed (Count).
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from runledger.summary import (
    SummarizeRunEvent,
    json_value,
    read_job_items,
    recorded_outcomes,
    summarize_run,
)
from runledger.usage import read_usage

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
@event_parser(model=SummarizeRunEvent)
def lambda_handler(event: SummarizeRunEvent, context: LambdaContext) -> dict[str, Any]:
    if event.jobs is not None:
        if event.pk is None:
            raise ValueError("the Map's job reports come without the run's key (pk)")
        items = read_job_items(event.pk, os.environ["RUNS_TABLE_NAME"])
        outcomes = recorded_outcomes(event.jobs, items, event.execution)
        event = event.model_copy(update={"variants": outcomes, "jobs": None})
    history = read_usage(event.execution) if event.execution else None
    result = summarize_run(event, lambda_memory_mb=int(context.memory_limit_in_mb), history=history)
    metrics.add_metric(name="RunCostUSD", unit=MetricUnit.NoUnit, value=result.cost.total_usd)
    metrics.add_metric(
        name="VariantsFailed", unit=MetricUnit.Count, value=result.summary.variants_failed
    )
    return json_value(result)
