"""The aws_sdk_errors patch: aws-sdk task errors carry the SDK's service name, as on AWS."""

from __future__ import annotations

import json
import re

import pytest
from patch_helpers import aws, create_state_machine, run_execution

from runledger_local.patches import LocalCloud
from runledger_local.patches.fixes.aws_sdk_errors import sdk_service_name


@pytest.mark.parametrize(
    ("asl_service", "sdk_name"),
    [
        ("s3", "S3"),
        ("secretsmanager", "SecretsManager"),
        ("dynamodb", "DynamoDb"),  # recorded: DynamoDb.DynamoDbException
        ("sfn", "Sfn"),
        ("sqs", "Sqs"),
        ("ec2", "Ec2"),
        ("logs", "CloudWatchLogs"),
        ("no-such-service", "no-such-service"),
    ],
)
def test_aws_sdk_errors_service_names_are_the_java_sdk_names(
    asl_service: str, sdk_name: str
) -> None:
    assert sdk_service_name(asl_service) == sdk_name


def test_aws_sdk_errors_a_missing_s3_bucket_is_caught_as_s3_no_such_bucket(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "no-such-bucket",
        {
            "StartAt": "List",
            "States": {
                "List": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:listObjects",
                    "Parameters": {"Bucket": "no-such-bucket"},
                    "Catch": [
                        {
                            "ErrorEquals": ["S3.NoSuchBucketException"],
                            "ResultPath": "$.error",
                            "Next": "Caught",
                        }
                    ],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        },
    )

    described = run_execution(sfn, arn, {})

    # AWS (LocalStack's AWS-validated snapshot error_handling/test_aws_sdk::
    # test_no_such_bucket): the Catch on S3.NoSuchBucketException fires, and the cause
    # has S3's request ids.
    assert described["status"] == "SUCCEEDED", described
    error = json.loads(described["output"])["error"]
    assert error["Error"] == "S3.NoSuchBucketException"
    assert re.fullmatch(
        r"The specified bucket does not exist \(Service: S3, Status Code: 404, "
        r"Request ID: \S+, Extended Request ID: [A-Za-z0-9+/=]+\)",
        error["Cause"],
    ), error["Cause"]
