"""CloseRun: a run workflow execution FAILED, TIMED_OUT or ABORTED; close its run if still open.

Event: the EventBridge "Step Functions Execution Status Change" event of the run
workflow, passed by the template's rule for those three statuses (shape in
runledger/closing.py). Writes the REQUEST item FAILED with an error and a cause, only if
this execution still owns the run and left it CLAIMED or RUNNING, or never claimed it
and nobody has since (its claim, in StartRun, failed for good). An execution that lost
its run (re-run, or its REQUEST item deleted) has the VARIANT# items it wrote deleted.

Returns ``{"execution", "status", "outcome", "pk", "error", "cause", "reason",
"removed_variants"}``, outcome
``closed``, ``already_final`` (the condition was refused: the workflow recorded the end
itself, or a newer execution owns the run), ``not_a_run`` (the input has no pk) or
``ignored`` (any other status). Raises on service errors, so EventBridge retries the
invoke and then dead-letters it. Metrics: RunsClosed, RunsAlreadyFinal,
ExecutionsWithoutRun, StaleVariantsRemoved (Count).
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from runledger.closing import ExecutionStatusChangeEvent, close_run

logger = Logger()
metrics = Metrics()

METRICS = {
    "closed": "RunsClosed",
    "already_final": "RunsAlreadyFinal",
    "not_a_run": "ExecutionsWithoutRun",
}


@logger.inject_lambda_context
@metrics.log_metrics
@event_parser(model=ExecutionStatusChangeEvent)
def lambda_handler(event: ExecutionStatusChangeEvent, context: LambdaContext) -> dict[str, Any]:
    result = close_run(event.detail, table_name=os.environ["RUNS_TABLE_NAME"])
    if result.outcome in METRICS:
        metrics.add_metric(name=METRICS[result.outcome], unit=MetricUnit.Count, value=1)
    if result.removed_variants:
        metrics.add_metric(
            name="StaleVariantsRemoved", unit=MetricUnit.Count, value=result.removed_variants
        )
    return result.model_dump(mode="json")
