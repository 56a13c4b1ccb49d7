"""Feature: a JSONata evaluation error names its field and is recorded once, as on AWS.

AWS fails the state with ``States.QueryEvaluationError`` and one ``EvaluationFailed``
event whose cause names the field the expression was written in, as a path from the
state's field: "The JSONata expression '$doesNotExist' specified for the field
'Output/result' returned nothing (undefined)." or "... specified for the field
'Output/FunctionResult' threw an error during evaluation. T1006: Attempted to invoke a
non-function"; the event's ``location`` is that path (AWS-recorded answers; the Step
Functions developer guide, "Handling errors", lists States.QueryEvaluationError).
moto 5.2.5 names no field (its ``next_field_name`` is the innermost component's class
name) and records the event twice in a Task or Map state: once where the expression
failed and once more where the state catches the failure. The evaluation itself is
features/jsonata.py; this module tracks the field path of the expression being
evaluated (``Output``, ``Arguments``, ``Assign``, ``Items``, ``ItemSelector``, then
``/key`` per object key and ``[i]`` per array index; the index form is not among the
recorded answers) and drops the second event. No moto issue found.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "jsonata_errors"

#: The env attribute holding the field path being evaluated (a list of names).
_PATH_ATTR: Final = "_runledger_field_path"
#: The event manager attribute holding the last EvaluationFailed this module recorded.
_RECORDED_ATTR: Final = "_runledger_evaluation_failed"

_COMMON: Final = "moto.stepfunctions.parser.asl.component.common"
_MAP: Final = "moto.stepfunctions.parser.asl.component.state.exec.state_map"
_ROOTS: Final[tuple[tuple[Seam, str], ...]] = (
    (Seam(NAME, f"{_COMMON}.outputdecl", "Output._eval_body", ("self", "env")), "Output"),
    (Seam(NAME, f"{_COMMON}.parargs", "Arguments._eval_body", ("self", "env")), "Arguments"),
    (
        Seam(NAME, f"{_COMMON}.assign.assign_decl", "AssignDecl._eval_body", ("self", "env")),
        "Assign",
    ),
    (Seam(NAME, f"{_MAP}.items.items", "ItemsJSONata._eval_body", ("self", "env")), "Items"),
    (
        Seam(NAME, f"{_MAP}.item_selector", "ItemSelector._eval_body", ("self", "env")),
        "ItemSelector",
    ),
)
_BINDINGS: Final[tuple[Seam, ...]] = (
    Seam(
        NAME,
        f"{_COMMON}.jsonata.jsonata_template_binding",
        "JSONataTemplateBinding._eval_body",
        ("self", "env"),
    ),
    Seam(
        NAME,
        f"{_COMMON}.assign.assign_template_binding",
        "AssignTemplateBinding._eval_body",
        ("self", "env"),
    ),
)
_ARRAYS: Final[tuple[Seam, ...]] = (
    Seam(
        NAME,
        f"{_COMMON}.jsonata.jsonata_template_value_array",
        "JSONataTemplateValueArray._eval_body",
        ("self", "env"),
    ),
    Seam(
        NAME,
        f"{_COMMON}.assign.assign_template_value_array",
        "AssignTemplateValueArray._eval_body",
        ("self", "env"),
    ),
)
_ADD_EVENT: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "EventManager.add_event",
    ("self", "context", "event_type", "event_details", "timestamp", "update_source_event_id"),
)


def field_of(env: Any) -> str | None:
    """The field path of the expression ``env`` evaluates ("Output/result"), if known."""
    path = getattr(env, _PATH_ATTR, None)
    return "/".join(path) if path else None


def cause_of(env: Any, expression: str, error: Exception | None) -> str:
    """AWS's cause for ``expression`` failing with ``error`` (None: it was undefined)."""
    field = field_of(env)
    where = f" specified for the field '{field}'" if field else ""
    if error is None:
        return f"The JSONata expression '{expression}'{where} returned nothing (undefined)."
    code = getattr(error, "error", None)
    message = f"{code}: {error}" if isinstance(code, str) and code else str(error)
    if field:
        return (
            f"The JSONata expression '{expression}'{where} "
            f"threw an error during evaluation. {message}"
        )
    return f"The JSONata expression '{expression}' returned an error: {message}"


