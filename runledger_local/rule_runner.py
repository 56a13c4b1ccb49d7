"""Local EventBridge rules for Step Functions execution status changes.

On AWS, Step Functions sends a "Step Functions Execution Status Change" event to the
default event bus whenever a Standard execution changes status, and every rule whose
pattern matches it invokes its targets. moto sends no such event (its ASL engine knows
nothing of EventBridge), and moto's EventBridge delivers to SQS, logs and buses, never to
a Lambda function. ``RuleRunner`` fills both holes for the rules of the local cloud:

- it watches the executions of every state machine in the cloud (``ListExecutions``,
  polling) and, for each that has ended (SUCCEEDED, FAILED, TIMED_OUT, ABORTED), builds
  the event as Step Functions does (``build_status_change_event``): the envelope, and a
  ``detail`` with DescribeExecution's fields
  (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html), the input left
  out (``inputDetails.included`` false) when input and output together exceed 248 KB;
- it reads the rules of the default bus from moto (``ListRules``, ``ListTargetsByRule``),
  matches the event with moto's own pattern matcher (``moto.events.models.EventPattern``)
  and invokes each Lambda target through the Lambda API (the local cloud runs the real
  handler in-process), one event at a time, as the asynchronous invoke would;
- each execution is handled once.

Differs from AWS:

- Only final statuses are sent (no "RUNNING" event when an execution starts), found by
  polling every ``poll_interval`` seconds rather than pushed.
- moto's DescribeExecution gives no error or cause for an ABORTED or TIMED_OUT
  execution; they are taken from the execution's last history event
  (``ExecutionAborted`` / ``ExecutionTimedOut`` details) instead.
- A target is invoked synchronously from the runner's thread: a function error is
  logged and counted (``invoke_errors``); Lambda's asynchronous retries and the
  function's on-failure destination are not emulated. A failed Invoke call itself is
  retried (``RetryPolicy``, at most ``max_attempts`` locally) and then sent to the
  target's ``DeadLetterConfig`` queue, if it has one.
- Targets other than Lambda functions, input transformers and other buses are refused
  when the runner starts (``NotImplementedError``).

Shutdown: ``stop()`` joins the thread (an invoke in progress finishes first). The local
cloud stops this runner after the pipe and before it stops the executions still
running, so that nothing is invoked while the cloud is taken apart.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from moto.events.models import EventPattern

from runledger_local.logs import get_logger

if TYPE_CHECKING:
    from moto.events.utils import EventMessageType

__all__ = ["RuleCounters", "RuleRunner", "build_status_change_event"]

logger = get_logger(__name__)

DETAIL_TYPE = "Step Functions Execution Status Change"
SOURCE = "aws.states"
FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
#: Above this, input and output together, Step Functions leaves the input out of the event.
EVENT_DATA_LIMIT = 248 * 1024
#: History events that end an execution, and the key of their details.
_END_DETAILS = {
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
}
#: DescribeExecution fields the event's detail carries, besides the ones built below.
_COPIED = ("redriveCount", "redriveDate", "redriveStatus", "redriveStatusReason")


@dataclass
class RuleCounters:
    """Running totals since the runner was created."""

    passes: int = 0
    executions_seen: int = 0
    events_matched: int = 0
    invocations: int = 0
    invoke_errors: int = 0
    delivery_failures: int = 0
    events_to_dlq: int = 0
    poll_errors: int = 0


def _epoch_ms(value: Any) -> int | None:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return None


def build_status_change_event(
    execution: dict[str, Any],
    *,
    account: str,
    region: str,
    end_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The EventBridge event Step Functions sends for ``execution`` (a DescribeExecution
    answer, as boto3 returns it); ``end_details`` fills error and cause it lacks."""
    input_text: str | None = execution.get("input")
    output_text: str | None = execution.get("output")
    escaped = len(json.dumps(input_text or "")) + len(json.dumps(output_text or ""))
    input_included = escaped <= EVENT_DATA_LIMIT
    output_included = len(json.dumps(output_text or "")) <= EVENT_DATA_LIMIT
    end = end_details or {}
    detail: dict[str, Any] = {
        "executionArn": execution["executionArn"],
        "stateMachineArn": execution["stateMachineArn"],
        "name": execution.get("name"),
        "status": execution["status"],
        "startDate": _epoch_ms(execution.get("startDate")),
        "stopDate": _epoch_ms(execution.get("stopDate")),
        "input": input_text if input_included else None,
        "inputDetails": {"included": input_included},
        "output": output_text if output_included else None,
        "outputDetails": None if output_text is None else {"included": output_included},
        "error": execution.get("error") or end.get("error"),
        "cause": execution.get("cause") or end.get("cause"),
    }
    for key in _COPIED:
        if key in execution:
            value = execution[key]
            detail[key] = _epoch_ms(value) if isinstance(value, dt.datetime) else value
    stopped = execution.get("stopDate") or dt.datetime.now(dt.UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": stopped.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [execution["executionArn"]],
        "detail": detail,
    }


