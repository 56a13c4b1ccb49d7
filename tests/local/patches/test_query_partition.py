"""The query_partition patch, proved through boto3 against moto."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from moto import mock_aws
from patch_helpers import (
    aws,
)

from runledger_local.patches import local_aws


def test_fast_responses_query_reads_one_partition_and_answers_as_moto(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models.table import Table

    def queries() -> tuple[list[Any], int]:
        ddb = aws("dynamodb")
        ddb.create_table(
            TableName="runs",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-status",
                    "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for run in range(4):
            for sk in ("REQUEST", "VARIANT#b", "VARIANT#a", "VARIANT#c"):
                ddb.put_item(
                    TableName="runs",
                    Item={
                        "pk": {"S": f"RUN#{run}"},
                        "sk": {"S": sk},
                        "status": {"S": "FAILED" if sk == "VARIANT#b" else "SUCCEEDED"},
                        "n": {"N": str(run)},
                    },
                )
        visited = Counter[str]()
        all_items = Table.all_items

        def counted(self: Any) -> Any:
            visited["all_items"] += 1
            return all_items(self)

        monkeypatch.setattr(Table, "all_items", counted)
        one = {":pk": {"S": "RUN#2"}}
        asked: list[dict[str, Any]] = [
            {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": one},
            {
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :v)",
                "ExpressionAttributeValues": {**one, ":v": {"S": "VARIANT#"}},
                "ScanIndexForward": False,
            },
            {
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {**one, ":s": {"S": "FAILED"}},
                "FilterExpression": "#s = :s",
                "ExpressionAttributeNames": {"#s": "status"},
                "ProjectionExpression": "sk, n",
            },
            {
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "RUN#none"}},
            },
        ]
        answers: list[Any] = []
        for arguments in asked:
            answer = ddb.query(TableName="runs", **arguments)
            answers.append((answer["Items"], answer["Count"], answer["ScannedCount"]))
        pages = ddb.get_paginator("query").paginate(
            TableName="runs",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=one,
            PaginationConfig={"PageSize": 3},
        )
        answers.append([page["Items"] for page in pages])
        base_visits = visited["all_items"]
        index = ddb.query(
            TableName="runs",
            IndexName="by-status",
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "FAILED"}},
        )
        answers.append(sorted(item["pk"]["S"] for item in index["Items"]))
        monkeypatch.setattr(Table, "all_items", all_items)
        return answers, base_visits

    with mock_aws():
        motos, moto_visits = queries()
    with mock_aws(), local_aws():
        ours, our_visits = queries()

    assert ours == motos
    assert [item["sk"]["S"] for item in ours[0][0]] == [
        "REQUEST",
        "VARIANT#a",
        "VARIANT#b",
        "VARIANT#c",
    ]
    assert [len(page) for page in ours[4]] == [3, 1]
    assert ours[5] == ["RUN#0", "RUN#1", "RUN#2", "RUN#3"]
    assert moto_visits > 0  # moto lists the whole table for each of them
    assert our_visits == 0  # the adaptation reads the one partition
