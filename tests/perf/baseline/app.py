"""The yardstick of tests/perf/test_cold_import.py: a bare Powertools handler.

Logger, Metrics and the parser's ``event_parser`` with a small pydantic model, as
Powertools' examples write them, and nothing else: what any handler on this layer pays.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

logger = Logger()
metrics = Metrics()


class Order(BaseModel):
    order_id: str = Field(min_length=1)
    quantity: int = Field(ge=1)


@logger.inject_lambda_context
@metrics.log_metrics
@event_parser(model=Order)
def lambda_handler(event: Order, context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="Orders", unit=MetricUnit.Count, value=1)
    return event.model_dump(mode="json")
