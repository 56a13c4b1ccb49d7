"""Fix: Step Functions errors of moto's ASL backend carry their AWS error code.

AWS answers an invalid definition with the error code ``InvalidDefinition`` ("The
provided Amazon States Language definition is not valid", CreateStateMachine API
reference, Errors) and a message "Invalid State Machine Definition: '...'". moto 5.2.5's
parser backend declares its errors (InvalidDefinition, ExecutionDoesNotExist,
InvalidToken, ...) with a ``code`` attribute its error base class never reads (it reads
``TYPE``), so the client got an empty error code and moto's own text
("An error occurred () when calling the CreateStateMachine operation: ASLParserException
..."). Here each such error's ``TYPE`` is its code, and the definition error's message is
framed as AWS frames it (the detail inside is moto's parser's, not AWS's wording). No
moto issue found.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import AdaptationBrokenError, Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "parser_error_codes"

_API: Final = Seam(NAME, "moto.stepfunctions.parser.api")
_AWS_ERROR: Final = Seam(NAME, "moto.core.exceptions", "AWSError")
_VALIDATE_DEFINITION: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.models",
    "StepFunctionsParserBackend._validate_definition",
    ("definition",),
)
_PREFIX: Final = "Invalid State Machine Definition: "


def _coded_error_classes(api: Any, base: type) -> list[type]:
    """moto's parser API errors: AWSError subclasses with a ``code`` and no ``TYPE``."""
    return [
        value
        for value in vars(api).values()
        if isinstance(value, type)
        and issubclass(value, base)
        and value is not base
        and isinstance(vars(value).get("code"), str)
        and not getattr(value, "TYPE", None)
    ]


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    api = _API.value
    _, _, aws_error = _AWS_ERROR.resolve()
    owner, attr, original_validate = _VALIDATE_DEFINITION.resolve()
    classes = _coded_error_classes(api, aws_error)
    if api.InvalidDefinition not in classes:
        raise AdaptationBrokenError(NAME, "moto's InvalidDefinition has a TYPE or no code now")
    invalid_definition = api.InvalidDefinition

    def validate_definition(definition: str) -> None:
        try:
            original_validate(definition=definition)
        except invalid_definition as error:
            if error.message.startswith(_PREFIX):
                raise
            raise invalid_definition(message=f"{_PREFIX}'{error.message}'") from error

    with contextlib.ExitStack() as stack:
        for error_class in classes:
            stack.enter_context(mock.patch.object(error_class, "TYPE", vars(error_class)["code"]))
        stack.enter_context(mock.patch.object(owner, attr, staticmethod(validate_definition)))
        yield


SEAMS: Final[tuple[Seam, ...]] = (_API, _AWS_ERROR, _VALIDATE_DEFINITION)
