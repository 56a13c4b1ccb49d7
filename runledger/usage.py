"""What an execution has used so far, read from its own history and its children's.

SummarizeRun reads the history of the execution it runs in (``GetExecutionHistory``) and
those of the child executions its Distributed Map started (``ListMapRuns``, then
``ListExecutions`` by Map Run), and counts, up to that moment:

* **state transitions**: every state entered, plus every retry of a Task (Step Functions
  bills each retry attempt as a transition), plus one per child started (AWS bills "a
  state transition ... to start each child workflow execution",
  step-functions/latest/dg/concepts-transitions.html, Distributed Map);
* **Lambda invocations and their durations**: each Lambda task from ``TaskStarted`` to its
  ``TaskSucceeded`` / ``TaskFailed`` / ``TaskTimedOut``, rounded up to the millisecond as
  Lambda bills. An attempt the Lambda service refused (throttled, service error: an error
  named ``Lambda.*`` other than ``Lambda.Unknown``) never ran and is not counted. An
  invocation still running (SummarizeRun's own) lasts until ``now``.

The span is measured by Step Functions around the invoke call, so it includes the invoke
round trip and any cold start: a little above the billed duration, never below.

At most ``CHILD_HISTORIES_READ`` children's histories are read, spread evenly over the
Map's children; each child not read is counted as one read (the i-th child not read as
the (i mod read)-th read). A run of 1,000 jobs would otherwise make 1,000 history calls
from one Lambda invocation, past GetExecutionHistory's account-wide bucket of 400 calls
(refilled at 20 a second; step-functions/latest/dg/service-quotas.html, API action
throttling), which the console, the report and the other runs' summaries share. The
usage says how many it read (``children_read`` of ``children``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(child=True)

_ENDS = frozenset({"TaskSucceeded", "TaskFailed", "TaskTimedOut"})
_RETRIED_AFTER = frozenset({"TaskFailed", "TaskTimedOut"})
#: Lambda.* errors that are not the service refusing the call: the function ran.
_RAN_ANYWAY = frozenset({"Lambda.Unknown"})
#: Children whose histories are read; the others are counted as the read ones.
CHILD_HISTORIES_READ = 100


@dataclass(frozen=True, slots=True)
class HistoryUsage:
    """Transitions and Lambda billed seconds of an execution, as far as its history goes."""

    transitions: int
    lambda_seconds: tuple[float, ...]
    #: Child executions the Distributed Map started, and how many of their histories were
    #: read (the rest are counted as the read ones).
    children: int = 0
    children_read: int = 0

    @property
    def lambda_invocations(self) -> int:
        return len(self.lambda_seconds)

    @property
    def extrapolated(self) -> bool:
        return self.children_read < self.children


def with_children(parent: HistoryUsage, read: list[HistoryUsage], children: int) -> HistoryUsage:
    """``parent``'s usage plus that of its ``children`` child executions, of which ``read``
    are the usages of the ones whose histories were read (evenly spread, in start order).

    Each child costs one transition to start. A child not read is counted as a read one:
    the i-th not read as ``read[i % len(read)]``.
    """
    if children and not read:
        raise ValueError(f"{children} children and none read")
    counted = [read[index % len(read)] for index in range(children - len(read))]
    every = [*read, *counted]
    return HistoryUsage(
        transitions=parent.transitions + children + sum(c.transitions for c in every),
        lambda_seconds=parent.lambda_seconds
        + tuple(seconds for child in every for seconds in child.lambda_seconds),
        children=children,
        children_read=len(read),
    )


def spread(items: list[Any], most: int) -> list[Any]:
    """At most ``most`` of ``items``, evenly spread over them, in their order."""
    if len(items) <= most:
        return list(items)
    return [items[index * len(items) // most] for index in range(most)]


def usage_from_history(
    events: Iterable[Mapping[str, Any]], now: dt.datetime | None = None
) -> HistoryUsage:
    """Count an execution's transitions and time its Lambda invocations from its events."""
    by_id = {int(event["id"]): event for event in events}
    transitions = 0
    ends: dict[int, Mapping[str, Any]] = {}
    for event in by_id.values():
        kind = event["type"]
        if kind.endswith("StateEntered"):
            transitions += 1
        elif kind == "TaskScheduled":
            previous = by_id.get(int(event.get("previousEventId") or 0))
            if previous is not None and previous["type"] in _RETRIED_AFTER:
                transitions += 1  # a retry attempt
        if kind in _ENDS:
            ends[int(event.get("previousEventId") or 0)] = event
    seconds: list[float] = []
    for event_id, event in sorted(by_id.items()):
        details = event.get("taskStartedEventDetails") or {}
        if event["type"] != "TaskStarted" or details.get("resourceType") != "lambda":
            continue
        end = ends.get(event_id)
        if end is None:
            if now is None:
                continue
            stopped = now
        else:
            error = (end.get("taskFailedEventDetails") or {}).get("error") or ""
            if error.startswith("Lambda.") and error not in _RAN_ANYWAY:
                continue  # refused by the Lambda service: the function never ran
            stopped = end["timestamp"]
        elapsed = (stopped - event["timestamp"]).total_seconds()
        seconds.append(math.ceil(max(elapsed, 0.0) * 1000) / 1000)
    return HistoryUsage(transitions=transitions, lambda_seconds=tuple(seconds))


