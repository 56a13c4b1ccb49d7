"""Fix: ``aws-sdk:s3`` object results carry what AWS's carry, and no more.

AWS (LocalStack's AWS-validated test_s3_get_object[empty_str|str|empty_binary|binary|
bytearray] and test_s3_put_object[str|dict|list|bool|num], recorded 2024): getObject
answers ``AcceptRanges, ContentLength, ContentType, ETag, LastModified, Metadata,
ServerSideEncryption: "AES256", Body`` with ``Body`` the object's bytes as text (a
binary body too), and putObject ``ETag, ServerSideEncryption: "AES256"``, having
stored ``Body`` as compact JSON (the string ``text data`` as ``"text data"``, with its
quotes; ``{"Dict":"Value"}``, ``["List","Data"]``, ``false``, ``0``: the recorded ETags
are those texts' MD5s). The engine already encoded both bodies so, but:

- S3 encrypts every new object with SSE-S3 by default (since 2023-01-05) and says so in
  ``x-amz-server-side-encryption: AES256``; moto does not, so ``ServerSideEncryption``
  was missing. It is added where S3 named no other encryption.
- moto answers GetObject and HeadObject with the object's stored checksum
  (``ChecksumCrc32``) although the request did not set ``ChecksumMode: ENABLED``, which
  S3 needs to return it; and the engine's botocore sends a CRC32 with every PutObject
  (botocore's default since 1.36), which Step Functions' SDK did not when AWS recorded,
  so its answer has no checksum either. Checksums are dropped unless the request asked
  for them (``ChecksumMode`` on a read, ``ChecksumAlgorithm`` or a ``Checksum*`` value on
  a write).

Not changed: ``LastModified`` is epoch milliseconds here (features/service_shapes, as
every integration's timestamps), where the recording shows an ISO-8601 string. No moto
issue found.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "s3_sdk_objects"
_EVAL_SERVICE_TASK: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service_aws_sdk",
    "StateTaskServiceAwsSdk._eval_service_task",
    ("self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"),
)
SEAMS: Final[tuple[Seam, ...]] = (_EVAL_SERVICE_TASK,)
_READS: Final = frozenset({"get_object", "head_object"})
_WRITES: Final = frozenset({"put_object", "copy_object", "upload_part"})
#: The response members S3 returns for a checksum (botocore's names).
CHECKSUMS: Final = frozenset(
    {
        "ChecksumCRC32",
        "ChecksumCRC32C",
        "ChecksumCRC64NVME",
        "ChecksumSHA1",
        "ChecksumSHA256",
        "ChecksumType",
    }
)


def as_aws_answers(action: str, parameters: dict[str, Any], response: dict[str, Any]) -> None:
    """Make, in place, an S3 ``action``'s botocore ``response`` what AWS's aws-sdk
    integration answers for those ``parameters`` (see the module docstring)."""
    if action not in _READS | _WRITES:
        return
    if action in _READS:
        asked = parameters.get("ChecksumMode") == "ENABLED"
    else:
        asked = "ChecksumAlgorithm" in parameters or any(name in CHECKSUMS for name in parameters)
    if not asked:
        for name in CHECKSUMS:
            response.pop(name, None)
    if "SSECustomerAlgorithm" not in response:
        response.setdefault("ServerSideEncryption", "AES256")


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    owner, attribute, original = _EVAL_SERVICE_TASK.resolve()

    def eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        original(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        response = env.stack[-1] if env.stack else None
        if self._get_boto_service_name() == "s3" and isinstance(response, dict):
            as_aws_answers(self._get_boto_service_action(), normalised_parameters, response)

    with mock.patch.object(owner, attribute, eval_service_task):
        yield
