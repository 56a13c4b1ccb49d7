"""Fix: an execution ends once: its terminal event is the history's last, and agrees.

moto 5.2.5 writes an execution's end in three places that disagree for a while:

- the history's terminal event (ExecutionSucceeded, -Failed, -Aborted, -TimedOut) is
  written by the engine's thread before the execution's status is set, so
  DescribeExecution could still say RUNNING after GetExecutionHistory had ended;
- Map iterations and Parallel branches still running when their state failed went on
  writing events (TaskTimedOut, MapIterationFailed, ...) after ExecutionFailed;
- after StopExecution (whose answer gives the stop's date) DescribeExecution still said
  RUNNING until the engine's thread had written ExecutionAborted; a Distributed Map's
  Map Run could read ABORTED before its stopped parent did;
- an execution past its ``TimeoutSeconds`` was TIMED_OUT at once, but its
  ExecutionTimedOut event was written only when the state it was in finished (a task
  waiting an hour: an hour later).

AWS: the terminal event is the last of the history ("ExecutionSucceeded ... the
execution ... ended", GetExecutionHistory / HistoryEvent API reference), and the
execution's status is the one that event says. Here an event manager takes no event
after the terminal one, DescribeExecution waits (a moment, at most two seconds) for the
status the terminal event already recorded, or will record once the program is stopped
or ended, and a timed-out execution gets its ExecutionTimedOut event when it times out.
No moto issue found. Delete this module when moto ends executions in one step.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches import _per_execution as per_execution
from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "execution_end"
_ADD_EVENT: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "EventManager.add_event",
    ("self", "context", "event_type", "event_details", "timestamp", "update_source_event_id"),
)
_DESCRIBE_EXECUTION: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.models",
    "StepFunctionsParserBackend.describe_execution",
    ("self", "execution_arn"),
)
_ENVIRONMENT_IS_RUNNING: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.eval.environment", "Environment.is_running", ("self",)
)
_PROGRAM_EVAL: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.component.program.program", "Program.eval", ("self", "env")
)
_PROGRAM_TIMED_OUT: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.eval.program_state", "ProgramTimedOut"
)
_EVENT_DETAILS: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.eval.event.event_detail", "EventDetails"
)
_EXECUTION_TIMED_OUT: Final = Seam(
    NAME, "moto.stepfunctions.parser.api", "HistoryEventType.ExecutionTimedOut"
)
SEAMS: Final[tuple[Seam, ...]] = (
    _ADD_EVENT,
    _DESCRIBE_EXECUTION,
    _ENVIRONMENT_IS_RUNNING,
    _PROGRAM_EVAL,
    _PROGRAM_TIMED_OUT,
    _EVENT_DETAILS,
    _EXECUTION_TIMED_OUT,
)
_TERMINAL: Final = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
)
#: How long DescribeExecution waits for the status its terminal event recorded.
_REFLECTION_WAIT: Final = 2.0


def _type_name(event_type: Any) -> str:
    return str(getattr(event_type, "value", event_type))


class _End:
    """Whether an execution's event manager took its terminal event."""

    __slots__ = ("ended",)

    def __init__(self) -> None:
        self.ended = False


def _end_of(manager: Any) -> tuple[threading.RLock, _End]:
    return per_execution.state(manager, NAME, _End)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    manager_class, add_attribute, original_add = _ADD_EVENT.resolve()
    backend_class, describe_attribute, original_describe = _DESCRIBE_EXECUTION.resolve()
    program_class, eval_attribute, original_eval = _PROGRAM_EVAL.resolve()
    timed_out = _PROGRAM_TIMED_OUT.value
    details_of = _EVENT_DETAILS.value
    execution_timed_out = _EXECUTION_TIMED_OUT.value

    def add_event(
        self: Any,
        context: Any,
        event_type: Any,
        event_details: Any = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> Any:
        lock, end = _end_of(self)
        with lock:
            if end.ended:
                # After the execution's end: what AWS never writes (a branch still
                # running when its state failed, a second terminal event).
                return context.last_published_event_id
            if _type_name(event_type) in _TERMINAL:
                end.ended = True
            return original_add(
                self, context, event_type, event_details, timestamp, update_source_event_id
            )

    def describe_execution(self: Any, execution_arn: str) -> Any:
        execution = original_describe(self, execution_arn)
        worker = getattr(execution, "exec_worker", None)
        env = getattr(worker, "env", None)
        if env is None or (not _end_of(env.event_manager)[1].ended and env.is_running()):
            return execution
        # The terminal event is written, or the program was stopped (StopExecution) or has
        # ended: the engine's thread writes the event and sets the status right after.
        deadline = time.monotonic() + _REFLECTION_WAIT
        while execution.status == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.001)
        return execution

    def program_eval(self: Any, env: Any) -> None:
        original_eval(self, env)
        if not env.is_frame() and isinstance(env.program_state(), timed_out):
            # Timed out while a state still runs: the history ends now, as the status does
            # (the engine's own ExecutionTimedOut, when that state ends, is then dropped).
            env.event_manager.add_event(
                context=env.event_history_context,
                event_type=execution_timed_out,
                event_details=details_of(executionTimedOutEventDetails={}),
            )

    with (
        mock.patch.object(manager_class, add_attribute, add_event),
        mock.patch.object(backend_class, describe_attribute, describe_execution),
        mock.patch.object(program_class, eval_attribute, program_eval),
    ):
        yield
