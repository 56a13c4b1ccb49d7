"""Feature: each iteration of a Distributed Map is a child workflow execution.

AWS (Developer Guide, "Using Map state in Distributed mode", state-map-distributed.html):
in Distributed mode each iteration is a *child workflow execution*, and "each child
workflow execution has its own execution history, separate from the parent workflow's";
"Examining Map Run" (concepts-examine-map-run.html): a Map Run is the set of child
workflow executions a Distributed Map starts, whose state machine ARN is labelled
``arn:<partition>:states:<region>:<account>:stateMachine:<stateMachineName>/<MapRunLabel
or UUID>`` (a child's execution ARN: ``...:execution:<stateMachineName>/<MapRunLabel or
UUID>:<uuid>``). API reference: ``ListExecutions`` with ``mapRunArn`` "a list of all of the
child workflow executions started by a Map Run is returned" (``mapRunArn`` or
``stateMachineArn``, not both; its items then carry ``mapRunArn`` and ``itemCount``, which
a ``stateMachineArn`` listing does not, and that listing does not hold the children);
``DescribeExecution`` returns "the Map Run ARN if the execution was dispatched by a Map
Run" (``mapRunArn``). Workflow variables (workflow-variables.html): a Distributed Map's
child workflows do not see the parent's variables (pass them with ``ItemSelector``, which
is evaluated in the parent's scope). A Map Run whose failed children exceed its tolerated
failures fails the Map state with ``States.ExceedToleratedFailureThreshold``,
"The specified tolerated failure threshold was exceeded" (LocalStack's AWS-validated
wording).

moto 5.2.5 runs each iteration in a frame of the parent: ``$states.context.Execution`` is
the parent's, the iteration's events go to a throwaway event manager, the parent's
variables are visible, ``ListExecutions(mapRunArn=...)`` fails ("can only concatenate str
(not "NoneType") to str"), and a failed iteration is counted but ignored: the Map state
succeeds with ``null`` in its output (and the Map Run's running executions never drop).
Here the worker's ``_eval_job`` runs the iteration's program as a child: after moto has
applied ``ItemSelector`` (with the parent's variables, as AWS), the frame gets its own
``$$.Execution`` (Id, Name, Input, StartTime: its start, AWS's ISO 8601 text to the
millisecond), an empty variable scope, its own event manager (ExecutionStarted first,
stamped with that start, and the engine's own ExecutionSucceeded/Failed last, ids
from 1) and is ended as an execution rather than a frame; the child's record lives on the
Map Run's record (per_execution's lock), where DescribeExecution, GetExecutionHistory and
ListExecutions find it. The Map Run fails after its children end when the failed (or timed
out) ones exceed both ``ToleratedFailureCount`` and ``ToleratedFailurePercentage`` (moto
keeps an absent one as 0, so the default tolerates none). No moto issue found.

When the parent is stopped its children end ABORTED and so does the Map Run (moto's
engine records it SUCCEEDED once the aborted children have returned).

Not AWS's: the threshold is checked when every child has ended (AWS stops the Map Run as
soon as it is exceeded and aborts the children still running); the children of a nested
Distributed Map are listed under the root execution's Map Runs (``ListMapRuns`` of a child
answers none); ``DescribeStateMachineForExecution`` of a child is not answered.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final
from unittest import mock

from runledger_local.patches import _per_execution as per_execution
from runledger_local.patches._seams import Seam
from runledger_local.patches.features.lambda_invoke import ORDER_STARTS
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "distributed_map"

_STATE_MAP: Final = "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration"
_EVAL_JOB: Final = Seam(
    NAME,
    f"{_STATE_MAP}.itemprocessor.distributed_item_processor_worker",
    "DistributedItemProcessorWorker._eval_job",
    ("self", "env", "job"),
)
_MAP_RUN: Final = Seam(
    NAME,
    f"{_STATE_MAP}.distributed_iteration_component",
    "DistributedIterationComponent._map_run",
    ("self", "env", "eval_input"),
)
_SET_STOP: Final = Seam(
    NAME,
    f"{_STATE_MAP}.itemprocessor.map_run_record",
    "MapRunRecord.set_stop",
    ("self", "status"),
)
_DESCRIBE_EXECUTION: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.models",
    "StepFunctionsParserBackend.describe_execution",
    ("self", "execution_arn"),
)
_DESCRIBE_RESPONSE: Final = Seam(
    NAME, "moto.stepfunctions.responses", "StepFunctionResponse.describe_execution", ("self",)
)
_LIST_RESPONSE: Final = Seam(
    NAME, "moto.stepfunctions.responses", "StepFunctionResponse.list_executions", ("self",)
)
_ACTION_RESULT: Final = Seam(NAME, "moto.core.responses", "ActionResult")
_PAGINATE: Final = Seam(NAME, "moto.utilities.paginator", "paginate", ("pagination_model",))
_PAGINATION_MODEL: Final = Seam(NAME, "moto.stepfunctions.utils", "PAGINATION_MODEL")
_NO_EXECUTION: Final = Seam(NAME, "moto.stepfunctions.exceptions", "ExecutionDoesNotExist")
_NO_RESOURCE: Final = Seam(NAME, "moto.stepfunctions.exceptions", "ResourceNotFound")
_EVENT_MANAGER: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.eval.event.event_manager", "EventManager"
)
_HISTORY_CONTEXT: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "EventHistoryContext.of_program_start",
)
#: How moto writes the history's timestamps: AWS's Context object StartTime's format too.
_ISO_MILLISECONDS: Final = Seam(
    NAME, "moto.core.utils", "iso_8601_datetime_with_milliseconds", ("value",)
)
_VARIABLE_STORE: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.eval.variable_store", "VariableStore"
)
_PROGRAM_STATES: Final = tuple(
    Seam(NAME, "moto.stepfunctions.parser.asl.eval.program_state", name)
    for name in ("ProgramEnded", "ProgramError", "ProgramStopped", "ProgramTimedOut")
)
_API: Final = "moto.stepfunctions.parser.api"
_API_NAMES: Final = (
    "HistoryEventType",
    "ExecutionStartedEventDetails",
    "HistoryEventExecutionDataDetails",
    "MapRunFailedEventDetails",
)
_API_SEAMS: Final = tuple(Seam(NAME, _API, name) for name in _API_NAMES)
_ERRORS: Final = "moto.stepfunctions.parser.asl.component.common.error_name"
_FAILURE_EVENT: Final = Seam(NAME, f"{_ERRORS}.failure_event", "FailureEvent")
_FAILURE_EXCEPTION: Final = Seam(NAME, f"{_ERRORS}.failure_event", "FailureEventException")
_STATES_ERROR_NAME: Final = Seam(NAME, f"{_ERRORS}.states_error_name", "StatesErrorName")
_EXCEEDED_TYPE: Final = Seam(
    NAME,
    f"{_ERRORS}.states_error_name_type",
    "StatesErrorNameType.StatesExceedToleratedFailureThreshold",
)
_EVENT_DETAILS: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.eval.event.event_detail", "EventDetails"
)
_TO_JSON_STR: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.utils.encoding", "to_json_str", ("obj", "separators")
)
SEAMS: Final[tuple[Seam, ...]] = (
    _EVAL_JOB,
    _MAP_RUN,
    _SET_STOP,
    _DESCRIBE_EXECUTION,
    _DESCRIBE_RESPONSE,
    _LIST_RESPONSE,
    _ACTION_RESULT,
    _PAGINATE,
    _PAGINATION_MODEL,
    _NO_EXECUTION,
    _NO_RESOURCE,
    _EVENT_MANAGER,
    _HISTORY_CONTEXT,
    _ISO_MILLISECONDS,
    _VARIABLE_STORE,
    *_PROGRAM_STATES,
    *_API_SEAMS,
    _FAILURE_EVENT,
    _FAILURE_EXCEPTION,
    _STATES_ERROR_NAME,
    _EXCEEDED_TYPE,
    _EVENT_DETAILS,
    _TO_JSON_STR,
)

#: AWS's cause when a Map Run's failures exceed what it tolerates.
EXCEEDED_CAUSE: Final = "The specified tolerated failure threshold was exceeded"
_FAILED: Final = frozenset({"FAILED", "TIMED_OUT"})
#: Where features/item_batcher keeps a Map's batcher (on its iteration component).
_BATCHER_ATTRIBUTE: Final = "_runledger_item_batcher"


@dataclass(eq=False)
class _Worker:
    """What moto's ``Execution.exec_worker`` is to the other patches: its ``env``."""

    env: Any