def query_evaluation_failure(env: Any, expression: str, error: Exception | None) -> Exception:
    """Record AWS's EvaluationFailed event; the States.QueryEvaluationError to raise.

    ``error`` is what the evaluation raised; None means the expression was undefined.
    """
    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error_name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
    details = EvaluationFailedEventDetails(
        error=error_name.error_name, cause=cause_of(env, expression, error)
    )
    field = field_of(env)
    if field:  # AWS's event names the field in "location" too
        details["location"] = field
    raw = EventDetails(evaluationFailedEventDetails=details)  # type: ignore[typeddict-item]
    failure = FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.EvaluationFailed,
            event_details=raw,
        )
    )
    recorded = failure.get_evaluation_failed_event_details()
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.EvaluationFailed,
        event_details=EventDetails(  # type: ignore[typeddict-item]  # moto builds it so too
            evaluationFailedEventDetails=recorded
        ),
    )
    # A Task or Map state catching the failure records its event again: skipped once.
    setattr(env.event_manager, _RECORDED_ATTR, (raw, recorded))
    return failure


def _tracked(original: Callable[..., Any], name: str | None) -> Callable[..., Any]:
    """``original`` with ``name`` (a root when given, else the binding's key) on the path."""

    def eval_body(self: Any, env: Any) -> None:
        path = getattr(env, _PATH_ATTR, None)
        if name is not None:
            if path is None:
                path = []
                setattr(env, _PATH_ATTR, path)
            saved = path[:]
            path[:] = [name]
        elif path:  # a key below a tracked root
            saved = None
            path.append(self.identifier)
        else:
            original(self, env)
            return
        try:
            original(self, env)
        finally:
            if saved is None:
                path.pop()
            else:
                path[:] = saved

    return eval_body


def _indexed(original: Callable[..., Any]) -> Callable[..., Any]:
    """An array's ``_eval_body`` with ``[i]`` after the field of its i-th value."""

    def eval_body(self: Any, env: Any) -> None:
        path = getattr(env, _PATH_ATTR, None)
        if not path:
            original(self, env)
            return
        field = path[-1]
        values = []
        try:
            for index, value in enumerate(self.values):  # moto's loop, with the index
                path[-1] = f"{field}[{index}]"
                value.eval(env)
                values.append(env.stack.pop())
        finally:
            path[-1] = field
        env.stack.append(values)

    return eval_body


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    from moto.stepfunctions.parser.api import HistoryEventType

    evaluation_failed = HistoryEventType.EvaluationFailed
    manager_owner, manager_attr, original_add = _ADD_EVENT.resolve()

    def add_event(
        self: Any,
        context: Any,
        event_type: Any,
        event_details: Any = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> int:
        recorded = getattr(self, _RECORDED_ATTR, None) if event_type == evaluation_failed else None
        if recorded is not None and event_details is not None:
            raw, details = recorded
            # A Task state records the failure's own details, a Map state a copy of the
            # ones already recorded: either way the failure is in the history already.
            if event_details is raw or (
                event_details.get("evaluationFailedEventDetails") == details
            ):
                setattr(self, _RECORDED_ATTR, None)
                last_id = int(self._history_event_list[-1]["id"])
                context.last_published_event_id = max(context.last_published_event_id, last_id)
                if update_source_event_id:
                    context.source_event_id = max(context.source_event_id, last_id)
                return last_id
        event_id = original_add(
            self, context, event_type, event_details, timestamp, update_source_event_id
        )
        return int(event_id)

    with contextlib.ExitStack() as stack:
        for seam, root in _ROOTS:
            owner, attr, original = seam.resolve()
            stack.enter_context(mock.patch.object(owner, attr, _tracked(original, root)))
        for seam in _BINDINGS:
            owner, attr, original = seam.resolve()
            stack.enter_context(mock.patch.object(owner, attr, _tracked(original, None)))
        for seam in _ARRAYS:
            owner, attr, original = seam.resolve()
            stack.enter_context(mock.patch.object(owner, attr, _indexed(original)))
        stack.enter_context(mock.patch.object(manager_owner, manager_attr, add_event))
        yield


SEAMS: Final[tuple[Seam, ...]] = (
    *(seam for seam, _ in _ROOTS),
    *_BINDINGS,
    *_ARRAYS,
    _ADD_EVENT,
)
