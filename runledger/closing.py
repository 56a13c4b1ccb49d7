"""CloseRun: end a run whose execution stopped where the workflow could not record it.

An execution that hits the state machine's ``TimeoutSeconds``, is stopped
(``StopExecution``, the console) or fails outside every ``Catch`` runs no state of its
own at the end, so its REQUEST item would stay ``CLAIMED`` or ``RUNNING``. Step Functions
sends an EventBridge event for every status change of a Standard workflow's execution;
the template's rule passes the ``FAILED``, ``TIMED_OUT`` and ``ABORTED`` ones of the run
workflow to the CloseRun function, which writes the run ``FAILED`` with an error and a
cause, **only if that execution still owns the run and left it unfinished, or never
claimed it and nobody has since**::

    SET #status = FAILED, #error, cause, finished_at
    IF (#execution = <this execution> AND #status IN (CLAIMED, RUNNING))
       OR (#status = REQUESTED AND (claimed_at absent OR claimed_at < <the delivery's time>))

The second half closes a run whose claim (StartRun) failed for good (a permanent error, or
throttling past its retries): the execution ends at RunFailed without a claim, and the
request would otherwise wait ``REQUESTED`` forever with nothing running. "Nobody has
since" is read from the item: still ``REQUESTED``, and its last claim (``claimed_at``,
written by every claim) older than the delivery that started this execution (the
pipe's ``delivered_at``, its ingestion time). A re-run written after that delivery and
not yet claimed looks the same, so it can be closed with this failure; it then needs
writing again. An input without ``delivered_at`` (an execution started before the pipe
sent it) counts only a run never claimed as unclaimed.

A run the workflow already ended (RecordFailure or RecordRunFailed wrote ``FAILED``), or
one a newer execution owns (a re-run), fails the condition and is left as it is: a
normal outcome, reported as ``already_final``.

An execution that does not own its run when it ends (a newer execution claimed it, or
its REQUEST item was deleted under it) may have written ``VARIANT#`` items before its
later writes were refused. Those are nobody's record: CloseRun deletes the ones that
still name this execution (each delete conditional on that), so a deleted run leaves no
items behind and a re-run with fewer variants none of the stale attempt's
(``removed_variants``).

The event (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html, "Step
Functions event examples"; its ``detail`` "provides the same information as the
DescribeExecution API")::

    {"version": "0", "id": "...", "detail-type": "Step Functions Execution Status Change",
     "source": "aws.states", "account": "...", "time": "...", "region": "...",
     "resources": ["<executionArn>"],
     "detail": {"executionArn": "...", "stateMachineArn": "...", "name": "...",
                "status": "TIMED_OUT", "startDate": 1551225014968,
                "stopDate": 1551225017576, "input": "[{\\"pk\\": \\"RUN#...\\", ...}]",
                "inputDetails": {"included": true}, "output": null,
                "outputDetails": null, "error": null, "cause": null, ...}}

``input`` is what the pipe started the execution with: a JSON array of one transformed
stream record whose ``pk`` is the run's (``$states.input[0].pk`` in the workflow). When
input and output together exceed what an event may carry, Step Functions leaves the input
out (``inputDetails.included`` false); it is then read with ``DescribeExecution``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict

from runledger.times import workflow_time

logger = Logger(child=True)

#: The execution statuses that close a run (the template's rule passes only these).
CLOSING_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
#: Statuses of a run that its execution has not finished yet.
OPEN_RUN_STATUSES = ("CLAIMED", "RUNNING")
#: Longest cause written on the item, as the workflow's own failure writes truncate it.
CAUSE_LIMIT = 4000
#: Error and cause written when the event carries none. An execution-level timeout is
#: ``States.Timeout`` (the ASL's predefined error for a timeout); a StopExecution without
#: an error or cause leaves both empty, and the ASL has no error name for an abort, so
#: ``ExecutionAborted`` (the name of the history event) stands in.
DEFAULTS: dict[str, tuple[str, str]] = {
    "TIMED_OUT": (
        "States.Timeout",
        "The execution timed out after the state machine's TimeoutSeconds",
    ),
    "ABORTED": (
        "ExecutionAborted",
        "The execution was stopped (StopExecution) without an error or a cause",
    ),
    "FAILED": ("ExecutionFailed", "The execution failed without an error or a cause"),
}

Outcome = Literal["closed", "already_final", "not_a_run", "ignored"]


class ExecutionDataDetails(BaseModel):
    """``inputDetails`` / ``outputDetails``: whether the data is in the event."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    included: bool = True