@dataclass(eq=False)
class _Env:
    """The part of a child's environment the other patches read: its event manager, and
    whether its program runs (execution_end)."""

    event_manager: Any

    def is_running(self) -> bool:
        """Always: a child has no program of its own to stop or end. Its status is this
        feature's to set, and DescribeExecution waits only on its terminal event."""
        return True


@dataclass(eq=False)
class ChildExecution:
    """One child workflow execution of a Map Run, answered as an execution."""

    execution_arn: str
    name: str
    state_machine_arn: str
    map_run_arn: str
    start_date: dt.datetime
    input_data: Any
    item_count: int
    manager: Any
    exec_worker: _Worker = field(init=False)
    status: str = "RUNNING"
    stop_date: dt.datetime | None = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    execution_input: str = ""
    output_details: dict[str, bool] = field(default_factory=lambda: {"included": True})

    def __post_init__(self) -> None:
        self.exec_worker = _Worker(_Env(self.manager))

    @property
    def exec_arn(self) -> str:
        return self.execution_arn

    def to_history_output(self) -> dict[str, Any]:
        """GetExecutionHistory's answer (moto's ``GetExecutionHistoryOutput``)."""
        return {"events": self.manager.get_event_history()}


@dataclass(eq=False)
class _MapRun:
    """The children of one Map Run, and whether its children are ItemBatcher batches."""

    children: list[ChildExecution] = field(default_factory=list)
    batched: bool = False
    #: The parent was stopped while the Map Run ran: it ends ABORTED, not SUCCEEDED.
    aborted: bool = False


