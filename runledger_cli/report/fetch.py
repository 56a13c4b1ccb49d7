"""What a run's page is made of, read with ordinary boto3 clients (AWS or any endpoint).

* the run as the runs table holds it (runledger_cli.ledger): the ``REQUEST`` item (status,
  summary, cost, error) and the ``VARIANT#<name>`` items (each variant's result and cost);
* the run's execution (its ARN is on the request item): ``DescribeExecution``,
  ``GetExecutionHistory`` (every page) and ``DescribeStateMachineForExecution`` (the
  definition that ran);
* the child executions its Distributed Map started, one per job (RunVariants): listed
  with ``ListMapRuns`` and ``ListExecutions(mapRunArn=...)`` (runledger.usage
  ``child_executions``), each with its whole history. A job's states (RunJob, its Batch
  job's ``.sync`` result, CollectMetrics, the Catches) are in its child's history, not
  the run's.

Every child is read, never a sample, one after the other: a run holds at most 1,000 jobs
(StartRun refuses more), so the fetch is bounded at one ``GetExecutionHistory`` call (a
child's few events are one page, more with many retries) per job. A run of more than
``PROGRESS_FROM`` children says how far it got on stderr (or the ``progress`` stream
given) every ``PROGRESS_EVERY`` children: against AWS, GetExecutionHistory's default
quota (a bucket of 400 calls refilled at 20 a second; botocore retries a throttled call)
paces 1,000 children at about a minute.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from runledger.usage import child_executions, execution_history
from runledger_cli.graph import load_definition
from runledger_cli.ledger import RunRecord, read_run

#: Runs with more children than this report their progress while the histories are read.
PROGRESS_FROM = 50
#: A progress line every this many children read.
PROGRESS_EVERY = 100


@dataclass
class ChildRun:
    """One child workflow execution of a Distributed Map (a job of RunVariants): its
    listing (ListExecutions) and its history."""

    arn: str
    map_run_arn: str
    status: str
    started: dt.datetime | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def input(self) -> Any:
        """The child's input (the Map's item as the ItemSelector made it), or None."""
        details = (self.events[0] if self.events else {}).get("executionStartedEventDetails")
        try:
            return json.loads(str((details or {}).get("input", "")))
        except ValueError:
            return None


@dataclass
class RunData:
    """Everything the page shows: the run as the table holds it, and its execution (with
    the child executions of its Distributed Map)."""

    record: RunRecord
    definition: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    execution: dict[str, Any] = field(default_factory=dict)
    table: str = ""
    children: list[ChildRun] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def request(self) -> dict[str, Any]:
        return self.record.request

    @property
    def variants(self) -> dict[str, dict[str, Any]]:
        return self.record.variants


def fetch_run(
    run_id: str,
    *,
    dynamodb: Any,
    stepfunctions: Any,
    table: str,
    progress: TextIO | None = None,
) -> RunData:
    """Read one run from the table, its execution from Step Functions, and every child
    execution its Distributed Map started (progress on ``progress``, default stderr, for
    more than ``PROGRESS_FROM`` children).

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
        if any(event["type"] == "MapRunStarted" for event in data.events):
            stream = sys.stderr if progress is None else progress
            data.children = fetch_children(stepfunctions, execution_arn, progress=stream)
    else:  # not claimed yet: draw the workflow as deployed here, nothing entered
        data.definition = load_definition()
    return data


def fetch_children(stepfunctions: Any, execution_arn: str, *, progress: TextIO) -> list[ChildRun]:
    """Every child execution of ``execution_arn``'s Distributed Maps, oldest first, each
    with its history."""
    listed = sorted(
        child_executions(stepfunctions, execution_arn),
        key=lambda c: c.get("startDate") or dt.datetime.max.replace(tzinfo=dt.UTC),
    )
    total = len(listed)
    loud = total > PROGRESS_FROM
    if loud:
        print(f"reading the histories of {total} child executions ...", file=progress, flush=True)
    children = []
    for n, listing in enumerate(listed, start=1):
        children.append(
            ChildRun(
                arn=str(listing["executionArn"]),
                map_run_arn=str(listing.get("mapRunArn", "")),
                status=str(listing.get("status", "")),
                started=listing.get("startDate"),
                events=execution_history(stepfunctions, listing["executionArn"]),
            )
        )
        if loud and (n % PROGRESS_EVERY == 0 or n == total):
            print(f"  {n}/{total} child executions read", file=progress, flush=True)
    return children
