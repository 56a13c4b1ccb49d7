"""Fix: ``StartExecution`` refuses an input over 256 KB, as AWS does.

AWS: the ``input`` of StartExecution has "Length Constraints: Maximum length of 262144"
and "Length constraints apply to the payload size, and are expressed as bytes in UTF-8
encoding" (StartExecution API reference; the Step Functions quota "Maximum input or
output size for a task, state, or execution: 256 KiB of data as a UTF-8 encoded string",
which "affects ... input data when ... starting an execution"). An input one byte over is
refused with ValidationException "1 validation error detected: Value at 'input' failed to
satisfy constraint: Member must have size less than or equal to 262144 bytes in UTF-8
encoding" (as recorded from AWS by other emulators' tests and an SDK caller's log; the
API reference names no message). The model's constraints are checked before the state
machine is looked up, so this hook refuses before moto's start runs. moto 5.2.5 starts
the execution whatever its size (it checks only that the input is JSON), so an
EventBridge pipe whose target input is too large started a run locally that AWS would
refuse. No moto issue found. Delete this module when moto checks the size itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

from runledger_local.patches import start_execution
from runledger_local.patches._seams import Seam
from runledger_local.pipe_input import MAX_EXECUTION_INPUT_BYTES as MAX_INPUT_BYTES
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "execution_input_size"
_VALIDATION_ERROR: Final = Seam(NAME, "moto.stepfunctions.parser.api", "ValidationException")
SEAMS: Final[tuple[Seam, ...]] = (*start_execution.SEAMS, _VALIDATION_ERROR)
#: The largest input StartExecution accepts, in bytes of its UTF-8 encoding.
TOO_LARGE: Final = (
    "1 validation error detected: Value at 'input' failed to satisfy constraint: "
    f"Member must have size less than or equal to {MAX_INPUT_BYTES} bytes in UTF-8 encoding"
)


def input_bytes(execution_input: str) -> int:
    """The size AWS measures an execution input by: bytes of its UTF-8 encoding."""
    return len(execution_input.encode("utf-8", errors="surrogatepass"))


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    validation_error = _VALIDATION_ERROR.value

    @contextlib.contextmanager
    def _sized(
        backend: Any, request: start_execution.StartRequest
    ) -> Iterator[start_execution.StartRequest]:
        del backend
        given = request.execution_input
        if given is not None and input_bytes(given) > MAX_INPUT_BYTES:
            raise validation_error(TOO_LARGE)
        yield request

    with start_execution.hooked(_sized):
        yield
