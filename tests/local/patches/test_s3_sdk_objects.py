"""The s3_sdk_objects patch, proved through boto3 against moto.

Expected answers: LocalStack's AWS-validated test_s3_get_object[str|binary] and
test_s3_put_object[str|dict|list|bool|num] (recorded 2024): the outputs below are AWS's,
``LastModified`` aside, and the stored bodies are the texts whose MD5s are AWS's ETags.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from patch_helpers import aws, create_state_machine, output, run_execution

from runledger_local.patches import LocalCloud
from runledger_local.patches.fixes.s3_sdk_objects import as_aws_answers


def _task(action: str, **parameters: str) -> dict[str, Any]:
    task = {
        "Type": "Task",
        "Resource": f"arn:aws:states:::aws-sdk:s3:{action}",
        "Parameters": {"Bucket.$": "$.Bucket", "Key.$": "$.Key", **parameters},
        "End": True,
    }
    return {"StartAt": "S3", "States": {"S3": task}}


@pytest.mark.parametrize(
    ("body", "etag"),
    [
        ("text data", "332eec544317a6d340b8e77da7fe54ad"),
        (b"binary data", "e1a49b59e0c42e4fd3735ad644f25d57"),
    ],
    ids=["str", "binary"],
)
def test_s3_sdk_objects_get_object_answers_as_aws_recorded(
    local_cloud: LocalCloud, body: str | bytes, etag: str
) -> None:
    s3, sfn = aws("s3"), aws("stepfunctions")
    s3.create_bucket(Bucket="bucket-name")
    s3.put_object(Bucket="bucket-name", Key="file_key", Body=body)  # botocore sends a CRC32
    arn = create_state_machine(sfn, "get-object", _task("getObject"))

    answer = output(run_execution(sfn, arn, {"Bucket": "bucket-name", "Key": "file_key"}))

    assert isinstance(answer.pop("LastModified"), int)  # AWS: an ISO-8601 string
    text = body if isinstance(body, str) else body.decode()
    assert answer == {
        "AcceptRanges": "bytes",
        "ContentLength": len(text),
        "ContentType": "binary/octet-stream",
        "ETag": f'"{etag}"',
        "Metadata": {},
        "ServerSideEncryption": "AES256",
        "Body": text,
    }


@pytest.mark.parametrize(
    ("body", "stored", "etag"),
    [
        ("text data", b'"text data"', "2b5df3712557f503a9977a8ea893b2c9"),
        ({"Dict": "Value"}, b'{"Dict":"Value"}', "49e31cee5aec8faf3345893addb14346"),
        (["List", "Data"], b'["List","Data"]', "6b23860357f6e63a0272b7f1143a663a"),
        (False, b"false", "68934a3e9455fa72420237eb05902327"),
        (0, b"0", "cfcd208495d565ef66e7dff9f98764da"),
    ],
    ids=["str", "dict", "list", "bool", "num"],
)
def test_s3_sdk_objects_put_object_answers_and_stores_as_aws_recorded(
    local_cloud: LocalCloud, body: Any, stored: bytes, etag: str
) -> None:
    s3, sfn = aws("s3"), aws("stepfunctions")
    s3.create_bucket(Bucket="bucket-name")
    arn = create_state_machine(sfn, "put-object", _task("putObject", **{"Body.$": "$.Body"}))

    answer = output(
        run_execution(sfn, arn, {"Bucket": "bucket-name", "Key": "file-key", "Body": body})
    )

    assert answer == {"ETag": f'"{etag}"', "ServerSideEncryption": "AES256"}
    assert s3.get_object(Bucket="bucket-name", Key="file-key")["Body"].read() == stored


def test_s3_sdk_objects_keeps_a_checksum_the_request_asked_for(local_cloud: LocalCloud) -> None:
    s3, sfn = aws("s3"), aws("stepfunctions")
    s3.create_bucket(Bucket="bucket-name")
    s3.put_object(Bucket="bucket-name", Key="file_key", Body=b"data", ChecksumAlgorithm="CRC32")
    arn = create_state_machine(sfn, "get-checksum", _task("getObject", ChecksumMode="ENABLED"))

    answer = output(run_execution(sfn, arn, {"Bucket": "bucket-name", "Key": "file_key"}))

    assert "ChecksumCrc32" in json.dumps(answer)


def test_as_aws_answers_leaves_other_actions_and_other_encryptions_alone() -> None:
    listed: dict[str, Any] = {"Contents": [], "ChecksumCRC32": "x"}
    as_aws_answers("list_objects_v2", {}, listed)
    assert listed == {"Contents": [], "ChecksumCRC32": "x"}

    kms: dict[str, Any] = {"ETag": '"e"', "ServerSideEncryption": "aws:kms"}
    as_aws_answers("put_object", {"ChecksumAlgorithm": "SHA256"}, kms)
    assert kms == {"ETag": '"e"', "ServerSideEncryption": "aws:kms"}
