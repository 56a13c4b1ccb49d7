"""Fix: an ``sqs:*`` task sends to the host its ``QueueUrl`` names, as the AWS SDK does.

The AWS SDK inside Step Functions sends an SQS request to the queue URL's host, so a
``QueueUrl`` naming a host that is not an SQS endpoint fails before any queue is looked
up: recorded on AWS (LocalStack's AWS-validated snapshots, error_handling/
test_task_service_sqs, ``http://no-such-queue-<id>``) as ``SQS.SdkClientException``,
"Unable to execute HTTP request: no-such-queue-<id>: Name or service not known". moto
takes the queue name from the URL's path whatever its host, and answers "The specified
queue does not exist." (or sends to another queue of that name). Offline nothing is
resolved: every host other than an AWS one (``*.amazonaws.com``) or the local cloud's
own (loopback, ``localhost``, the endpoint's) counts as one that does not resolve. No
moto issue found (moto's behaviour is deliberate for its own URLs).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "sqs_queue_urls"
SQS_TASK: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs"
)
_EVAL_SERVICE_TASK: Final = Seam(
    NAME,
    SQS_TASK,
    "StateTaskServiceSqs._eval_service_task",
    ("self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"),
)
SEAMS: Final[tuple[Seam, ...]] = (_EVAL_SERVICE_TASK,)


def unresolvable_host(queue_url: str, endpoint_url: str | None) -> str | None:
    """The host of ``queue_url`` when it is not one an SQS request could reach offline."""
    host = urlsplit(queue_url if "//" in queue_url else f"//{queue_url}").hostname
    if not host:
        return None  # not a URL: the service answers for it
    local = {"localhost", urlsplit(endpoint_url or "").hostname or "localhost"}
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return None
    if host in local or host == "amazonaws.com" or host.endswith(".amazonaws.com"):
        return None
    return host


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    task_class, attribute, original = _EVAL_SERVICE_TASK.resolve()

    def eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        queue_url = normalised_parameters.get("QueueUrl")
        endpoint = cloud.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        host = unresolvable_host(queue_url, endpoint) if isinstance(queue_url, str) else None
        if host is not None:
            message = f"Unable to execute HTTP request: {host}: Name or service not known"
            raise ClientError(
                {"Error": {"Code": "SdkClientException", "Message": message}}, "SendMessage"
            )
        original(self, env, resource_runtime_part, normalised_parameters, state_credentials)

    with mock.patch.object(task_class, attribute, eval_service_task):
        yield
