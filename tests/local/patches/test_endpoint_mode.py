"""The endpoint_mode patch, proved through boto3 against moto."""

from __future__ import annotations

import os

from moto import mock_aws
from patch_helpers import (
    aws,
    create_runs_table,
)

from runledger_local.patches import LocalCloud, local_aws


# ----------------------------------------------------------------------- endpoint_mode
def test_endpoint_mode_lets_dynamodb_streams_calls_reach_moto(local_cloud: LocalCloud) -> None:
    assert os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    ddb.put_item(TableName="runs", Item={"pk": {"S": "RUN#1"}, "sk": {"S": "REQUEST"}})
    stream_arn = ddb.describe_table(TableName="runs")["Table"]["LatestStreamArn"]

    streams = aws("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]

    assert [r["eventName"] for r in records] == ["INSERT"]


def test_endpoint_mode_is_restored_after_the_local_cloud(aws_credentials: None) -> None:
    before = os.environ.get("AWS_ACCOUNT_ID_ENDPOINT_MODE")
    with mock_aws(), local_aws(adapters=["endpoint_mode"]):
        assert os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"
    assert os.environ.get("AWS_ACCOUNT_ID_ENDPOINT_MODE") == before
