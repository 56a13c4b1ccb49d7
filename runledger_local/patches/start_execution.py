"""The one override of moto's ``StepFunctionsParserBackend.start_execution``.

Several patches act when an execution starts (``execution_names`` names an unnamed one,
``mock_config`` picks a ``#TestCase``, ``leaks`` lets finished threads go). Each adds a
hook here instead of wrapping the method itself, so the method is replaced once, as a
subclass would override it, and the hooks run in the registry's order.

A hook takes the backend and the ``StartRequest`` and returns a context manager that
yields the request to start with (changed or not); it stays entered while moto starts the
execution, so a hook can hand the start something for its duration.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Final

from runledger_local.patches._seams import Seam

NAME: Final = "start_execution"
_START_EXECUTION: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.models",
    "StepFunctionsParserBackend.start_execution",
    ("self", "state_machine_arn", "name", "execution_input", "trace_header"),
)
SEAMS: Final[tuple[Seam, ...]] = (_START_EXECUTION,)


@dataclasses.dataclass(frozen=True)
class StartRequest:
    """What ``StartExecution`` was asked (the backend method's arguments)."""

    state_machine_arn: str
    name: str | None = None
    execution_input: str | None = None
    trace_header: str | None = None

    def replace(self, **changes: Any) -> StartRequest:
        return dataclasses.replace(self, **changes)


Hook = Callable[[Any, StartRequest], contextlib.AbstractContextManager[StartRequest]]
_HOOKS: list[Hook] = []


@contextlib.contextmanager
def hooked(hook: Hook) -> Iterator[None]:
    """Run ``hook`` at every start while the block lasts.

    The override is put in place with the first hook and taken out with the last, so
    moto's method is replaced at most once however many patches hook it.
    """
    owner, attribute, original = _START_EXECUTION.resolve()
    first = not _HOOKS
    if first:

        def start_execution(
            self: Any,
            state_machine_arn: str,
            name: str | None = None,
            execution_input: str | None = None,
            trace_header: str | None = None,
        ) -> Any:
            request = StartRequest(state_machine_arn, name, execution_input, trace_header)
            with contextlib.ExitStack() as stack:
                for each in list(_HOOKS):
                    request = stack.enter_context(each(self, request))
                return original(
                    self,
                    request.state_machine_arn,
                    request.name,
                    request.execution_input,
                    request.trace_header,
                )

        setattr(owner, attribute, start_execution)
    _HOOKS.append(hook)
    try:
        yield
    finally:
        _HOOKS.remove(hook)
        if first:
            setattr(owner, attribute, original)
