"""The loopback patch, proved through boto3 against moto."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from patch_helpers import (
    aws,
)

from runledger_cli.sam_template import table_schema
from runledger_local.patches import local_aws


@contextlib.contextmanager
def refused_url() -> Iterator[str]:
    """A URL whose port is held bound and never listened on: a connection to it is
    refused, and no other process can take the port meanwhile (a free port that is
    closed again can be taken: another test worker's server once answered on one)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


# ---------------------------------------------------------------------------- loopback
def test_loopback_serves_this_processs_requests_to_the_server_without_a_socket(
    aws_credentials: None,
) -> None:
    from botocore.config import Config
    from botocore.exceptions import ClientError, EndpointConnectionError

    # Nothing listens on these ports: only an in-process answer can succeed.
    with refused_url() as silent, refused_url() as elsewhere:
        with mock_aws(), local_aws(adapters=["loopback"], endpoint_url=silent):
            dynamodb = aws("dynamodb", silent)
            dynamodb.create_table(TableName="loop", **table_schema())
            key = {"pk": {"S": "RUN#1"}, "sk": {"S": "REQUEST"}}
            dynamodb.put_item(TableName="loop", Item={**key, "n": {"N": "1"}})
            # The ASL engine calls http://localhost:$MOTO_PORT: the same server.
            same_server = aws("dynamodb", silent.replace("127.0.0.1", "localhost"))
            item = same_server.get_item(TableName="loop", Key=key)["Item"]
            with pytest.raises(ClientError) as missing:
                dynamodb.get_item(TableName="absent", Key=key)
            s3 = aws("s3", silent)  # REST, path-style, a streamed answer
            s3.create_bucket(Bucket="loop")
            odd_key = "a/b c+d%2F é.txt"  # moto must see the undecoded path, as from a socket
            s3.put_object(Bucket="loop", Key=odd_key, Body=b"\x00bytes")
            body = s3.get_object(Bucket="loop", Key=odd_key)["Body"].read()
            head = s3.head_object(Bucket="loop", Key=odd_key)
            listed = [o["Key"] for o in s3.list_objects_v2(Bucket="loop", Prefix="a/")["Contents"]]
            once = Config(retries={"total_max_attempts": 1})
            misrouted = boto3.client(
                "dynamodb", endpoint_url=f"{silent}/no/such/route", config=once
            )
            with pytest.raises(ClientError) as unrouted:  # answered by the server's own app
                misrouted.list_tables()
            with pytest.raises(EndpointConnectionError):  # another port goes over the network
                boto3.client("dynamodb", endpoint_url=elsewhere, config=once).list_tables()
        with pytest.raises(EndpointConnectionError):  # undone: the socket again
            boto3.client("dynamodb", endpoint_url=silent, config=once).list_tables()

    assert item["n"] == {"N": "1"}
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert unrouted.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert body == b"\x00bytes"
    assert head["ContentLength"] == len(b"\x00bytes")
    assert listed == [odd_key]
