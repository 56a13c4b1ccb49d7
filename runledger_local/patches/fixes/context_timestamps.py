"""Fix: the Context object's timestamps are AWS's ISO 8601 text, to the millisecond, in UTC.

moto 5.2.5 sets ``$$.State.EnteredTime`` (JSONata: ``$states.context.State.EnteredTime``)
to ``datetime.isoformat()`` of the time just after the state's ``*StateEntered`` event
(``2026-12-07T06:57:47.167839+00:00``: microseconds and an offset) and keeps
``$$.Execution.StartTime`` as the execution's ``startDate`` datetime, which JSON output
encodes the same way. It also stamps the ``ExecutionStarted`` event with the time its
worker starts, not with ``startDate``. AWS (Developer Guide, "Accessing execution data
from the Context object", input-output-contextobject.html): both are "Format: ISO 8601",
for example ``"EnteredTime": "2019-03-26T20:14:13.192Z"`` and
``"StartTime": "2019-03-26T20:14:13.192Z"``, the format of the history's timestamps.
Here ``EnteredTime`` is the timestamp of the state's ``*StateEntered`` event, and
``StartTime`` is ``startDate``, which is also the ``ExecutionStarted`` event's timestamp,
in moto's own history format (``iso_8601_datetime_with_milliseconds``). The timestamps
then compare as strings in time order, as they do on AWS. A Distributed Map's child
executions get theirs in features/distributed_map.py. No moto issue found. LocalStack,
where moto's engine comes from, had the same bug: localstack/localstack#10713
(EnteredTime) and #9695 (StartTime). Delete this module when moto's context object
holds these strings.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "context_timestamps"
_EVALUATION_ENVIRONMENT: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.backend.execution_worker",
    "ExecutionWorker._get_evaluation_environment",
    ("self",),
)
_ADD_EVENT: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "EventManager.add_event",
    ("self", "context", "event_type", "event_details", "timestamp", "update_source_event_id"),
)
_EVAL_STATE_INPUT: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.state.state",
    "CommonStateField._eval_state_input",
    ("self", "env"),
)
#: How moto writes the history's timestamps (``2019-03-26T20:14:13.192Z``).
_ISO_MILLISECONDS: Final = Seam(
    NAME, "moto.core.utils", "iso_8601_datetime_with_milliseconds", ("value",)
)
SEAMS: Final[tuple[Seam, ...]] = (
    _EVALUATION_ENVIRONMENT,
    _ADD_EVENT,
    _EVAL_STATE_INPUT,
    _ISO_MILLISECONDS,
)

#: On an execution's EventManager: its ``startDate``, for its ExecutionStarted event.
_STARTED_AT: Final = "_runledger_started_at"


class _Entered(threading.local):
    """The timestamp of the ``*StateEntered`` event this thread added last (moto sets
    ``EnteredTime`` and evaluates the state's input right after, in the same thread)."""

    timestamp: dt.datetime | None = None


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    worker_class, environment_attribute, original_environment = _EVALUATION_ENVIRONMENT.resolve()
    manager_class, add_event_attribute, original_add_event = _ADD_EVENT.resolve()
    state_class, input_attribute, original_eval_state_input = _EVAL_STATE_INPUT.resolve()
    iso_milliseconds = _ISO_MILLISECONDS.value
    entered = _Entered()

    def evaluation_environment(self: Any) -> Any:
        env = original_environment(self)
        # Map iterations and Parallel branches share this dict (Environment.as_frame_of).
        execution = env.states.context_object.context_object_data["Execution"]
        started = execution.get("StartTime")
        if isinstance(started, dt.datetime):
            execution["StartTime"] = iso_milliseconds(started)
            setattr(env.event_manager, _STARTED_AT, started)
        return env

    def add_event(
        self: Any,
        context: Any,
        event_type: Any,
        event_details: Any = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> int:
        kind = str(getattr(event_type, "value", event_type))
        if timestamp is None:
            if kind == "ExecutionStarted":
                timestamp = getattr(self, _STARTED_AT, None)
            if timestamp is None and kind.endswith("StateEntered"):
                timestamp = dt.datetime.now(tz=dt.UTC)
        if kind.endswith("StateEntered"):
            entered.timestamp = timestamp if isinstance(timestamp, dt.datetime) else None
        return int(
            original_add_event(
                self, context, event_type, event_details, timestamp, update_source_event_id
            )
        )

    def eval_state_input(self: Any, env: Any) -> None:
        # CommonStateField._eval_body: the StateEntered event, then State (EnteredTime), then this.
        timestamp, entered.timestamp = entered.timestamp, None
        state = env.states.context_object.context_object_data.get("State")
        if isinstance(state, dict) and isinstance(state.get("EnteredTime"), str):
            if timestamp is None:  # not from our event: moto's own time, reformatted
                timestamp = dt.datetime.fromisoformat(state["EnteredTime"])
            state["EnteredTime"] = iso_milliseconds(timestamp.astimezone(dt.UTC))
        original_eval_state_input(self, env)

    with contextlib.ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(worker_class, environment_attribute, evaluation_environment)
        )
        stack.enter_context(mock.patch.object(manager_class, add_event_attribute, add_event))
        stack.enter_context(mock.patch.object(state_class, input_attribute, eval_state_input))
        yield
