"""Fix: the optimised Batch integration names unmodelled errors ``Batch.AWSBatchException``.

Step Functions reports a ``batch:*`` task's error as ``Batch.<class>``, the exception
class the AWS SDK inside it throws. The Batch API models two errors, ``ClientException``
and ``ServerException``; any other code, such as the ``TooManyRequestsException``
(HTTP 429) SubmitJob answers when throttled, comes back as the SDK's generic class
``AWSBatchException`` (its message "Too Many Requests (Service: AWSBatch; Status Code:
429; Error Code: TooManyRequestsException)":
https://repost.aws/knowledge-center/aws-batch-requests-error, and the SDK's class
https://docs.aws.amazon.com/AWSJavaSDK/latest/javadoc/com/amazonaws/services/batch/model/AWSBatchException.html).
moto 5.2.5 reports ``Batch.<error code>`` for every code, so a throttled job was not
retried by a Retry written for AWS (``Batch.AWSBatchException``) and its variant failed.
The cause is unchanged (it names the code). No moto issue found; tests/infra/
test_error_names.py holds the workflow's own names to the same rule, and
``dynamodb_task_errors`` is the same fix for DynamoDB.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache
from typing import Any, Final
from unittest import mock

from botocore.exceptions import ClientError

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "batch_task_errors"
_BATCH_TASK: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch"
)
_FROM_ERROR: Final = Seam(
    NAME, _BATCH_TASK, "StateTaskServiceBatch._from_error", ("self", "env", "ex")
)
_CUSTOM_ERROR_NAME: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name",
    "CustomErrorName",
)
SEAMS: Final[tuple[Seam, ...]] = (_FROM_ERROR, _CUSTOM_ERROR_NAME)
GENERIC: Final = "Batch.AWSBatchException"


@cache
def modelled_errors() -> frozenset[str]:
    """The error codes the Batch API models (each has an SDK class of its own)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("batch")
    return frozenset(shape.name for shape in model.error_shapes)


def error_name(code: str) -> str:
    """Step Functions' name of the Batch error ``code``."""
    return f"Batch.{code}" if code in modelled_errors() else GENERIC


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    task_class, attribute, original = _FROM_ERROR.resolve()
    _, _, custom_error_name = _CUSTOM_ERROR_NAME.resolve()

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        event = original(self, env, ex)
        if isinstance(ex, ClientError):
            name = error_name(str(ex.response["Error"]["Code"]))
            event.error_name = custom_error_name(name)
            details = (event.event_details or {}).get("taskFailedEventDetails")
            if details is not None:
                details["error"] = name
        return event

    with mock.patch.object(task_class, attribute, from_error):
        yield
