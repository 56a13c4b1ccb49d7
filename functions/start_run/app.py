"""StartRun: claim the run, validate its request, mark it RUNNING or INVALID.

Event (from the StartRun state)::

    {"pk": "RUN#kmer-2026-11-23-001", "execution": "arn:aws:states:...:execution:...",
     "claimed_at": "2026-11-23T08:00:00.000Z", "limits": {"run_timeout_seconds": 43200, ...}}

The function claims the REQUEST item (``RUNS_TABLE_NAME``; a conditional UpdateItem that
returns the item as claimed), validates it and writes it RUNNING, or INVALID with the
reason (runledger.starting). To try it alone (``sam local invoke -e
events/start_run.json``), the event may carry the item itself as ``"image"`` (DynamoDB
JSON): nothing is read or written then.

Returns ``{"request": {run_id, workflow, cost_center, input, variants: [{name, vcpus,
memory_mib, capacity, timeout_seconds, repeats}]}, "attempt": n, "run": {pk, run_id,
execution, attempt, claimed_at, workflow, cost_center, job_name_prefix, results_prefix,
environment}, "jobs": [{variant (its index), repeat, key}]}``. Raises ``RequestInvalid``
(reason as its message) for a request that cannot run and ``AlreadyClaimed`` for an
item that is not REQUESTED (the state machine catches both by name and ends the
execution as a success), ``ClaimLost`` when a re-request took the run first (an error
like any other: the execution fails).

An input outside ``INPUT_LOCATIONS`` (the URI prefixes the job's role may read) makes the
request invalid. Environment: RUNS_TABLE_NAME, RESULTS_BUCKET (a bucket name; the local
cloud may give file:///dir or a path), INPUT_LOCATIONS. Metrics (Count): ValidRequests,
InvalidRequests, DuplicateDeliveries (AlreadyClaimed), ClaimsLost.
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from runledger.starting import AlreadyClaimed, ClaimLost, RequestInvalid, StartRunEvent, start_run

logger = Logger()
metrics = Metrics()

#: Where the job may read inputs (space-separated URI prefixes; template.yaml builds it
#: from the job role's S3 read grants). Unset: not checked.
_locations = os.environ.get("INPUT_LOCATIONS")
INPUT_LOCATIONS = None if _locations is None else _locations.split()


#: The metric each outcome other than a run started counts in.
_OUTCOME_METRICS: dict[type[Exception], str] = {
    RequestInvalid: "InvalidRequests",
    AlreadyClaimed: "DuplicateDeliveries",
    ClaimLost: "ClaimsLost",
}


@logger.inject_lambda_context
@metrics.log_metrics
@event_parser(model=StartRunEvent)
def lambda_handler(event: StartRunEvent, context: LambdaContext) -> dict[str, Any]:
    try:
        started = start_run(
            event,
            table=os.environ.get("RUNS_TABLE_NAME"),
            results=os.environ["RESULTS_BUCKET"],
            input_locations=INPUT_LOCATIONS,
        )
    except tuple(_OUTCOME_METRICS) as outcome:
        metrics.add_metric(name=_OUTCOME_METRICS[type(outcome)], unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="ValidRequests", unit=MetricUnit.Count, value=1)
    return started.model_dump(mode="json")
