"""runledger.usage: transitions and Lambda time read from an execution's history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from runledger import clients
from runledger.summary import SummarizeRunEvent, json_value, summarize_run
from runledger.usage import (
    CHILD_HISTORIES_READ,
    HistoryUsage,
    read_usage,
    spread,
    usage_from_history,
    with_children,
)

T0 = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.UTC)
ARN = "arn:aws:states:us-east-1:123456789012:execution:runledger-RunWorkflow:x"


def at(ms: float) -> dt.datetime:
    return T0 + dt.timedelta(milliseconds=ms)


class History:
    """A history built event by event, each chained to the previous one as AWS does."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, ms: float, previous: int | None = None, **details: Any) -> int:
        number = len(self.events) + 1
        event: dict[str, Any] = {
            "id": number,
            "previousEventId": number - 1 if previous is None else previous,
            "type": kind,
            "timestamp": at(ms),
        }
        key = {
            "TaskStarted": "taskStartedEventDetails",
            "TaskFailed": "taskFailedEventDetails",
            "TaskScheduled": "taskScheduledEventDetails",
        }.get(kind)
        if key:  # the fields GetExecutionHistory always returns for that type
            required = {"resource": "invoke"}
            if kind == "TaskScheduled":
                required |= {"region": "us-east-1", "parameters": "{}"}
            event[key] = required | details
        self.events.append(event)
        return number

    def lambda_task(self, state: str, start_ms: float, end_ms: float, error: str = "") -> int:
        self.add("TaskStateEntered", start_ms)
        self.add("TaskScheduled", start_ms, resourceType="lambda")
        started = self.add("TaskStarted", start_ms, resourceType="lambda")
        if error:
            return self.add("TaskFailed", end_ms, started, resourceType="lambda", error=error)
        return self.add("TaskSucceeded", end_ms, started)


def test_transitions_are_states_entered_plus_retries_and_lambda_time_is_per_call() -> None:
    history = History()
    history.add("ExecutionStarted", 0)
    history.lambda_task("StartRun", 0, 120.4)  # 120.4 ms -> billed 121 ms
    history.add("ChoiceStateEntered", 121)
    history.add("TaskStateEntered", 130)  # a Lambda task, throttled, then run
    history.add("TaskScheduled", 130, resourceType="lambda")
    started = history.add("TaskStarted", 130, resourceType="lambda")
    failed = history.add(
        "TaskFailed", 140, started, error="Lambda.TooManyRequestsException", resourceType="lambda"
    )
    history.add("TaskScheduled", 141, failed, resourceType="lambda")  # the retry
    started = history.add("TaskStarted", 141, resourceType="lambda")
    history.add("TaskSucceeded", 191, started)
    history.lambda_task("CollectMetrics", 200, 260, error="Lambda.Unknown")  # ran, then died
    history.lambda_task("Crashes", 300, 310, error="ValueError")  # the handler raised
    history.add("TaskStateEntered", 400)  # SummarizeRun, still running
    history.add("TaskScheduled", 400, resourceType="lambda")
    history.add("TaskStarted", 400, resourceType="lambda")

    usage = usage_from_history(history.events, now=at(650))
    # StartRun, Choice, the throttled task (+1 retry), CollectMetrics, Crashes, Summarize
    assert usage.transitions == 7
    assert usage.lambda_seconds == (0.121, 0.05, 0.06, 0.01, 0.25)
    assert usage.lambda_invocations == 5
    # Without "now" the running call is left out.
    assert usage_from_history(history.events).lambda_seconds == (0.121, 0.05, 0.06, 0.01)


def one_failed_variant() -> SummarizeRunEvent:
    """SummarizeRun's event for a run of one variant, which failed."""
    request = {
        "run_id": "r1",
        "workflow": "kmer-count",
        "cost_center": "lab",
        "input": {"uri": "s3://b/s.fq", "k": 21},
        "variants": [{"name": "a", "vcpus": 1, "memory_mib": 2048, "capacity": "ON_DEMAND"}],
    }
    failed = {"name": "a", "status": "FAILED", "error": "States.TaskFailed", "cause": "x"}
    return SummarizeRunEvent.model_validate(
        {"run_id": "r1", "request": request, "variants": [failed]}
    )


def test_summarize_run_prices_the_measured_usage_and_counts_the_states_ahead() -> None:
    event = one_failed_variant()
    history = HistoryUsage(transitions=7, lambda_seconds=(0.2, 0.1, 0.3))
    usage = summarize_run(event, lambda_memory_mb=512, history=history).cost.usage
    # All variants failed: DidAnyVariantSucceed, RecordRunFailed and RunFailed are ahead.
    assert json_value(usage.stepfunctions) == {"basis": "counted", "transitions": 10}
    assert usage.lambda_.basis == "measured"
    assert usage.lambda_.invocations == 3
    assert usage.lambda_.gb_seconds == pytest.approx(0.6 * 0.5, rel=1e-12)


