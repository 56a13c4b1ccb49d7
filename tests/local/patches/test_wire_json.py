"""The wire_json patch, proved through boto3 against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from patch_helpers import (
    aws,
    create_state_machine,
    history,
    run_execution,
)

from runledger_cli.sam_template import table_schema
from runledger_local.patches import LocalCloud
from runledger_local.patches.speed import wire_json


# ---------------------------------------------------------------------- fast_responses
def test_fast_responses_answer_exactly_what_motos_serializer_would(
    server_cloud: LocalCloud, moto_endpoint: str
) -> None:
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.stepfunctions.responses import StepFunctionResponse

    compared: list[tuple[str, Any, Any]] = []

    def spy(handler: type) -> Any:
        fast = handler.serialized

        def serialized(self: Any, result: Any) -> Any:
            answer = fast(self, result)
            _, _, reference = BaseResponse.serialized(self, result)  # moto's own serializer
            compared.append((self._get_action(), json.loads(answer[2]), json.loads(reference)))
            return answer

        return serialized

    with pytest.MonkeyPatch.context() as patch:
        for handler in (DynamoHandler, DynamoDBStreamsHandler, StepFunctionResponse):
            patch.setattr(handler, "serialized", spy(handler))
        dynamodb = aws("dynamodb", moto_endpoint)
        table = dynamodb.create_table(TableName="wire", **table_schema())["TableDescription"]
        item = {
            "pk": {"S": "RUN#1"},
            "sk": {"S": "REQUEST"},
            "n": {"N": "1.5"},
            "blob": {"B": b"\x00\xffbytes"},
            "list": {"L": [{"NULL": True}, {"BOOL": False}, {"NS": ["1", "2"]}]},
            "map": {"M": {"ss": {"SS": ["a", "b"]}, "bs": {"BS": [b"x"]}}},
        }
        key = {"pk": item["pk"], "sk": item["sk"]}
        dynamodb.put_item(TableName="wire", Item=item)
        dynamodb.update_item(
            TableName="wire",
            Key=key,
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "2"}},
            ReturnValues="ALL_NEW",
        )
        dynamodb.get_item(TableName="wire", Key=key)
        dynamodb.query(
            TableName="wire",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": item["pk"]},
            ReturnConsumedCapacity="TOTAL",
        )
        dynamodb.scan(TableName="wire", Limit=1)
        dynamodb.batch_get_item(RequestItems={"wire": {"Keys": [key]}})
        dynamodb.delete_item(TableName="wire", Key=key, ReturnValues="ALL_OLD")
        streams = aws("dynamodbstreams", moto_endpoint)
        arn = table["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        sfn = aws("stepfunctions", moto_endpoint)
        machine = create_state_machine(
            sfn,
            "wire",
            {
                "QueryLanguage": "JSONata",
                "StartAt": "Each",
                "States": {
                    "Each": {
                        "Type": "Map",
                        "Items": "{% $states.input.items %}",
                        "ItemProcessor": {
                            "StartAt": "Double",
                            "States": {
                                "Double": {
                                    "Type": "Pass",
                                    "Output": "{% $states.input * 2 %}",
                                    "End": True,
                                }
                            },
                        },
                        "Next": "Stop",
                    },
                    "Stop": {"Type": "Fail", "Error": "Wire.Error", "Cause": "to compare"},
                },
            },
        )
        failed = run_execution(sfn, machine, {"items": [1, 2, 3]})
        events = history(sfn, failed["executionArn"])

    assert failed["status"] == "FAILED"
    assert events[-1]["executionFailedEventDetails"]["error"] == "Wire.Error"
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert records[0]["dynamodb"]["NewImage"]["blob"] == {"B": b"\x00\xffbytes"}
    fast_paths = {op for ops in wire_json.WIRE_SHAPED.values() for op in ops}
    assert {action for action, _, _ in compared} >= fast_paths  # each one exercised
    for action, fast, reference in compared:
        assert fast == reference, action
