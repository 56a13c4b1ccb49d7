"""Fix: the optimised DynamoDB integration names errors by the AWS SDK's classes.

Step Functions reports a ``dynamodb:*`` task's error as ``DynamoDB.<class>``, where
``<class>`` is the exception class the AWS SDK inside Step Functions throws: a modelled
error of the DynamoDB API, with ``Exception`` added where its name lacks it
(``RequestLimitExceeded`` -> ``DynamoDB.RequestLimitExceededException``,
``InternalServerError`` -> ``DynamoDB.InternalServerErrorException``: the AWS SDK for
Java's classes and the Step Functions error-handling docs), and any other error, such as
``ValidationException``, as the SDK's generic ``DynamoDB.AmazonDynamoDBException``
(recorded on AWS: LocalStack's AWS-validated snapshot error_handling/
test_task_service_dynamodb, a putItem without Item and one with an invalid table name).
moto 5.2.5 reports ``DynamoDB.<error code>`` for every code (``DynamoDB.ValidationException``,
which no Catch written for AWS names). The cause is unchanged (it names the code). No moto
issue found. tests/infra/test_error_names.py holds the workflow's own names to the same
rule.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "dynamodb_task_errors"
DYNAMODB_TASK: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
    ".state_task_service_dynamodb"
)
_ERROR_CAUSE: Final = Seam(
    NAME,
    DYNAMODB_TASK,
    "StateTaskServiceDynamoDB._error_cause_from_client_error",
    ("client_error",),
)
SEAMS: Final[tuple[Seam, ...]] = (_ERROR_CAUSE,)
GENERIC: Final = "DynamoDB.AmazonDynamoDBException"


@cache
def modelled_errors() -> frozenset[str]:
    """The error codes the DynamoDB API models (each has an SDK class of its own)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    return frozenset(shape.name for shape in model.error_shapes)


def error_name(code: str) -> str:
    """Step Functions' name of the DynamoDB error ``code``."""
    if code not in modelled_errors():
        return GENERIC
    return f"DynamoDB.{code}" if code.endswith("Exception") else f"DynamoDB.{code}Exception"


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    task_class, attribute, original = _ERROR_CAUSE.resolve()

    def error_cause_from_client_error(client_error: Any) -> tuple[str, str]:
        _, cause = original(client_error)
        return error_name(str(client_error.response["Error"]["Code"])), cause

    with mock.patch.object(task_class, attribute, staticmethod(error_cause_from_client_error)):
        yield