def _run_of(record: Any) -> tuple[threading.RLock, _MapRun]:
    # Kept on moto's MapRunRecord (found from the parent's map run pool), under
    # per_execution's lock: one per record, the same re-entrant kind every patch takes.
    return per_execution.state(record, NAME, _MapRun)


def is_child_arn(arn: str) -> bool:
    """A child's ARN names its labelled state machine, ``<name>/<label>`` (a state
    machine's own name has no ``/``)."""
    parts = arn.split(":")
    return len(parts) > 7 and parts[5] == "execution" and "/" in parts[6]


def tolerance_exceeded(failed: int, total: int, count: int, percentage: float) -> bool:
    """Whether ``failed`` of ``total`` children exceed the Map Run's tolerance."""
    return failed > count and failed * 100 > percentage * total


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    worker_class, job_attribute, original_eval_job = _EVAL_JOB.resolve()
    component_class, run_attribute, original_map_run = _MAP_RUN.resolve()
    record_class, set_stop_attribute, original_set_stop = _SET_STOP.resolve()
    backend_class, describe_attribute, original_describe = _DESCRIBE_EXECUTION.resolve()
    response_class, describe_response_attribute, original_describe_response = (
        _DESCRIBE_RESPONSE.resolve()
    )
    _, list_response_attribute, original_list_response = _LIST_RESPONSE.resolve()
    action_result, paginate = _ACTION_RESULT.value, _PAGINATE.value
    pagination = _PAGINATION_MODEL.value["list_executions"]
    no_execution, no_resource = _NO_EXECUTION.value, _NO_RESOURCE.value
    event_manager_class, program_start = _EVENT_MANAGER.value, _HISTORY_CONTEXT.value
    variable_store_class = _VARIABLE_STORE.value
    iso_milliseconds = _ISO_MILLISECONDS.value
    ended, error, stopped, timed_out = (seam.value for seam in _PROGRAM_STATES)
    event_type, started_details, data_details, run_failed_details = (
        seam.value for seam in _API_SEAMS
    )
    failure_event, failure_exception = _FAILURE_EVENT.value, _FAILURE_EXCEPTION.value
    states_error_name, exceeded_type = _STATES_ERROR_NAME.value, _EXCEEDED_TYPE.value
    event_details, to_json_str = _EVENT_DETAILS.value, _TO_JSON_STR.value

    # Map Runs and children by ARN, as they start (speed): a lookup scanned every
    # execution's Map Runs and their children, so each grew with the runs in the cloud
    # (DescribeExecution of a child: 1.3 ms with 50 runs, 4.2 ms with 200; now flat). A hit
    # counts only while its parent execution is still in the backend (a reset backend
    # forgets it, as moto's lookups do).
    index_lock = threading.Lock()
    records_by_arn: dict[str, Any] = {}
    children_by_arn: dict[str, tuple[Any, ChildExecution]] = {}

    def indexed(backend: Any, record: Any) -> bool:
        try:
            original_describe(backend, record.execution_arn)
        except no_execution:
            return False
        return True

    class ChildProgram:
        """The iteration's program, run as a child execution of ``record``'s Map Run."""

        def __init__(self, program: Any, record: Any) -> None:
            self.program = program
            self.record = record
            self.child: ChildExecution | None = None

        def eval(self, env: Any) -> None:
            record = self.record
            lock, run = _run_of(record)
            name = str(uuid.uuid4())
            labelled = record.map_state_machine_arn
            selected = env.states.get_input()  # the item, after ItemSelector
            context = env.states.context_object.context_object_data
            parent = context["Execution"]  # shared with the parent: replaced, not changed
            items = selected.get("Items") if isinstance(selected, dict) else None
            child = ChildExecution(
                execution_arn=f"{labelled.replace(':stateMachine:', ':execution:', 1)}:{name}",
                name=name,
                state_machine_arn=labelled,
                map_run_arn=record.map_run_arn,
                start_date=dt.datetime.now(tz=dt.UTC),
                input_data=selected,
                item_count=len(items) if run.batched and isinstance(items, list) else 1,
                manager=event_manager_class(
                    cloud_watch_logging_session=env.cloud_watch_logging_session
                ),
            )
            child.execution_input = to_json_str(selected, separators=(",", ":"))
            self.child = child
            with lock:
                run.children.append(child)
            with index_lock:
                records_by_arn[record.map_run_arn] = record
                children_by_arn[child.execution_arn] = (record, child)
            env.event_manager = child.manager
            env.event_history_context = program_start()
            context["Execution"] = {
                **parent,
                "Id": child.execution_arn,
                "Input": selected,
                "Name": name,
                "StartTime": iso_milliseconds(child.start_date),  # AWS: 2019-03-26T20:14:13.192Z
            }
            env.variable_store = variable_store_class()  # AWS: no parent's variables
            # Its Lambda steps take its run's place in line (features/lambda_invoke).
            ORDER_STARTS[child.execution_arn] = ORDER_STARTS.get(
                parent.get("Id"), parent.get("StartTime")
            )
            env._is_frame = False  # its program ends as an execution: terminal event
            child.manager.add_event(
                context=env.event_history_context,
                event_type=event_type.ExecutionStarted,
                event_details=event_details(
                    executionStartedEventDetails=started_details(
                        input=child.execution_input,
                        inputDetails=data_details(truncated=False),
                        roleArn=parent.get("RoleArn"),
                    )
                ),
                timestamp=child.start_date,  # AWS: the execution's startDate
                update_source_event_id=False,
            )
            try:
                self.program.eval(env)
            finally:
                self._end(child, env)

        def _end(self, child: ChildExecution, env: Any) -> None:
            state = env.program_state()
            if isinstance(state, ended):
                child.output = env.states.get_input()
                status = "SUCCEEDED"
            elif isinstance(state, error):
                child.error = (state.error or {}).get("error")
                child.cause = (state.error or {}).get("cause")
                status = "FAILED"
            elif isinstance(state, timed_out):
                status = "TIMED_OUT"
            elif isinstance(state, stopped):
                status = "ABORTED"
            else:
                child.error, child.cause = "States.Runtime", f"ended as {type(state).__name__}"
                status = "FAILED"
            child.stop_date = dt.datetime.now(tz=dt.UTC)
            child.status = status

    def eval_job(self: Any, env: Any, job: Any) -> None:
        record = self._map_run_record
        program = job.job_program
        child_program = ChildProgram(program, record)
        job.job_program = child_program  # this job's alone (the Program may be shared)
        try:
            original_eval_job(self, env, job)
        finally:
            job.job_program = program
        child = child_program.child
        if child is not None and child.status != "SUCCEEDED":
            record.execution_counter.running.offset(-1)  # moto drops it on success only

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        record = eval_input.map_run_record
        with index_lock:
            records_by_arn[record.map_run_arn] = record  # listed before a child starts
        lock, run = _run_of(record)
        with lock:
            run.batched = getattr(self, _BATCHER_ATTRIBUTE, None) is not None
        original_map_run(self, env, eval_input)
        with lock:
            children = list(run.children)
            run.aborted = isinstance(env.program_state(), stopped)
        if run.aborted:
            return  # the parent's stop ends it: no tolerance to judge
        failed = sum(child.status in _FAILED for child in children)
        count = int(record.tolerated_failure_count or 0)
        percentage = float(record.tolerated_failure_percentage or 0.0)
        if not tolerance_exceeded(failed, len(children), count, percentage):
            return
        env.stack.pop()  # the children's outputs
        name = states_error_name(typ=exceeded_type)
        raise failure_exception(
            failure_event=failure_event(
                env=env,
                error_name=name,
                event_type=event_type.MapRunFailed,
                event_details=event_details(
                    mapRunFailedEventDetails=run_failed_details(
                        error=name.error_name, cause=EXCEEDED_CAUSE
                    )
                ),
            )
        )

    def set_stop(self: Any, status: Any) -> None:
        lock, run = _run_of(self)
        with lock:
            aborted = run.aborted
        if aborted and str(getattr(status, "value", status)) == "SUCCEEDED":
            status = type(status)("ABORTED")  # moto's engine records a stopped run's end
        original_set_stop(self, status)

    def children_of(record: Any) -> list[ChildExecution]:
        lock, run = _run_of(record)
        with lock:
            return list(run.children)

    def child(backend: Any, arn: str) -> ChildExecution:
        with index_lock:
            found = children_by_arn.get(arn)
        if found is not None and indexed(backend, found[0]):
            return found[1]
        raise no_execution("Execution Does Not Exist: '" + arn + "'")

    def describe_execution(self: Any, execution_arn: str) -> Any:
        if isinstance(execution_arn, str) and is_child_arn(execution_arn):
            return child(self, execution_arn)
        return original_describe(self, execution_arn)

    def describe_response(self: Any) -> Any:
        answer = original_describe_response(self)
        arn = self._get_param("executionArn")
        if isinstance(arn, str) and is_child_arn(arn):
            answer.result["mapRunArn"] = child(self.stepfunction_backend, arn).map_run_arn
        return answer

    def list_children(
        backend: Any, map_run_arn: str, status_filter: str | None = None
    ) -> list[ChildExecution]:
        with index_lock:
            record = records_by_arn.get(map_run_arn)
        if record is None or not indexed(backend, record):
            raise no_resource(f"Map Run Does Not Exist: '{map_run_arn}'")
        found = [c for c in children_of(record) if status_filter in (None, c.status)]
        return sorted(found, key=lambda c: c.start_date, reverse=True)

    # moto's paginator, with ListExecutions' model: the same page size, token and order.
    paged_children: Any = paginate(pagination_model={"list_children": pagination})(list_children)

    def list_response(self: Any) -> Any:
        map_run_arn = self._get_param("mapRunArn")
        if map_run_arn is None:
            return original_list_response(self)
        results, next_token = paged_children(
            self.stepfunction_backend,
            map_run_arn=map_run_arn,
            status_filter=self._get_param("statusFilter"),
            max_results=self._get_int_param("maxResults"),
            next_token=self._get_param("nextToken"),
        )
        executions = []
        for each in results:
            item: dict[str, Any] = {
                "executionArn": each.execution_arn,
                "stateMachineArn": each.state_machine_arn,
                "name": each.name,
                "status": each.status,
                "startDate": each.start_date,
                "mapRunArn": each.map_run_arn,
                "itemCount": each.item_count,
            }
            if each.stop_date is not None:
                item["stopDate"] = each.stop_date
            executions.append(item)
        return action_result({"executions": executions, "nextToken": next_token})

    with contextlib.ExitStack() as stack:
        enter = stack.enter_context
        enter(mock.patch.object(worker_class, job_attribute, eval_job))
        enter(mock.patch.object(component_class, run_attribute, map_run))
        enter(mock.patch.object(record_class, set_stop_attribute, set_stop))
        enter(mock.patch.object(backend_class, describe_attribute, describe_execution))
        enter(mock.patch.object(response_class, describe_response_attribute, describe_response))
        enter(mock.patch.object(response_class, list_response_attribute, list_response))
        yield
