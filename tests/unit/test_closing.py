"""runledger.closing: CloseRun writes FAILED only on a run its execution still owns, open."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from runledger.closing import (
    CAUSE_LIMIT,
    ExecutionStatusChange,
    close_run,
    delivered_at,
    finished_at,
    run_pk,
)

TABLE = "runs-test"  # the dynamodb fixture's (conftest.py)
ARN = "arn:aws:states:us-east-1:123456789012:execution:runledger-dev-RunWorkflow:one"
PK = "RUN#close-1"
STOPPED = dt.datetime(2026, 12, 1, 0, 0, 1, tzinfo=dt.UTC)


def put_run(dynamodb: Any, status: str, execution: str = ARN) -> None:
    item = {"pk": PK, "sk": "REQUEST", "status": status, "execution": execution}
    dynamodb.put_item(TableName=TABLE, Item={k: {"S": v} for k, v in item.items()})


def request_item(dynamodb: Any) -> dict[str, str]:
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": PK}, "sk": {"S": "REQUEST"}})
    return {k: v["S"] for k, v in item["Item"].items()}


def detail(status: str = "TIMED_OUT", **fields: Any) -> ExecutionStatusChange:
    values: dict[str, Any] = {
        "executionArn": ARN,
        "status": status,
        "stopDate": int(STOPPED.timestamp() * 1000),
        "input": json.dumps([{"pk": PK, "delivered_at": "2026-12-01T00:00:00.000Z"}]),
        **fields,
    }
    return ExecutionStatusChange.model_validate(values)


@pytest.mark.parametrize("open_status", ["CLAIMED", "RUNNING"])
def test_a_timed_out_execution_closes_its_open_run_failed(dynamodb: Any, open_status: str) -> None:
    put_run(dynamodb, open_status)
    result = close_run(detail(), table_name=TABLE, dynamodb=dynamodb)

    assert (result.outcome, result.pk, result.error) == ("closed", PK, "States.Timeout")
    item = request_item(dynamodb)
    assert (item["status"], item["error"]) == ("FAILED", "States.Timeout")
    assert "TimeoutSeconds" in item["cause"]
    assert item["finished_at"] == "2026-12-01T00:00:01.000Z"  # the event's stopDate


def test_an_abort_records_the_error_and_cause_the_stop_gave(dynamodb: Any) -> None:
    put_run(dynamodb, "RUNNING")
    result = close_run(
        detail("ABORTED", error="Operator", cause="x" * (CAUSE_LIMIT + 10)),
        table_name=TABLE,
        dynamodb=dynamodb,
    )
    item = request_item(dynamodb)
    assert (result.outcome, item["error"], len(item["cause"])) == (
        "closed",
        "Operator",
        CAUSE_LIMIT,
    )


@pytest.mark.parametrize("status", ["ABORTED", "FAILED"])
def test_a_stop_without_error_or_cause_still_records_a_reason(dynamodb: Any, status: str) -> None:
    put_run(dynamodb, "CLAIMED")
    close_run(detail(status), table_name=TABLE, dynamodb=dynamodb)
    item = request_item(dynamodb)
    assert item["status"] == "FAILED"
    assert item["error"]
    assert item["cause"]
    assert item["error"] != "States.Timeout"


@pytest.mark.parametrize(
    ("status", "owner"),
    [("FAILED", ARN), ("SUCCEEDED", ARN), ("INVALID", ARN), ("RUNNING", ARN + "-newer")],
    ids=["recorded-failed", "succeeded", "invalid", "newer-execution-owns-it"],
)
def test_a_final_run_or_another_executions_run_is_left_as_it_is(
    dynamodb: Any, status: str, owner: str
) -> None:
    put_run(dynamodb, status, owner)
    before = request_item(dynamodb)
    result = close_run(detail(), table_name=TABLE, dynamodb=dynamodb)
    assert result.outcome == "already_final"
    assert request_item(dynamodb) == before


DELIVERED = "2026-12-01T00:00:00.500Z"  # the pipe's delivered_at (its ingestion time)


def put_requested(dynamodb: Any, claimed_at: str | None) -> None:
    item = {"pk": {"S": PK}, "sk": {"S": "REQUEST"}, "status": {"S": "REQUESTED"}}
    if claimed_at is not None:
        item |= {"claimed_at": {"S": claimed_at}, "execution": {"S": ARN + "-older"}}
    dynamodb.put_item(TableName=TABLE, Item=item)


def unclaimed_failure(delivered_at: str | None = DELIVERED) -> ExecutionStatusChange:
    record: dict[str, Any] = {"pk": PK}
    if delivered_at is not None:
        record["delivered_at"] = delivered_at
    return detail(
        "FAILED",
        error="DynamoDB.ProvisionedThroughputExceededException",
        cause="throttled",
        input=json.dumps([record]),
    )


@pytest.mark.parametrize(
    "claimed_at",
    [None, "2026-12-01T00:00:00.499Z"],
    ids=["first-request", "re-run-of-an-earlier-claim"],
)
def test_a_run_its_execution_never_claimed_is_closed_if_nobody_claimed_it_since(
    dynamodb: Any, claimed_at: str | None
) -> None:
    """ClaimRun failed for good (RunFailed): the request would wait REQUESTED forever."""
    put_requested(dynamodb, claimed_at)

    result = close_run(unclaimed_failure(), table_name=TABLE, dynamodb=dynamodb)

    assert result.outcome == "closed"
    closed = request_item(dynamodb)
    assert (closed["status"], closed["error"], closed["cause"]) == (
        "FAILED",
        "DynamoDB.ProvisionedThroughputExceededException",
        "throttled",
    )


@pytest.mark.parametrize(
    ("claimed_at", "delivered_at"),
    [
        ("2026-12-01T00:00:00.500Z", DELIVERED),
        ("2026-12-01T00:00:07.000Z", DELIVERED),
        # The same instant written with an offset: compared as the workflow writes times.
        ("2026-12-01T00:00:07.000Z", "2026-12-01T01:00:00.5+01:00"),
        # No delivery time (an execution started before the pipe sent one): only a run
        # never claimed counts as unclaimed.
        ("2026-11-01T00:00:00.000Z", None),
    ],
    ids=["claimed-at-the-delivery", "claimed-since", "offset-delivery-time", "no-delivery-time"],
)
def test_a_requested_run_someone_claimed_since_the_delivery_is_left_as_it_is(
    dynamodb: Any, claimed_at: str, delivered_at: str | None
) -> None:
    put_requested(dynamodb, claimed_at)
    before = request_item(dynamodb)

    result = close_run(unclaimed_failure(delivered_at), table_name=TABLE, dynamodb=dynamodb)

    assert result.outcome == "already_final"
    assert request_item(dynamodb) == before


def test_delivered_at_is_read_as_the_workflow_writes_times() -> None:
    record = [{"pk": PK, "delivered_at": "2026-12-01T01:00:00.5+01:00"}]
    assert delivered_at(json.dumps(record)) == DELIVERED
    for value in ("yesterday", 17, None):
        assert delivered_at(json.dumps([{"pk": PK, "delivered_at": value}])) is None


def put_variant(dynamodb: Any, name: str, execution: str) -> None:
    item = {"pk": PK, "sk": f"VARIANT#{name}", "status": "SUCCEEDED", "execution": execution}
    dynamodb.put_item(TableName=TABLE, Item={k: {"S": v} for k, v in item.items()})


def partition(dynamodb: Any) -> set[str]:
    answer = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": PK}},
    )
    return {item["sk"]["S"] for item in answer["Items"]}


def test_an_execution_whose_request_was_deleted_leaves_no_variant_items(dynamodb: Any) -> None:
    put_variant(dynamodb, "a", ARN)
    put_variant(dynamodb, "b", ARN)

    result = close_run(detail("FAILED"), table_name=TABLE, dynamodb=dynamodb)

    assert (result.outcome, result.removed_variants) == ("already_final", 2)
    assert partition(dynamodb) == set()


def test_an_execution_that_lost_its_run_removes_only_its_own_variant_items(
    dynamodb: Any,
) -> None:
    newer = ARN + "-newer"
    put_run(dynamodb, "RUNNING", newer)
    put_variant(dynamodb, "a", newer)  # the re-run's
    put_variant(dynamodb, "b", ARN)  # the stale attempt's, which the re-run does not have

    result = close_run(detail("FAILED"), table_name=TABLE, dynamodb=dynamodb)

    assert (result.outcome, result.removed_variants) == ("already_final", 1)
    assert partition(dynamodb) == {"REQUEST", "VARIANT#a"}


def test_the_variant_items_of_a_run_its_execution_ended_are_its_record(dynamodb: Any) -> None:
    put_run(dynamodb, "FAILED")  # RecordFailure wrote it: the run and its variants stay
    put_variant(dynamodb, "a", ARN)

    result = close_run(detail("FAILED"), table_name=TABLE, dynamodb=dynamodb)

    assert (result.outcome, result.removed_variants) == ("already_final", 0)
    assert partition(dynamodb) == {"REQUEST", "VARIANT#a"}


def test_an_execution_whose_input_names_no_run_closes_nothing(dynamodb: Any) -> None:
    put_run(dynamodb, "RUNNING")
    result = close_run(detail(input='{"not": "a pipe batch"}'), table_name=TABLE, dynamodb=dynamodb)
    assert result.outcome == "not_a_run"
    assert request_item(dynamodb)["status"] == "RUNNING"


def test_a_status_that_closes_nothing_is_ignored_without_a_write(dynamodb: Any) -> None:
    put_run(dynamodb, "RUNNING")
    assert close_run(detail("SUCCEEDED"), table_name=TABLE, dynamodb=dynamodb).outcome == "ignored"
    assert request_item(dynamodb)["status"] == "RUNNING"


class FakeStepFunctions:
    """Answers DescribeExecution with the input the event left out."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.asked.append(executionArn)
        return {"executionArn": executionArn, "input": json.dumps([{"pk": PK}])}