@dataclass(frozen=True)
class _Rule:
    name: str
    pattern: EventPattern
    targets: tuple[dict[str, Any], ...]


class RuleRunner:
    """Sends execution status changes to the matching rules' Lambda targets (see module)."""

    def __init__(
        self,
        *,
        events: Any,
        stepfunctions: Any,
        lambda_client: Any,
        sqs: Any = None,
        account: str,
        region: str,
        poll_interval: float = 0.1,
        max_attempts: int = 3,
    ) -> None:
        self._events = events
        self._sfn = stepfunctions
        self._lambda = lambda_client
        self._sqs = sqs
        self.account, self.region = account, region
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self._handled: set[str] = set()
        self._answers: dict[str, list[Any]] = {}
        self._sent: set[str] = set()
        self._counters = RuleCounters()
        self._lock = threading.Lock()
        self._pass_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rules = self._read_rules()  # refuses what it cannot emulate, at start

    # public API -----------------------------------------------------------------------

    @property
    def counters(self) -> RuleCounters:
        with self._lock:
            return replace(self._counters)

    @property
    def rule_names(self) -> list[str]:
        return [rule.name for rule in self._rules]

    @property
    def seen(self) -> frozenset[str]:
        """The executions whose event has been matched against every rule and delivered."""
        with self._lock:
            return frozenset(self._sent)

    def answers(self, execution_arn: str) -> list[Any]:
        """What the targets answered to the event of ``execution_arn`` (decoded JSON, one
        per invoke that returned), in order; empty until the runner has sent it."""
        with self._lock:
            return list(self._answers.get(execution_arn, ()))

    def run_once(self) -> list[str]:
        """One pass: send the event of every execution ended since the last pass; returns
        their ARNs."""
        with self._pass_lock:
            if not self._rules:  # nothing would receive the events
                self._rules = self._read_rules()
                self._count(passes=1)
                return []
            ended = self._newly_ended()
            if ended:
                self._rules = self._read_rules()
            for execution_arn in ended:
                self._send(execution_arn)
            self._count(passes=1)
            return ended

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("rule runner already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="rules-aws.states", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop polling and join the thread; False if it is still alive after ``timeout``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("rule runner still busy after stop", extra={"timeout": timeout})
                return False
            self._thread = None
        return True

    def __enter__(self) -> RuleRunner:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # internals ------------------------------------------------------------------------

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._counters, name, getattr(self._counters, name) + delta)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except (BotoCoreError, ClientError) as exc:
                self._count(poll_errors=1)
                logger.warning("rule runner pass failed", extra={"error": repr(exc)})
            except Exception:  # the poller must outlive one bad pass (as the pipe's does):
                # a dead thread would leave every later failed run unclosed
                self._count(poll_errors=1)
                logger.exception("rule runner pass failed")
            self._stop.wait(self.poll_interval)

    def _read_rules(self) -> list[_Rule]:
        rules = []
        for page in self._events.get_paginator("list_rules").paginate():
            for rule in page["Rules"]:
                if rule.get("State", "ENABLED") != "ENABLED" or not rule.get("EventPattern"):
                    continue
                targets = tuple(
                    target
                    for target_page in self._events.get_paginator("list_targets_by_rule").paginate(
                        Rule=rule["Name"]
                    )
                    for target in target_page["Targets"]
                )
                for target in targets:
                    if ":lambda:" not in target["Arn"] or {"Input", "InputPath"} & set(target):
                        raise NotImplementedError(
                            f"rule {rule['Name']}: only Lambda targets without an input "
                            f"transformation are emulated, not {target['Arn']}"
                        )
                    if "InputTransformer" in target:
                        raise NotImplementedError(f"rule {rule['Name']}: InputTransformer")
                rules.append(_Rule(rule["Name"], EventPattern.load(rule["EventPattern"]), targets))
        return rules

    def _newly_ended(self) -> list[str]:
        ended = []
        for machines in self._sfn.get_paginator("list_state_machines").paginate():
            for machine in machines["stateMachines"]:
                pages = self._sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=machine["stateMachineArn"]
                )
                for page in pages:
                    for execution in page["executions"]:
                        arn = execution["executionArn"]
                        if execution["status"] in FINAL_STATUSES and arn not in self._handled:
                            ended.append(arn)
        return ended

    def _end_details(self, execution_arn: str) -> dict[str, Any]:
        # The whole history: moto ignores reverseOrder and maxResults, and its history
        # may hold events of threads that ended after the execution.
        pages = self._sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn, includeExecutionData=False
        )
        for page in pages:
            for event in page["events"]:
                key = _END_DETAILS.get(event["type"])
                if key:
                    return {k: v for k, v in (event.get(key) or {}).items() if v}
        return {}

    def _send(self, execution_arn: str) -> None:
        self._handled.add(execution_arn)
        self._count(executions_seen=1)
        execution = self._sfn.describe_execution(executionArn=execution_arn)
        end = {} if execution["status"] == "SUCCEEDED" else self._end_details(execution_arn)
        event = build_status_change_event(
            execution, account=self.account, region=self.region, end_details=end
        )
        for rule in self._rules:
            if not rule.pattern.matches_event(cast("EventMessageType", event)):
                continue
            self._count(events_matched=1)
            for target in rule.targets:
                self._invoke(rule, target, event)
        with self._lock:
            self._sent.add(execution_arn)

    def _invoke(self, rule: _Rule, target: dict[str, Any], event: dict[str, Any]) -> None:
        attempts = max(1, min(self.max_attempts, 1 + _retries(target)))
        payload = json.dumps(event).encode()
        for attempt in range(1, attempts + 1):
            try:
                answer = self._lambda.invoke(FunctionName=target["Arn"], Payload=payload)
            except (BotoCoreError, ClientError) as exc:
                self._count(delivery_failures=1)
                logger.warning(
                    "rule target invoke failed",
                    extra={"rule": rule.name, "target": target["Arn"], "attempt": attempt,
                           "error": repr(exc)},
                )  # fmt: skip
                time.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            self._count(invocations=1)
            body = answer["Payload"].read()
            try:
                decoded = json.loads(body) if body else None
            except ValueError:
                decoded = body.decode("utf-8", "replace")
            with self._lock:
                self._answers.setdefault(event["detail"]["executionArn"], []).append(decoded)
            if answer.get("FunctionError"):
                self._count(invoke_errors=1)
                logger.warning(
                    "rule target function failed",
                    extra={"rule": rule.name, "target": target["Arn"],
                           "execution": event["detail"]["executionArn"],
                           "error": body.decode("utf-8", "replace")[:2000]},
                )  # fmt: skip
            return
        self._dead_letter(rule, target, event)

    def _dead_letter(self, rule: _Rule, target: dict[str, Any], event: dict[str, Any]) -> None:
        arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not arn or self._sqs is None:
            logger.warning("rule event dropped", extra={"rule": rule.name})
            return
        name = arn.rsplit(":", 1)[-1]
        url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        self._sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(event),
            MessageAttributes={
                "RULE_ARN": {"DataType": "String", "StringValue": rule.name},
                "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
                "ERROR_CODE": {"DataType": "String", "StringValue": "SDK_CLIENT_ERROR"},
            },
        )
        self._count(events_to_dlq=1)


def _retries(target: dict[str, Any]) -> int:
    policy = target.get("RetryPolicy") or {}
    return int(policy.get("MaximumRetryAttempts", 185))