class ExecutionStatusChange(BaseModel):
    """The ``detail`` of a "Step Functions Execution Status Change" event (fields used)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    executionArn: str
    stateMachineArn: str = ""
    name: str = ""
    status: str
    startDate: int | None = None
    stopDate: int | None = None
    input: str | None = None
    inputDetails: ExecutionDataDetails | None = None
    error: str | None = None
    cause: str | None = None


class ExecutionStatusChangeEvent(EventBridgeModel):
    """The EventBridge event CloseRun receives (Powertools' envelope, typed detail)."""

    detail: ExecutionStatusChange


class CloseResult(BaseModel):
    """What CloseRun did with one event."""

    execution: str
    status: str
    outcome: Outcome
    pk: str | None = None
    error: str | None = None
    cause: str | None = None
    reason: str
    removed_variants: int = 0  # stale VARIANT# items of this execution deleted


def _record(execution_input: str | None) -> dict[str, Any]:
    """The pipe's record in an execution input (an array of one), or {}."""
    if not execution_input:
        return {}
    try:
        document = json.loads(execution_input)
    except ValueError:
        return {}
    first = document[0] if isinstance(document, list) and document else None
    return first if isinstance(first, dict) else {}


def run_pk(execution_input: str | None) -> str | None:
    """The run's ``pk`` in an execution input (the pipe's array of one record), or None."""
    pk = _record(execution_input).get("pk")
    return pk if isinstance(pk, str) and pk else None


def delivered_at(execution_input: str | None) -> str | None:
    """When the pipe received the record that started the execution (its
    ``delivered_at``), as the workflow writes times (``claimed_at``: UTC, milliseconds,
    ``Z``) so that the two compare as strings; None when absent or not a time."""
    value = _record(execution_input).get("delivered_at")
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return workflow_time(moment)


def error_and_cause(detail: ExecutionStatusChange) -> tuple[str, str]:
    """The error and cause to record: the event's, else the status's default; cause cut."""
    default_error, default_cause = DEFAULTS.get(detail.status, DEFAULTS["FAILED"])
    error = detail.error or default_error
    cause = detail.cause or default_cause
    return error, cause[:CAUSE_LIMIT]


def finished_at(detail: ExecutionStatusChange, now: dt.datetime | None = None) -> str:
    """When the execution stopped (``stopDate``, epoch ms), as the workflow writes times."""
    if detail.stopDate is not None:
        moment = dt.datetime.fromtimestamp(detail.stopDate / 1000, dt.UTC)
    else:
        moment = now or dt.datetime.now(dt.UTC)
    return workflow_time(moment)


def close_arguments(
    table_name: str,
    pk: str,
    execution_arn: str,
    error: str,
    cause: str,
    when: str,
    delivered: str | None = None,
) -> dict[str, Any]:
    """The UpdateItem arguments (DynamoDB client) that close one run, conditionally:
    owned and open, or not claimed since the delivery at ``delivered`` (None: never)."""
    unclaimed = "attribute_not_exists(claimed_at)"
    if delivered:
        unclaimed = f"({unclaimed} OR claimed_at < :delivered)"
    values = {":delivered": {"S": delivered}} if delivered else {}
    return {
        "TableName": table_name,
        "Key": {"pk": {"S": pk}, "sk": {"S": "REQUEST"}},
        "UpdateExpression": (
            "SET #status = :failed, #error = :error, cause = :cause, finished_at = :now"
        ),
        "ConditionExpression": (
            "(#execution = :execution AND #status IN (:claimed, :running))"
            f" OR (#status = :requested AND {unclaimed})"
        ),
        "ExpressionAttributeNames": {
            "#status": "status",
            "#execution": "execution",
            "#error": "error",
        },
        "ExpressionAttributeValues": {
            ":failed": {"S": "FAILED"},
            ":error": {"S": error},
            ":cause": {"S": cause},
            ":now": {"S": when},
            ":execution": {"S": execution_arn},
            ":claimed": {"S": OPEN_RUN_STATUSES[0]},
            ":running": {"S": OPEN_RUN_STATUSES[1]},
            ":requested": {"S": "REQUESTED"},
            **values,
        },
    }


def stale_variants(items: list[dict[str, Any]], execution_arn: str) -> list[dict[str, Any]]:
    """The keys of ``execution_arn``'s VARIANT# items among a run's ``items`` (DynamoDB
    JSON), unless the run's REQUEST item is that execution's: then they are its record."""
    request = next((i for i in items if i.get("sk") == {"S": "REQUEST"}), None)
    if request is not None and request.get("execution") == {"S": execution_arn}:
        return []
    return [
        {"pk": item["pk"], "sk": item["sk"]}
        for item in items
        if item.get("sk", {}).get("S", "").startswith("VARIANT#")
        and item.get("execution") == {"S": execution_arn}
    ]


def remove_stale_variants(dynamodb: Any, table_name: str, pk: str, execution_arn: str) -> int:
    """Delete the VARIANT# items ``execution_arn`` wrote for a run it does not own; the
    number deleted. Each delete holds only while the item still names that execution."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.query(**query)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    removed = 0
    for key in stale_variants(items, execution_arn):
        try:
            dynamodb.delete_item(
                TableName=table_name,
                Key=key,
                ConditionExpression="#execution = :execution",
                ExpressionAttributeNames={"#execution": "execution"},
                ExpressionAttributeValues={":execution": {"S": execution_arn}},
            )
            removed += 1
        except dynamodb.exceptions.ConditionalCheckFailedException:
            pass  # rewritten by a newer execution meanwhile: its record now
    return removed


def execution_input(detail: ExecutionStatusChange, stepfunctions: Any) -> str | None:
    """The execution's input: from the event, or DescribeExecution when it was left out."""
    if detail.inputDetails is None or detail.inputDetails.included:
        return detail.input
    logger.info(
        "input not in the event: reading it with DescribeExecution",
        extra={"execution": detail.executionArn},
    )
    answer = stepfunctions.describe_execution(executionArn=detail.executionArn)
    text = answer.get("input")
    return text if isinstance(text, str) else None


def close_run(
    detail: ExecutionStatusChange,
    *,
    table_name: str,
    dynamodb: Any = None,
    stepfunctions: Any = None,
    now: dt.datetime | None = None,
) -> CloseResult:
    """Write the run of a FAILED, TIMED_OUT or ABORTED execution FAILED, if still open.

    ``dynamodb`` and ``stepfunctions`` are boto3 clients (default: runledger.clients').
    A refused condition is an outcome (``already_final``), not an error; an input without
    a run's ``pk`` is logged and answered ``not_a_run``. Anything else the services raise
    (throttling, a missing permission) propagates, so that EventBridge's asynchronous
    invoke retries it and, in the end, dead-letters it.
    """
    base = {"execution": detail.executionArn, "status": detail.status}
    if detail.status not in CLOSING_STATUSES:
        logger.info("execution status closes no run", extra=base)
        return CloseResult(**base, outcome="ignored", reason=f"status {detail.status}")
    if stepfunctions is None and not (detail.inputDetails is None or detail.inputDetails.included):
        from runledger.clients import client

        stepfunctions = client("stepfunctions")
    delivered = execution_input(detail, stepfunctions)
    pk = run_pk(delivered)
    if pk is None:
        logger.warning("execution input names no run (no pk): nothing to close", extra=base)
        return CloseResult(**base, outcome="not_a_run", reason="the execution input has no pk")
    error, cause = error_and_cause(detail)
    arguments = close_arguments(
        table_name,
        pk,
        detail.executionArn,
        error,
        cause,
        finished_at(detail, now),
        delivered_at(delivered),
    )
    if dynamodb is None:
        from runledger.clients import client

        dynamodb = client("dynamodb")
    try:
        dynamodb.update_item(**arguments)
    except dynamodb.exceptions.ConditionalCheckFailedException:
        removed = remove_stale_variants(dynamodb, table_name, pk, detail.executionArn)
        logger.info(
            "run not closed: already final, or owned by another execution",
            extra={**base, "pk": pk, "removed_variants": removed},
        )
        return CloseResult(
            **base,
            outcome="already_final",
            pk=pk,
            reason="the run is final already or another execution owns it",
            removed_variants=removed,
        )
    logger.info("run closed FAILED", extra={**base, "pk": pk, "error": error})
    return CloseResult(
        **base, outcome="closed", pk=pk, error=error, cause=cause, reason="written FAILED"
    )
