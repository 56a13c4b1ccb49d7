"""Fix: ``DescribeExecution``'s ``output`` is the output's JSON text, as in the history.

moto 5.2.5's DescribeExecution took an output that is a string for JSON text already, so
a state machine ending with the string "HelloWorld!" answered ``HelloWorld!`` (not
valid JSON), and it ``json.dumps``-ed every other output, so one holding a timestamp
(``$$.Execution.StartTime``, a datetime inside the engine) failed the whole request
with a TypeError. A TIMED_OUT execution also lacked ``stopDate``. AWS: "output: The JSON
output data of the execution" and "stopDate: If the execution ended, the date the
execution stopped" (DescribeExecution API reference); the output is the same JSON text
as the ``ExecutionSucceeded`` event's. Executions of the ASL engine are answered so;
anything else goes the way it always did. No moto issue found. Delete this module when
moto encodes the output itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "describe_execution_output"
_DESCRIBE_EXECUTION: Final = Seam(
    NAME, "moto.stepfunctions.responses", "StepFunctionResponse.describe_execution", ("self",)
)
_ACTION_RESULT: Final = Seam(NAME, "moto.core.responses", "ActionResult")
_TO_JSON_STR: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.utils.encoding", "to_json_str", ("obj", "separators")
)
SEAMS: Final[tuple[Seam, ...]] = (_DESCRIBE_EXECUTION, _ACTION_RESULT, _TO_JSON_STR)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    owner, attribute, original = _DESCRIBE_EXECUTION.resolve()
    action_result = _ACTION_RESULT.value
    to_json_str = _TO_JSON_STR.value

    def describe_execution(self: Any) -> Any:
        arn = self._get_param("executionArn")
        execution = self.stepfunction_backend.describe_execution(arn)
        if getattr(execution, "exec_worker", None) is None:
            return original(self)
        status = execution.status
        response: dict[str, Any] = {
            "executionArn": arn,
            "input": execution.execution_input,
            "name": execution.name,
            "startDate": execution.start_date,
            "stateMachineArn": execution.state_machine_arn,
            "status": status,
        }
        if status != "RUNNING" and execution.stop_date is not None:
            response["stopDate"] = execution.stop_date
        if status == "SUCCEEDED":
            # The same encoding as the engine's ExecutionSucceeded event.
            response["output"] = to_json_str(execution.output, separators=(",", ":"))
            response["outputDetails"] = execution.output_details
        if execution.error is not None:
            response["error"] = execution.error
        if execution.cause is not None:
            response["cause"] = execution.cause
        return action_result(response)

    with mock.patch.object(owner, attribute, describe_execution):
        yield
