"""ValidateRequest: is this request item runnable? An invalid request is an answer, not an error.

Event (from the ValidateRequest state)::

    {"pk": "RUN#kmer-2026-11-23-001", "limits": {"run_timeout_seconds": 43200, ...}}

The function reads the claimed REQUEST item (``RUNS_TABLE_NAME``, a consistent GetItem):
the workflow's input carries only the key, as an item may be larger than an execution's
input may be. To try it alone (``sam local invoke -e events/validate_request.json``), the
event may carry the item itself as ``"image"`` (DynamoDB JSON); nothing is read then.

Returns ``{"valid": true, "request": {run_id, workflow, cost_center, input, variants:
[{name, vcpus, memory_mib, capacity, timeout_seconds}]}, "reason": null, "attempt": n}``
or ``{"valid": false, "request": null, "reason": "<one line per problem, <= 1000 chars>",
"attempt": n}``; ``attempt`` numbers this claim (the item's attempt + 1, or 1).

An input outside ``INPUT_LOCATIONS`` (the URI prefixes the job's role may read) makes the
request invalid. Never raises for anything the item holds (the event must be a JSON
object). Metrics: ValidRequests / InvalidRequests (Count).
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from runledger.validation import (
    GONE_REASON,
    ValidateRequestEvent,
    ValidationResult,
    read_request_item,
    validate_request,
)

logger = Logger()
metrics = Metrics()

#: Where the job may read inputs (space-separated URI prefixes; template.yaml builds it
#: from the job role's S3 read grants). Unset: not checked.
_locations = os.environ.get("INPUT_LOCATIONS")
INPUT_LOCATIONS = None if _locations is None else _locations.split()


def _validate(event: ValidateRequestEvent) -> ValidationResult:
    """The event's item, read from the table unless the event carries it, validated."""
    image = event.image
    if image is None and isinstance(event.pk, str):
        image = read_request_item(event.pk, os.environ["RUNS_TABLE_NAME"])
        if image is None:
            return ValidationResult(valid=False, request=None, reason=GONE_REASON)
    return validate_request(event.pk, image, INPUT_LOCATIONS, event.limits)


@logger.inject_lambda_context
@metrics.log_metrics
@event_parser(model=ValidateRequestEvent)
def lambda_handler(event: ValidateRequestEvent, context: LambdaContext) -> dict[str, Any]:
    result = _validate(event)
    metric = "ValidRequests" if result.valid else "InvalidRequests"
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json")