def test_an_input_left_out_of_the_event_is_read_with_describe_execution(dynamodb: Any) -> None:
    put_run(dynamodb, "RUNNING")
    sfn = FakeStepFunctions()
    result = close_run(
        detail(input=None, inputDetails={"included": False}),
        table_name=TABLE,
        dynamodb=dynamodb,
        stepfunctions=sfn,
    )
    assert (result.outcome, sfn.asked) == ("closed", [ARN])


def test_a_service_error_propagates_so_that_the_invoke_is_retried(dynamodb: Any) -> None:
    put_run(dynamodb, "RUNNING")
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        close_run(detail(), table_name="no-such-table", dynamodb=dynamodb)


@pytest.mark.parametrize(
    "text", [None, "", "not json", "[]", "[1]", '[{"pk": 3}]', '[{"pk": ""}]', '{"pk": "RUN#x"}']
)
def test_run_pk_is_none_for_anything_but_a_pipe_batch_with_a_pk(text: str | None) -> None:
    assert run_pk(text) is None


def test_finished_at_without_a_stop_date_is_now() -> None:
    now = dt.datetime(2026, 12, 3, 1, 2, 3, 456000, dt.UTC)
    assert finished_at(detail(stopDate=None), now) == "2026-12-03T01:02:03.456Z"
