"""Fix: DescribeExecution gives a string output as JSON text, as AWS does.

An execution's ``output`` is JSON text (DescribeExecution API reference: "The JSON output
data of the execution"), so an execution ending on the string ``ValueError`` answers
``"\\"ValueError\\""``, as its ExecutionSucceeded event does. moto 5.2.5's DescribeExecution
passes a string output through as it is (``ValueError``), which no JSON reader of the
output can parse. Outputs of other types were already JSON. No moto issue found.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "execution_output"
_DESCRIBE_EXECUTION: Final = Seam(
    NAME, "moto.stepfunctions.responses", "StepFunctionResponse.describe_execution", ("self",)
)
_PARSER_EXECUTION: Final = Seam(NAME, "moto.stepfunctions.parser.backend.execution", "Execution")
SEAMS: Final[tuple[Seam, ...]] = (_DESCRIBE_EXECUTION, _PARSER_EXECUTION)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    response_class, attribute, original = _DESCRIBE_EXECUTION.resolve()
    parser_execution = _PARSER_EXECUTION.value

    def describe_execution(self: Any) -> Any:
        result = original(self)
        body = getattr(result, "result", None)
        if isinstance(body, dict) and "output" in body:
            execution = self.stepfunction_backend.describe_execution(body["executionArn"])
            if isinstance(execution, parser_execution) and isinstance(execution.output, str):
                body["output"] = json.dumps(execution.output)
        return result

    with mock.patch.object(response_class, attribute, describe_execution):
        yield
