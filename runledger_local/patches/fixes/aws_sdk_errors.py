"""Fix: ``aws-sdk`` integration errors are named by the SDK's service name, as on AWS.

AWS names an ``aws-sdk:<service>:<action>`` task's service error
``<Service>.<ErrorCode>Exception``, where ``<Service>`` is the AWS SDK for Java v2's name
of the service, made from its service id (``S3``, ``SecretsManager``, ``DynamoDb``,
``Sfn``, ``Sqs``, ``CloudWatchLogs``): recorded AWS answers (LocalStack's AWS-validated
snapshots, error_handling/test_aws_sdk) show ``S3.NoSuchBucketException`` with the cause
"... (Service: S3, Status Code: 404, Request ID: ..., Extended Request ID: ...)", and the
error-handling docs tell a Catch to name ``S3.NoSuchKeyException``. moto 5.2.5 knows only
``dynamodb`` and ``sfn`` and falls back to the service's lower-case ASL name
(``s3.NoSuchBucketException``), so such a Catch never fires. No moto issue found.

S3 answers every request with an extended request id (``x-amz-id-2``), which moto's S3
leaves out; the cause names one here, as AWS's does.
"""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
from collections.abc import Iterator
from functools import cache
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "aws_sdk_errors"
AWS_SDK_TASK: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
    ".state_task_service_aws_sdk"
)
_NORMALISE_SERVICE_ERROR_NAME: Final = Seam(
    NAME, AWS_SDK_TASK, "StateTaskServiceAwsSdk._normalise_service_error_name", ("service_name",)
)
_FROM_ERROR: Final = Seam(
    NAME, AWS_SDK_TASK, "StateTaskServiceAwsSdk._from_error", ("self", "env", "ex")
)
SEAMS: Final[tuple[Seam, ...]] = (_NORMALISE_SERVICE_ERROR_NAME, _FROM_ERROR)

#: A word of a service id: an acronym (``DB`` of DynamoDB, ``SQS``), a word, or digits.
_WORD: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z][a-z]*|[a-z]+|\d+")


@cache
def sdk_service_name(asl_service: str) -> str:
    """The Java SDK v2 name of the service an ``aws-sdk`` resource names (``s3`` -> ``S3``,
    ``secretsmanager`` -> ``SecretsManager``, ``dynamodb`` -> ``DynamoDb``, ``sfn`` ->
    ``Sfn``): its botocore service id, each word capitalised."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    boto_name = {"sfn": "stepfunctions"}.get(asl_service.lower(), asl_service.lower())
    try:
        service_id = botocore.session.get_session().get_service_model(boto_name).service_id
    except UnknownServiceError:
        return asl_service
    return "".join(word.capitalize() for word in _WORD.findall(str(service_id)))


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    task_class, name_attribute, _ = _NORMALISE_SERVICE_ERROR_NAME.resolve()
    _, error_attribute, original_from_error = _FROM_ERROR.resolve()

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        metadata = getattr(ex, "response", {}).get("ResponseMetadata")
        if (
            isinstance(metadata, dict)
            and "HostId" not in metadata
            and sdk_service_name(self.resource.api_name) == "S3"
        ):
            # S3's x-amz-id-2: 76 characters of base64.
            metadata["HostId"] = base64.b64encode(secrets.token_bytes(57)).decode()
        return original_from_error(self, env, ex)

    with (
        mock.patch.object(task_class, name_attribute, staticmethod(sdk_service_name)),
        mock.patch.object(task_class, error_attribute, from_error),
    ):
        yield
