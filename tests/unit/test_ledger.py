"""runledger_cli.ledger: a run as the runs table holds it, and the table of a stack.

Reads go to moto's DynamoDB (a table made from template.yaml's schema); the stack's outputs
come through botocore's Stubber, which checks every request against the service model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from runledger.dynamo import to_dynamodb_json
from runledger_cli import ledger
from runledger_cli.ledger import LedgerError, RunRecord, table_from_stack, table_output_key
from runledger_cli.sam_template import load_both

TABLE = "runs-test"  # the dynamodb fixture's (conftest.py)


def put(dynamodb: Any, **item: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item=to_dynamodb_json(item))


# --------------------------------------------------------------------------- the record


def test_a_run_is_read_from_its_request_item() -> None:
    item = {
        "pk": "RUN#r1",
        "sk": "REQUEST",
        "status": "SUCCEEDED",
        "workflow": "kmer-count",
        "cost_center": "lab",
        "claimed_at": "2026-11-23T23:59:59.000Z",
        "started_at": "2026-11-24T00:00:01.000+00:00",
        "finished_at": "2026-11-24T00:04:00Z",
        "variants": [{"name": "a", "vcpus": 1, "memory_mib": 2048, "capacity": "SPOT"}],
        "cost": {"total_usd": 0.5, "breakdown": {"batch": 0.4}},
    }
    found = RunRecord.from_item(item)
    assert (found.run_id, found.day, found.last_day) == (
        "r1",
        dt.date(2026, 11, 24),
        dt.date(2026, 11, 24),
    )
    assert (found.estimate_usd, found.batch_estimate_usd) == (0.5, 0.4)
    assert found.requested["a"]["capacity"] == "SPOT"
    invalid = RunRecord.from_item({"pk": "RUN#r2", "status": "INVALID", "claimed_at": "bad date"})
    assert (invalid.day, invalid.estimate_usd, invalid.requested) == (None, None, {})


def test_a_run_without_a_request_item_has_an_empty_request() -> None:
    record = RunRecord.from_items("gone", [])
    assert (record.run_id, record.request, record.variants, record.status) == ("gone", {}, {}, "?")
    assert (record.cost, record.started_at, record.day) == (None, None, None)


# --------------------------------------------------------------------------- reads


def test_read_run_keeps_the_owning_executions_variants_in_plain_values(dynamodb: Any) -> None:
    put(dynamodb, pk="RUN#r1", sk="REQUEST", status="SUCCEEDED", execution="arn:new",
        cost={"total_usd": 0.0013})  # fmt: skip
    put(dynamodb, pk="RUN#r1", sk="VARIANT#a", execution="arn:new", attempts=2)
    put(dynamodb, pk="RUN#r1", sk="VARIANT#b", execution="arn:old")  # an older claim's
    put(dynamodb, pk="RUN#r2", sk="REQUEST", status="REQUESTED")
    run = ledger.read_run(dynamodb, TABLE, "r1")
    assert run.run_id == "r1"
    assert run.status == "SUCCEEDED"
    assert run.cost == {"total_usd": 0.0013}
    assert type(run.cost["total_usd"]) is float
    assert list(run.variants) == ["a"]
    assert type(run.variants["a"]["attempts"]) is int
    assert {r.run_id: r.status for r in ledger.read_runs(dynamodb, TABLE)} == {
        "r1": "SUCCEEDED",
        "r2": "REQUESTED",
    }


def test_an_unknown_run_or_table_is_a_ledger_error_that_names_it(dynamodb: Any) -> None:
    with pytest.raises(LedgerError, match=r"^no run 'nope' in table runs-test \(no item pk=RUN#"):
        ledger.read_run(dynamodb, TABLE, "nope")
    with pytest.raises(LedgerError, match=r"^table other: ResourceNotFoundException"):
        ledger.read_run(dynamodb, "other", "r1")
    with pytest.raises(LedgerError, match=r"^table other: ResourceNotFoundException"):
        ledger.read_runs(dynamodb, "other")


def test_statuses_are_read_by_key_in_batches_of_a_hundred(dynamodb: Any) -> None:
    pks = [f"RUN#r{n}" for n in range(150)]
    for n, pk in enumerate(pks):
        put(dynamodb, pk=pk, sk="REQUEST", **({"status": "SUCCEEDED"} if n % 2 else {}))
    statuses = ledger.read_statuses(dynamodb, TABLE, [*pks, "RUN#missing"])
    assert len(statuses) == 150
    assert (statuses["RUN#r0"], statuses["RUN#r149"]) == ("", "SUCCEEDED")


# --------------------------------------------------------------------------- the stack


def test_the_stack_output_named_is_the_templates() -> None:
    assert table_output_key() == "RunsTableName"
    assert table_output_key() in load_both()[0]["Outputs"]


def test_table_comes_from_the_stack_output() -> None:
    client = boto3.client("cloudformation", region_name="us-east-1")
    stack = {"StackName": "runledger-dev", "CreationTime": dt.datetime(2026, 11, 1),
             "StackStatus": "CREATE_COMPLETE"}  # fmt: skip
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    stack
                    | {
                        "Outputs": [
                            {"OutputKey": "RunWorkflowArn", "OutputValue": "arn:aws:states:..."},
                            {
                                "OutputKey": "RunsTableName",
                                "OutputValue": "runledger-dev-RunsTable-1X2Y",
                            },
                        ]
                    }
                ]
            },
            {"StackName": "runledger-dev"},
        )
        stubber.add_response("describe_stacks", {"Stacks": [stack]})
        stubber.add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message="Stack with id nope does not exist",
        )
        assert table_from_stack(client, "runledger-dev") == "runledger-dev-RunsTable-1X2Y"
        with pytest.raises(LedgerError, match="has no output RunsTableName"):
            table_from_stack(client, "other")
        with pytest.raises(LedgerError, match="stack 'nope': ValidationError: Stack with id nope"):
            table_from_stack(client, "nope")


def test_a_stack_name_resolves_the_table_through_its_outputs() -> None:
    key = table_output_key()
    assert load_both()[0]["Outputs"][key]["Value"] == {"Ref": "RunsTable"}
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    with Stubber(cloudformation) as stub:
        outputs = [
            {"OutputKey": "Other", "OutputValue": "x"},
            {"OutputKey": key, "OutputValue": "t1"},
        ]
        stack: dict[str, Any] = {
            "StackName": "runledger-dev",
            "CreationTime": "2026-11-23T00:00:00Z",
            "StackStatus": "CREATE_COMPLETE",
            "Outputs": outputs,
        }
        stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "runledger-dev"})
        stub.add_client_error(
            "describe_stacks", "ValidationError", "Stack with id nope does not exist"
        )
        assert table_from_stack(cloudformation, "runledger-dev") == "t1"
        with pytest.raises(LedgerError, match=r"cannot read stack 'nope'.*does not exist"):
            table_from_stack(cloudformation, "nope")
