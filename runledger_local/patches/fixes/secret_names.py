"""Fix: Secrets Manager refuses a secret name AWS refuses.

AWS accepts secret names of ASCII letters, digits and ``/_+=.@-`` ("Name ... can contain
ASCII letters, numbers, and the following characters: /_+=.@-": CreateSecret API
reference) and refuses any other with a ValidationException, "Invalid name. Must be a
valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
(recorded on AWS: LocalStack's AWS-validated snapshot error_handling/test_aws_sdk::
test_invalid_secret_name, where an ``aws-sdk:secretsmanager:createSecret`` task then
fails with ``SecretsManager.SecretsManagerException``). moto 5.2.5 creates a secret
named ``Invalid Name``. No moto issue found.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "secret_names"
_CREATE_SECRET: Final = Seam(
    NAME, "moto.secretsmanager.models", "SecretsManagerBackend.create_secret"
)
_VALIDATION_ERROR: Final = Seam(NAME, "moto.secretsmanager.exceptions", "ValidationException")
SEAMS: Final[tuple[Seam, ...]] = (_CREATE_SECRET, _VALIDATION_ERROR)
SECRET_NAME: Final = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
INVALID: Final = (
    "Invalid name. Must be a valid name containing alphanumeric characters, or any of the "
    "following: -/_+=.@!"
)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    backend_class, attribute, original = _CREATE_SECRET.resolve()
    validation_error = _VALIDATION_ERROR.value

    def create_secret(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        if not SECRET_NAME.fullmatch(str(name)):
            raise validation_error(INVALID)
        return original(self, name, *args, **kwargs)

    with mock.patch.object(backend_class, attribute, create_secret):
        yield
