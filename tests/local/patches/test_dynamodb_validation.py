"""The dynamodb_validation and dynamodb_task_errors patches: DynamoDB refuses what AWS
refuses, a failed UpdateItem changes nothing, and a task names the error as AWS does."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from patch_helpers import REGION, aws, create_runs_table, create_state_machine, run_execution

from runledger_local.patches import LocalCloud
from runledger_local.patches.fixes.dynamodb_task_errors import error_name

KEY = {"pk": {"S": "RUN#v"}, "sk": {"S": "REQUEST"}}


def unvalidated() -> Any:
    """A client that sends what it is given, as Step Functions' SDK does (botocore would
    refuse some of these before they left)."""
    return boto3.client("dynamodb", region_name=REGION, config=Config(parameter_validation=False))


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "x"}
    for _ in range(levels):
        value = {"M": {"a": value}}
    return value


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ({"N": "NaN"}, "The parameter cannot be converted to a numeric value: NaN"),
        ({"N": "1" * 39}, "Attempting to store more than 38 significant digits in a Number"),
        ({"NS": ["1", "1E+126"]}, "Number overflow. Attempting to store a number with magnitude"),
        ({"N": "1E-131"}, "Number underflow. Attempting to store a number with magnitude"),
        (nested(33), "Nesting Levels have exceeded supported limits"),
        ({"L": [nested(32)]}, "Nesting Levels have exceeded supported limits"),
        # Found by the fuzz tier (tests/fuzz): moto crashed on the first two (StopIteration;
        # IndexError inside a map), kept one type of the third and stored the others.
        ({}, "Supplied AttributeValue is empty, must contain exactly one of the supported"),
        ({"M": {"a": {}}}, "Supplied AttributeValue is empty"),
        ({"S": "REQUESTED", "N": "1"}, "Supplied AttributeValue has more than one datatypes set"),
        ({"BS": []}, "1 validation error detected: One or more parameter values were invalid: "
                     "An binary set  may not be empty"),
        ({"SS": ["x", "x"]}, "One or more parameter values were invalid: Input collection [x, x] "
                             "contains duplicates."),
        ({"NS": ["1", "1.0"]}, "One or more parameter values were invalid: Input collection"),
        ({"L": [{"BS": [b"x", b"x"]}]}, "One or more parameter values were invalid: Input "
                                        "collection [eA==, eA==] contains duplicates."),
        ({"N": "1_000"}, "The parameter cannot be converted to a numeric value: 1_000"),
        # Found by the fuzz tier: moto checks NULL only at the top of an item.
        ({"L": [{"NULL": False}]}, "One or more parameter values were invalid: Null attribute "
                                   "value types must have the value of true"),
        ({"M": {"a": {"NULL": False}}}, "One or more parameter values were invalid: Null"),
    ],
)  # fmt: skip
def test_dynamodb_validation_refuses_values_aws_refuses_in_put_and_update(
    local_cloud: LocalCloud, attribute: dict[str, Any], message: str
) -> None:
    ddb = unvalidated()
    create_runs_table(ddb)
    ddb.put_item(TableName="runs", Item=KEY)

    with pytest.raises(ClientError) as put:
        ddb.put_item(TableName="runs", Item={**KEY, "v": attribute})
    with pytest.raises(ClientError) as update:
        ddb.update_item(
            TableName="runs",
            Key=KEY,
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": attribute},
        )

    for raised in (put, update):
        assert raised.value.response["Error"]["Code"] == "ValidationException"
        assert raised.value.response["Error"]["Message"].startswith(message)
    assert ddb.get_item(TableName="runs", Key=KEY)["Item"] == KEY  # nothing written


def test_dynamodb_validation_accepts_what_aws_accepts(local_cloud: LocalCloud) -> None:
    ddb = unvalidated()
    create_runs_table(ddb)
    item = {
        **KEY,
        "digits": {"N": "1" * 38},
        "trailing": {"N": "1" + "0" * 100},  # one significant digit
        "tiny": {"N": "1E-130"},
        "deep": nested(32),
        "zero": {"N": "0.000"},
        "set with an empty string": {"SS": ["", "x"]},
        "numbers": {"NS": ["1", "1.5", "+2", "3e2"]},
    }

    ddb.put_item(TableName="runs", Item=item)

    assert ddb.get_item(TableName="runs", Key=KEY)["Item"].keys() == item.keys()


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            {"op": "put_item", "TableName": "runs"},
            "1 validation error detected: Value null at 'item' failed to satisfy "
            "constraint: Member must not be null",
        ),
        (
            {"op": "put_item", "TableName": "/runs", "Item": KEY},
            "1 validation error detected: Value '/runs' at 'tableName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ),
        (
            {"op": "put_item", "TableName": "runs", "Item": {**KEY, "": {"S": "x"}}},
            "One or more parameter values were invalid: An attribute name may not be empty",
        ),
        (
            {"op": "update_item", "TableName": "runs", "Key": {**KEY, "pk": {"S": ""}},
             "UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}},
            "One or more parameter values were invalid: An AttributeValue may not contain an "
            "empty string. Key: pk",
        ),
    ],
)  # fmt: skip
def test_dynamodb_validation_refuses_requests_aws_refuses(
    local_cloud: LocalCloud, request_: dict[str, Any], message: str
) -> None:
    ddb = unvalidated()
    create_runs_table(ddb)
    request = dict(request_)
    operation = getattr(ddb, request.pop("op"))

    with pytest.raises(ClientError) as raised:
        operation(**request)

    assert raised.value.response["Error"] == {"Message": message, "Code": "ValidationException"}


def test_dynamodb_validation_an_update_that_fails_part_way_applies_nothing(
    local_cloud: LocalCloud,
) -> None:
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    ddb.put_item(TableName="runs", Item={**KEY, "n": {"N": "1"}})
    missing = {"pk": {"S": "RUN#none"}, "sk": {"S": "REQUEST"}}

    for key in (KEY, missing):
        with pytest.raises(ClientError, match="incorrect data type"):
            ddb.update_item(  # the SET is fine; the ADD of a string to a number is not
                TableName="runs",
                Key=key,
                UpdateExpression="SET a = :a ADD n :s",
                ExpressionAttributeValues={":a": {"S": "set"}, ":s": {"S": "text"}},
            )

    # moto kept the SET (and created the missing item); AWS applies all or nothing.
    assert ddb.get_item(TableName="runs", Key=KEY)["Item"] == {**KEY, "n": {"N": "1"}}
    assert "Item" not in ddb.get_item(TableName="runs", Key=missing)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("ConditionalCheckFailedException", "DynamoDB.ConditionalCheckFailedException"),
        ("RequestLimitExceeded", "DynamoDB.RequestLimitExceededException"),
        ("InternalServerError", "DynamoDB.InternalServerErrorException"),
        ("ValidationException", "DynamoDB.AmazonDynamoDBException"),
    ],
)
def test_dynamodb_task_errors_names_follow_the_sdk_classes(code: str, name: str) -> None:
    assert error_name(code) == name


def test_dynamodb_task_errors_a_put_item_task_without_item_fails_as_recorded_on_aws(
    local_cloud: LocalCloud,
) -> None:
    create_runs_table(aws("dynamodb"))
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "put-without-item",
        {
            "StartAt": "Put",
            "States": {
                "Put": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:putItem",
                    "Parameters": {"TableName": "runs", "Item.$": "$.missing"},
                    "End": True,
                }
            },
        },
    )

    described = run_execution(sfn, arn, {"missing": None})

    # AWS (LocalStack's AWS-validated snapshot error_handling/test_task_service_dynamodb::
    # test_invalid_param): the generic SDK class, and DynamoDB's own message.
    assert described["status"] == "FAILED"
    assert described["error"] == "DynamoDB.AmazonDynamoDBException"
    assert described["cause"].startswith(
        "1 validation error detected: Value null at 'item' failed to satisfy constraint: "
        "Member must not be null (Service: AmazonDynamoDBv2; Status Code: 400; "
        "Error Code: ValidationException;"
    ), json.dumps(described["cause"])


def test_dynamodb_consumed_capacity_is_answered_only_when_asked(local_cloud: LocalCloud) -> None:
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    update = {
        "TableName": "runs",
        "Key": KEY,
        "UpdateExpression": "SET a = :a",
        "ExpressionAttributeValues": {":a": {"S": "x"}},
    }

    plain = ddb.update_item(**update)
    asked = ddb.update_item(**update, ReturnConsumedCapacity="TOTAL")

    # AWS: UpdateItem API reference, ConsumedCapacity "returned only if the
    # ReturnConsumedCapacity parameter was specified".
    assert "ConsumedCapacity" not in plain
    assert asked["ConsumedCapacity"]["TableName"] == "runs"
