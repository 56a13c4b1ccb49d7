"""The dynamodb_items patch, proved through boto3 against moto."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from typing import Any

import pytest
from moto import mock_aws
from patch_helpers import (
    aws,
    create_runs_table,
)

from runledger_local.patches import LocalCloud, local_aws


def test_fast_responses_projection_returns_only_the_projected_paths(
    local_cloud: LocalCloud,
) -> None:
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    key = {"pk": {"S": "RUN#p"}, "sk": {"S": "REQUEST"}}
    ddb.put_item(
        TableName="runs",
        Item={
            **key,
            "status": {"S": "RUNNING"},
            "cost": {"M": {"total": {"N": "1.5"}, "by_service": {"M": {"batch": {"N": "1"}}}}},
            "variants": {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]},
            "big": {"S": "x" * 1000},
        },
    )

    def projected(expression: str, names: dict[str, str] | None = None) -> dict[str, Any]:
        extra = {"ExpressionAttributeNames": names} if names else {}
        answer = ddb.get_item(TableName="runs", Key=key, ProjectionExpression=expression, **extra)
        return dict(answer["Item"])

    assert projected("pk, #s", {"#s": "status"}) == {"pk": key["pk"], "status": {"S": "RUNNING"}}
    assert projected("cost.by_service.batch") == {
        "cost": {"M": {"by_service": {"M": {"batch": {"N": "1"}}}}}
    }
    assert projected("variants[1], #c.total", {"#c": "cost"}) == {
        "variants": {"L": [{"S": "b"}]},
        "cost": {"M": {"total": {"N": "1.5"}}},
    }
    assert projected("absent") == {}
    statuses = ddb.batch_get_item(
        RequestItems={
            "runs": {
                "Keys": [key],
                "ProjectionExpression": "#s",
                "ExpressionAttributeNames": {"#s": "status"},
            }
        }
    )["Responses"]["runs"]
    assert statuses == [{"status": {"S": "RUNNING"}}]


def test_fast_responses_check_an_items_size_once_and_still_refuse_a_large_item(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    checks = Counter[str]()
    original = LimitedSizeDict.__setitem__

    def counted(self: LimitedSizeDict, key: str, value: Any) -> None:
        checks[key] += 1
        original(self, key, value)

    monkeypatch.setattr(LimitedSizeDict, "__setitem__", counted)
    attrs = {f"a{n:02d}": {"M": {"n": {"N": str(n)}, "s": {"SS": ["x", "y"]}}} for n in range(40)}
    with mock_aws(), local_aws(adapters=["dynamodb_items"]):
        item = Item(DynamoType({"S": "RUN#1"}), DynamoType({"S": "REQUEST"}), attrs)
        # one size check, made as the last attribute is set, instead of one per attribute
        assert checks == {"a39": 1}
        assert list(item.attrs) == list(attrs)
        assert item.to_json()["Attributes"] == attrs

        ddb = aws("dynamodb")
        create_runs_table(ddb)
        key = {"pk": {"S": "RUN#1"}, "sk": {"S": "REQUEST"}}
        ddb.put_item(TableName="runs", Item={**key, **attrs})
        assert ddb.get_item(TableName="runs", Key=key)["Item"] == {**key, **attrs}
        # moto's limit, 405,000 bytes, still holds for the item as a whole
        chunk = "x" * 100_000
        ddb.put_item(TableName="runs", Item={**key, **{f"c{n}": {"S": chunk} for n in range(4)}})
        with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
            ddb.put_item(
                TableName="runs", Item={**key, **{f"c{n}": {"S": chunk} for n in range(5)}}
            )


def test_fast_responses_parse_an_update_expression_once_and_apply_it_to_each_item(
    local_cloud: LocalCloud,
) -> None:
    from botocore.exceptions import ClientError
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    expression = "SET #s = :s, n = if_not_exists(n, :zero) + :one REMOVE gone"
    assert UpdateExpressionParser.make(expression) is UpdateExpressionParser.make(expression)
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    for pk in ("RUN#a", "RUN#b"):
        ddb.put_item(
            TableName="runs", Item={"pk": {"S": pk}, "sk": {"S": "REQUEST"}, "gone": {"S": "x"}}
        )
    for pk, status, times in (("RUN#a", "one", 1), ("RUN#b", "two", 2), ("RUN#a", "three", 1)):
        for _ in range(times):
            ddb.update_item(
                TableName="runs",
                Key={"pk": {"S": pk}, "sk": {"S": "REQUEST"}},
                UpdateExpression=expression,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":s": {"S": status},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                },
            )
    items = {
        item["pk"]["S"]: item
        for item in ddb.scan(TableName="runs")["Items"]  # the shared tree kept no values
    }
    assert items["RUN#a"] == {
        "pk": {"S": "RUN#a"},
        "sk": {"S": "REQUEST"},
        "status": {"S": "three"},
        "n": {"N": "2"},
    }
    assert items["RUN#b"]["status"] == {"S": "two"}
    assert items["RUN#b"]["n"] == {"N": "2"}
    for _ in range(2):  # a bad expression is not cached: it fails every time
        with pytest.raises(ClientError, match="ValidationException"):
            ddb.update_item(
                TableName="runs",
                Key={"pk": {"S": "RUN#a"}, "sk": {"S": "REQUEST"}},
                UpdateExpression="SET = :s",
                ExpressionAttributeValues={":s": {"S": "x"}},
            )


def test_fast_responses_projection_reads_an_item_another_thread_is_updating(
    local_cloud: LocalCloud,
) -> None:
    # A status poll projects the REQUEST item while the workflow's UpdateItem adds
    # attributes to it: the projection must not iterate the live attribute dict.
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    item = Item(
        DynamoType({"S": "RUN#p"}),
        DynamoType({"S": "REQUEST"}),
        {f"a{n}": {"S": "x"} for n in range(50)} | {"status": {"S": "RUNNING"}},
    )
    stop = threading.Event()

    def update() -> None:
        while not stop.is_set():
            item.attrs["extra"] = DynamoType({"S": "y"})
            item.attrs.pop("extra", None)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    writer = threading.Thread(target=update)
    writer.start()
    try:
        for _ in range(3000):
            assert item.project([["status"]]).attrs == {"status": DynamoType({"S": "RUNNING"})}
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(previous)