def execution_history(
    stepfunctions: Any, execution_arn: str, *, include_data: bool = True
) -> list[dict[str, Any]]:
    """Every event of an execution, oldest first (GetExecutionHistory, all pages).

    ``include_data=False`` leaves out states' inputs and outputs, which counting needs not.
    """
    extra = {} if include_data else {"includeExecutionData": False}
    pages = stepfunctions.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, **extra
    )
    return [event for page in pages for event in page["events"]]


def child_executions(stepfunctions: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The child workflow executions that ``execution_arn``'s Distributed Maps started.

    ``ListMapRuns`` of the execution, then ``ListExecutions(mapRunArn=...)`` of each Map Run,
    every page (API references ListMapRuns and ListExecutions: a ``mapRunArn`` listing "a
    list of all of the child workflow executions started by a Map Run"). Each item is
    ListExecutions' (executionArn, status, startDate, stopDate, mapRunArn ...).
    """
    runs = [
        run["mapRunArn"]
        for page in stepfunctions.get_paginator("list_map_runs").paginate(
            executionArn=execution_arn
        )
        for run in page["mapRuns"]
    ]
    paginator = stepfunctions.get_paginator("list_executions")
    return [
        execution
        for run in runs
        for page in paginator.paginate(mapRunArn=run)
        for execution in page["executions"]
    ]


def read_usage(execution_arn: str, now: dt.datetime | None = None) -> HistoryUsage | None:
    """The usage of ``execution_arn`` so far, or None (logged) if its history is unreadable.

    None makes the estimate fall back to the model: a missing permission or a throttled
    call costs the run its measured Lambda and transition figures, not its result.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from runledger.clients import client

    stepfunctions = client("stepfunctions")
    now = now or dt.datetime.now(dt.UTC)
    try:
        events = execution_history(stepfunctions, execution_arn, include_data=False)
        children = sorted(child_executions(stepfunctions, execution_arn), key=_started)
        read = [
            usage_from_history(
                execution_history(stepfunctions, child["executionArn"], include_data=False), now
            )
            for child in spread(children, CHILD_HISTORIES_READ)
        ]
    except (BotoCoreError, ClientError) as exc:
        logger.warning(
            "execution history unreadable: Lambda and transitions are modelled",
            extra={"execution": execution_arn, "error": str(exc)},
        )
        return None
    return with_children(usage_from_history(events, now), read, len(children))


def _started(child: Mapping[str, Any]) -> tuple[Any, str]:
    return child["startDate"], child["executionArn"]
