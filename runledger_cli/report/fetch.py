"""What a run's page is made of, read with ordinary boto3 clients (AWS or any endpoint).

* the run as the runs table holds it (runledger_cli.ledger): the ``REQUEST`` item (status,
  summary, cost, error) and the ``VARIANT#<name>`` items (each variant's result and cost);
* the run's execution (its ARN is on the request item): ``DescribeExecution``,
  ``GetExecutionHistory`` (every page) and ``DescribeStateMachineForExecution`` (the
  definition that ran).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from runledger.usage import execution_history
from runledger_cli.graph import load_definition
from runledger_cli.ledger import RunRecord, read_run


@dataclass
class RunData:
    """Everything the page shows: the run as the table holds it, and its execution."""

    record: RunRecord
    definition: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    execution: dict[str, Any] = field(default_factory=dict)
    table: str = ""

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def request(self) -> dict[str, Any]:
        return self.record.request

    @property
    def variants(self) -> dict[str, dict[str, Any]]:
        return self.record.variants


def fetch_run(run_id: str, *, dynamodb: Any, stepfunctions: Any, table: str) -> RunData:
    """Read one run from the table and its execution from Step Functions.

    Raises:
        LedgerError: no such table or run.
    """
    data = RunData(read_run(dynamodb, table, run_id), definition={}, table=table)
    execution_arn = data.request.get("execution")
    if execution_arn:
        data.execution = stepfunctions.describe_execution(executionArn=execution_arn)
        data.events = execution_history(stepfunctions, execution_arn)
        machine = stepfunctions.describe_state_machine_for_execution(executionArn=execution_arn)
        data.definition = json.loads(machine["definition"])
    else:  # not claimed yet: draw the workflow as deployed here, nothing entered
        data.definition = load_definition()
    return data