@pytest.fixture
def stubbed_sfn(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    client = boto3.client(
        "stepfunctions",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    monkeypatch.setattr(clients, "client", lambda service: client)
    return Stubber(client)


def test_read_usage_pages_through_the_history(stubbed_sfn: Stubber) -> None:
    history = History()
    history.add("ExecutionStarted", 0)
    history.lambda_task("StartRun", 0, 100)
    first, second = history.events[:3], history.events[3:]
    expected = {"executionArn": ARN, "includeExecutionData": False}
    stubbed_sfn.add_response(
        "get_execution_history", {"events": first, "nextToken": "t1"}, expected
    )
    stubbed_sfn.add_response(
        "get_execution_history", {"events": second}, {**expected, "nextToken": "t1"}
    )
    stubbed_sfn.add_response("list_map_runs", {"mapRuns": []}, {"executionArn": ARN})
    with stubbed_sfn:
        usage = read_usage(ARN, now=at(1000))
    stubbed_sfn.assert_no_pending_responses()
    assert usage == HistoryUsage(transitions=1, lambda_seconds=(0.1,))
    assert not usage.extrapolated


MAP_RUN = "arn:aws:states:us-east-1:123456789012:mapRun:runledger-RunWorkflow/Jobs:m1"


def child_arn(number: int) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:runledger-RunWorkflow/Jobs:c{number}"


def job_history(collect_ms: float) -> list[dict[str, Any]]:
    """A child: RunJob (Batch), then CollectMetrics (Lambda) for ``collect_ms``."""
    history = History()
    history.add("ExecutionStarted", 0)
    history.add("TaskStateEntered", 0)
    history.add("TaskScheduled", 0, resourceType="batch")
    history.add("TaskStarted", 0, resourceType="batch")
    history.add("TaskSucceeded", 5000)
    history.lambda_task("CollectMetrics", 5000, 5000 + collect_ms)
    return history.events


def test_read_usage_adds_each_child_of_the_distributed_map_its_start_and_its_states(
    stubbed_sfn: Stubber,
) -> None:
    """A child costs a transition to start (concepts-transitions.html) plus its own states;
    its Lambda calls are the run's too. Children are found through the Map Run."""
    parent = History()
    parent.add("ExecutionStarted", 0)
    parent.lambda_task("StartRun", 0, 100)
    parent.add("MapStateEntered", 100)
    quiet = {"includeExecutionData": False}
    stubbed_sfn.add_response(
        "get_execution_history", {"events": parent.events}, {"executionArn": ARN, **quiet}
    )
    run = {"executionArn": ARN, "mapRunArn": MAP_RUN, "stateMachineArn": ARN, "startDate": T0}
    stubbed_sfn.add_response("list_map_runs", {"mapRuns": [run]}, {"executionArn": ARN})
    children = [
        {
            "executionArn": child_arn(n),
            "stateMachineArn": ARN,
            "name": f"c{n}",
            "status": "SUCCEEDED",
            "startDate": at(200 + n),
        }
        for n in (2, 1)  # listed newest first
    ]
    stubbed_sfn.add_response("list_executions", {"executions": children}, {"mapRunArn": MAP_RUN})
    for number, collect_ms in ((1, 40), (2, 60)):  # read oldest first
        stubbed_sfn.add_response(
            "get_execution_history",
            {"events": job_history(collect_ms)},
            {"executionArn": child_arn(number), **quiet},
        )
    with stubbed_sfn:
        usage = read_usage(ARN, now=at(9000))
    stubbed_sfn.assert_no_pending_responses()
    # StartRun and the Map; each child's start, RunJob and CollectMetrics.
    assert usage == HistoryUsage(
        transitions=2 + 2 * 3, lambda_seconds=(0.1, 0.04, 0.06), children=2, children_read=2
    )
    assert not usage.extrapolated


def test_children_past_the_histories_read_are_counted_as_the_ones_read() -> None:
    parent = HistoryUsage(transitions=4, lambda_seconds=(0.1,))
    read = [
        HistoryUsage(transitions=2, lambda_seconds=(0.04,)),
        HistoryUsage(transitions=3, lambda_seconds=()),  # a failed job retried, no Lambda
    ]
    usage = with_children(parent, read, children=5)
    # Five starts; read 2 + 3, then the three not read as 2, 3, 2.
    assert usage.transitions == 4 + 5 + (2 + 3) + (2 + 3 + 2)
    assert usage.lambda_seconds == (0.1, 0.04, 0.04, 0.04)
    assert (usage.children, usage.children_read, usage.extrapolated) == (5, 2, True)
    with pytest.raises(ValueError, match="5 children and none read"):
        with_children(parent, [], children=5)


def test_the_histories_read_are_spread_evenly_over_the_children() -> None:
    assert spread(list(range(1000)), CHILD_HISTORIES_READ) == list(range(0, 1000, 10))
    assert spread(list(range(150)), 100)[:4] == [0, 1, 3, 4]
    assert spread([1, 2, 3], 100) == [1, 2, 3]


def test_summarize_run_says_when_its_usage_was_extrapolated() -> None:
    event = one_failed_variant()
    history = HistoryUsage(transitions=7, lambda_seconds=(0.2,), children=300, children_read=100)
    usage = summarize_run(event, history=history).cost.usage
    assert (usage.stepfunctions.basis, usage.lambda_.basis) == ("extrapolated", "extrapolated")


def test_an_unreadable_history_falls_back_to_the_model_and_says_so(
    stubbed_sfn: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    stubbed_sfn.add_client_error(
        "get_execution_history", "AccessDeniedException", "not authorized", 400
    )
    with stubbed_sfn:
        assert read_usage(ARN) is None
    assert "execution history unreadable" in caplog.text
