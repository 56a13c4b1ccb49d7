"""RuleRunner and build_status_change_event against stand-in clients: what event a rule
receives, which rules receive it, how often, and where an undeliverable one goes."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from runledger_local import rule_runner
from runledger_local.rule_runner import EVENT_DATA_LIMIT, RuleRunner, build_status_change_event

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:runs"
OTHER_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:other"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:close-run"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:close-run-dlq"
STARTED = dt.datetime(2026, 12, 4, 6, 0, tzinfo=dt.UTC)
STOPPED = dt.datetime(2026, 12, 4, 6, 5, tzinfo=dt.UTC)
CLOSING_PATTERN = {
    "source": ["aws.states"],
    "detail-type": ["Step Functions Execution Status Change"],
    "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": [MACHINE]},
}


def execution(name: str, status: str, machine: str = MACHINE, **extra: Any) -> dict[str, Any]:
    return {
        "executionArn": f"{machine.replace(':stateMachine:', ':execution:')}:{name}",
        "stateMachineArn": machine,
        "name": name,
        "status": status,
        "startDate": STARTED,
        "stopDate": STOPPED,
        "input": '{"pk": "RUN#r1"}',
        **extra,
    }


class Pages:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return self.pages


class Events:
    def __init__(self, rules: list[tuple[str, dict[str, Any], list[dict[str, Any]]]]) -> None:
        self.rules = rules

    def get_paginator(self, name: str) -> Any:
        if name == "list_rules":
            listed = [{"Name": n, "EventPattern": json.dumps(p)} for n, p, _ in self.rules]
            return Pages([{"Rules": listed}])
        return _TargetPages(self.rules)


class _TargetPages:
    def __init__(self, rules: list[tuple[str, dict[str, Any], list[dict[str, Any]]]]) -> None:
        self.rules = rules

    def paginate(self, *, Rule: str) -> list[dict[str, Any]]:
        return [{"Targets": next(t for n, _, t in self.rules if n == Rule)}]


class StepFunctions:
    def __init__(self, executions: list[dict[str, Any]], history: dict[str, list[Any]]) -> None:
        self.executions = executions
        self.history = history

    def get_paginator(self, name: str) -> Any:
        if name == "list_state_machines":
            machines = sorted({e["stateMachineArn"] for e in self.executions})
            return Pages([{"stateMachines": [{"stateMachineArn": m} for m in machines]}])
        if name == "list_executions":
            return _ByMachine(self.executions)
        return _History(self.history)

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        return next(e for e in self.executions if e["executionArn"] == executionArn)


class _ByMachine:
    def __init__(self, executions: list[dict[str, Any]]) -> None:
        self.executions = executions

    def paginate(self, *, stateMachineArn: str) -> list[dict[str, Any]]:
        return [
            {"executions": [e for e in self.executions if e["stateMachineArn"] == stateMachineArn]}
        ]


class _History:
    def __init__(self, history: dict[str, list[Any]]) -> None:
        self.history = history

    def paginate(self, *, executionArn: str, **_: Any) -> list[dict[str, Any]]:
        return [{"events": self.history.get(executionArn, [])}]


class Lambda:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, *, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        self.calls.append((FunctionName, json.loads(Payload)))
        if len(self.calls) <= self.failures:
            raise ClientError({"Error": {"Code": "ServiceException"}}, "Invoke")
        return {"StatusCode": 200, "Payload": io.BytesIO(b'{"outcome": "closed"}')}


class Sqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def get_queue_url(self, *, QueueName: str) -> dict[str, str]:
        return {"QueueUrl": f"https://sqs.local/{QueueName}"}

    def send_message(self, **message: Any) -> None:
        self.sent.append(message)


def runner(executions: list[dict[str, Any]], targets: list[dict[str, Any]], **kw: Any) -> Any:
    clients = {
        "events": Events([("ends", CLOSING_PATTERN, targets)]),
        "stepfunctions": StepFunctions(executions, kw.pop("history", {})),
        "lambda_client": kw.pop("lambda_client", Lambda()),
        "sqs": kw.pop("sqs", Sqs()),
    }
    return RuleRunner(**clients, account="123456789012", region="us-east-1", **kw), clients


def test_the_event_is_what_step_functions_sends_with_the_end_details_filling_error_and_cause() -> (
    None
):
    ended = execution("a", "ABORTED")

    event = build_status_change_event(
        ended, account="123456789012", region="us-east-1",
        end_details={"error": "Operator.Stop", "cause": "by hand"},
    )  # fmt: skip

    assert event["source"] == "aws.states"
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert event["resources"] == [ended["executionArn"]]
    assert event["time"] == "2026-12-04T06:05:00Z"
    detail = event["detail"]
    assert detail["startDate"] == int(STARTED.timestamp() * 1000)
    assert detail["stopDate"] == int(STOPPED.timestamp() * 1000)
    assert (detail["error"], detail["cause"]) == ("Operator.Stop", "by hand")
    assert detail["input"] == ended["input"]
    assert detail["inputDetails"] == {"included": True}
    assert detail["output"] is None
    assert detail["outputDetails"] is None


def test_an_input_that_with_the_output_exceeds_248_kb_is_left_out_of_the_event() -> None:
    big = json.dumps({"blob": "x" * (EVENT_DATA_LIMIT - 100)})  # fits alone
    output = json.dumps({"ok": "y" * 200})  # and so does the output; not both

    detail = build_status_change_event(
        execution("a", "SUCCEEDED", input=big, output=output),
        account="123456789012", region="us-east-1",
    )["detail"]  # fmt: skip

    assert detail["input"] is None
    assert detail["inputDetails"] == {"included": False}
    assert detail["output"] == output
    assert detail["outputDetails"] == {"included": True}


def test_a_rule_target_that_is_not_a_lambda_function_is_refused_at_start() -> None:
    queue_target = {"Id": "q", "Arn": QUEUE}

    with pytest.raises(NotImplementedError, match="rule ends: only Lambda targets"):
        runner([], [queue_target])


def test_each_matching_end_is_sent_once_and_other_ends_and_machines_are_not() -> None:
    failed = execution("failed", "FAILED")
    history = {
        failed["executionArn"]: [
            {"type": "ExecutionFailed",
             "executionFailedEventDetails": {"error": "States.Runtime", "cause": "boom"}},
        ]
    }  # fmt: skip
    executions = [
        failed,
        execution("done", "SUCCEEDED"),
        execution("running", "RUNNING"),
        execution("elsewhere", "FAILED", machine=OTHER_MACHINE),
    ]
    rules, clients = runner(executions, [{"Id": "CloseRun", "Arn": FUNCTION}], history=history)

    first = rules.run_once()
    second = rules.run_once()

    calls = clients["lambda_client"].calls
    assert [(name, event["detail"]["name"]) for name, event in calls] == [(FUNCTION, "failed")]
    assert calls[0][1]["detail"]["error"] == "States.Runtime"
    assert calls[0][1]["detail"]["cause"] == "boom"
    assert set(first) == {e["executionArn"] for e in executions if e["status"] != "RUNNING"}
    assert second == []
    assert rules.answers(failed["executionArn"]) == [{"outcome": "closed"}]
    assert failed["executionArn"] in rules.seen
    counters = rules.counters
    assert (counters.executions_seen, counters.events_matched, counters.invocations) == (3, 1, 1)


def test_a_failed_invoke_is_retried_as_the_retry_policy_says_then_kept_in_the_dead_letter_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rule_runner.time, "sleep", lambda _: None)
    target = {
        "Id": "CloseRun",
        "Arn": FUNCTION,
        "RetryPolicy": {"MaximumRetryAttempts": 1},
        "DeadLetterConfig": {"Arn": QUEUE},
    }
    failed = execution("failed", "FAILED")
    rules, clients = runner([failed], [target], lambda_client=Lambda(failures=5))

    rules.run_once()

    assert len(clients["lambda_client"].calls) == 2  # the first try and one retry
    (message,) = clients["sqs"].sent
    assert message["QueueUrl"] == "https://sqs.local/close-run-dlq"
    assert json.loads(message["MessageBody"])["detail"]["executionArn"] == failed["executionArn"]
    assert message["MessageAttributes"]["TARGET_ARN"]["StringValue"] == FUNCTION
    counters = rules.counters
    assert (counters.delivery_failures, counters.events_to_dlq, counters.invocations) == (2, 1, 0)


def test_an_invoke_that_succeeds_on_a_retry_is_not_dead_lettered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rule_runner.time, "sleep", lambda _: None)
    target = {"Id": "CloseRun", "Arn": FUNCTION, "DeadLetterConfig": {"Arn": QUEUE}}
    failed = execution("failed", "FAILED")
    rules, clients = runner([failed], [target], lambda_client=Lambda(failures=1))

    rules.run_once()

    assert len(clients["lambda_client"].calls) == 2
    assert clients["sqs"].sent == []
    assert rules.answers(failed["executionArn"]) == [{"outcome": "closed"}]


def test_the_polling_thread_outlives_a_pass_that_raises_what_it_did_not_expect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules, _ = runner([], [{"Id": "CloseRun", "Arn": FUNCTION}])
    passes: list[int] = []

    def run_once() -> list[str]:
        passes.append(1)
        if len(passes) == 1:
            raise KeyError("a shape the runner did not expect")
        return []

    monkeypatch.setattr(rules, "run_once", run_once)
    rules.poll_interval = 0.01
    with rules:
        deadline = time.monotonic() + 5
        while len(passes) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)

    assert len(passes) >= 3  # it went on polling after the pass that raised
    assert rules.counters.poll_errors == 1
