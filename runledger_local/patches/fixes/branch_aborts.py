"""Fix: when a Map iteration or a Parallel branch fails, the others still running are
aborted, in the history.

moto 5.2.5 let the other iterations of an inline Map state run on after one failed and
the Map state failed: their states went on (Lambda invokes, jobs) and wrote their events
after MapStateFailed, and no iteration was recorded as aborted. AWS stops them and writes,
before MapStateFailed, ``<Type>StateAborted`` for the state each was in and
``MapIterationAborted`` for each, and ``<Type>StateAborted`` for the state the failed
iteration failed in (recorded by AWS in LocalStack's timeouts snapshot
test_service_lambda_map_timeout: ``MapIterationFailed TaskStateAborted
MapIterationAborted ... TaskStateAborted MapStateFailed``; "If any iteration fails, the
Map state fails", Developer Guide, "Map state").

A Parallel state is the same in moto 5.2.5, but for the events only: when a branch fails
it stops the other branches, and writes no abort for any (``ParallelStateFailed`` came
right after the failing branch's last event, the state a waiting branch was in never
ended in the history). AWS: "If any branch fails ... the entire Parallel state fails and
all of its branches are stopped" (Developer Guide, "Parallel workflow state", error
handling); there is no per-branch event type, so what is left of an abort is the
``<Type>StateAborted`` of the state each running branch was in, and of the one the
failed branch failed in (a Task's ``TaskFailed`` then ``TaskStateAborted``, as the Map
recording shows for an iteration), before ``ParallelStateFailed``. No AWS recording of a
Parallel state whose branch fails while another waits was found (LocalStack's snapshots
here have none): the order, others first and then the failed branch's, is the Map's.

Both share one bookkeeping of the state each frame is in (one ``add_event`` wrapper, so
no two wrappers whose order matters). Here the others are stopped and those events
written; an aborted frame's later events are not. A Map state whose execution was stopped
goes the way stop_execution makes it. No moto issue found. Delete this module when moto
aborts iterations and branches itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import weakref
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches import _per_execution as per_execution
from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "branch_aborts"
_ITERATION: Final = "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration"
_EVAL_JOB: Final = Seam(
    NAME, f"{_ITERATION}.iteration_worker", "IterationWorker._eval_job", ("self", "env", "job")
)
_EVAL_BODY: Final = Seam(
    NAME,
    f"{_ITERATION}.inline_iteration_component",
    "InlineIterationComponent._eval_body",
    ("self", "env"),
)
_ADD_EVENT: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "EventManager.add_event",
    ("self", "context", "event_type", "event_details", "timestamp", "update_source_event_id"),
)
_EVENT_TYPES: Final = Seam(NAME, "moto.stepfunctions.parser.api", "HistoryEventType")
_PARALLEL: Final = "moto.stepfunctions.parser.asl.component.state.exec.state_parallel"
_BRANCH_START: Final = Seam(NAME, f"{_PARALLEL}.branch_worker", "BranchWorker.start", ("self",))
_BRANCH_TERMINATED: Final = Seam(
    NAME, f"{_PARALLEL}.branches_decl", "BranchWorkerPool.on_terminated", ("self", "env")
)
_PROGRAM_ERROR: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.eval.program_state", "ProgramError"
)
SEAMS: Final[tuple[Seam, ...]] = (
    _EVAL_JOB,
    _EVAL_BODY,
    _ADD_EVENT,
    _EVENT_TYPES,
    _BRANCH_START,
    _BRANCH_TERMINATED,
    _PROGRAM_ERROR,
)


class _Aborts:
    """One execution's bookkeeping (weak: an execution outlives its frames in moto)."""

    __slots__ = ("aborted", "branches", "entered", "iterations", "started")

    def __init__(self) -> None:
        #: Per event context: the "...StateEntered" type of the state it is in, if any.
        self.entered: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self.aborted: weakref.WeakSet[Any] = weakref.WeakSet()  # contexts that write no more
        #: Iterations past MapIterationStarted.
        self.started: weakref.WeakSet[Any] = weakref.WeakSet()
        #: Per Map state's environment: its iterations.
        self.iterations: weakref.WeakKeyDictionary[Any, list[_Iteration]] = (
            weakref.WeakKeyDictionary()
        )
        #: Per Parallel state's worker pool: its branches' frames.
        self.branches: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


class _Iteration:
    """One iteration of a Map state: its frame, index, and whether it still runs."""

    def __init__(self, env: Any, index: int, name: str) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.running = True


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    worker_class, job_attribute, original_eval_job = _EVAL_JOB.resolve()
    component_class, body_attribute, original_eval_body = _EVAL_BODY.resolve()
    manager_class, add_attribute, original_add = _ADD_EVENT.resolve()
    event_types = _EVENT_TYPES.value
    start_class, start_attribute, original_start = _BRANCH_START.resolve()
    pool_class, terminated_attribute, original_terminated = _BRANCH_TERMINATED.resolve()
    program_error = _PROGRAM_ERROR.value

    def bookkeeping(manager: Any) -> tuple[threading.RLock, _Aborts]:
        return per_execution.state(manager, NAME, _Aborts)

    def add_event(
        self: Any,
        context: Any,
        event_type: Any,
        event_details: Any = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> Any:
        name = str(getattr(event_type, "value", event_type))
        lock, book = bookkeeping(self)
        with lock:
            if context in book.aborted:
                return context.last_published_event_id
            if name == "MapIterationStarted":
                book.started.add(context)
            elif name.endswith("StateEntered"):
                book.entered[context] = name
            elif name.endswith("StateExited"):
                book.entered.pop(context, None)
            return original_add(
                self, context, event_type, event_details, timestamp, update_source_event_id
            )

    def eval_job(self: Any, env: Any, job: Any) -> None:
        iteration = _Iteration(env, job.job_index, self._work_name)
        lock, book = bookkeeping(env.event_manager)
        with lock:
            book.iterations.setdefault(self._env, []).append(iteration)
        try:
            original_eval_job(self, env, job)
        finally:
            iteration.running = False

    # The abort events are written with the method this patch wrapped, not through the
    # event manager: a patch wrapping add_event after this one (execution_end) drops
    # events after the end, and these are written before it.
    def write(env: Any, event_type: Any, details: Any = None, source: bool = True) -> None:
        original_add(
            env.event_manager, env.event_history_context, event_type, details, None, source
        )

    def state_aborted(book: _Aborts, env: Any) -> None:
        state = book.entered.pop(env.event_history_context, None)
        if state is None:
            return
        with contextlib.suppress(ValueError):  # Pass, Choice, ... have no Aborted event
            write(env, event_types(state.replace("StateEntered", "StateAborted")))

    def abort_the_others(env: Any) -> None:
        lock, book = bookkeeping(env.event_manager)
        with lock:
            mine = book.iterations.pop(env, [])
            for iteration in (each for each in mine if each.running):
                context = iteration.env.event_history_context
                if context in book.started:  # one not yet begun ends without a word
                    state_aborted(book, iteration.env)
                    details = {"name": iteration.name, "index": iteration.index}
                    write(
                        iteration.env,
                        event_types.MapIterationAborted,
                        {"mapIterationAbortedEventDetails": details},
                        source=False,
                    )
                book.aborted.add(context)
                iteration.env.set_stop(stop_date=dt.datetime.now(dt.UTC), cause=None, error=None)
            for iteration in (each for each in mine if not each.running):
                state_aborted(book, iteration.env)  # the state the failed iteration failed in

    def eval_body(self: Any, env: Any) -> None:
        try:
            original_eval_body(self, env)
        except Exception:
            if env.is_running():
                abort_the_others(env)
            raise
        finally:
            lock, book = bookkeeping(env.event_manager)
            with lock:
                book.iterations.pop(env, None)

    def branch_start(self: Any) -> None:
        lock, book = bookkeeping(self.env.event_manager)
        with lock:
            book.branches.setdefault(self._branch_worker_comm, []).append(self.env)
        original_start(self)

    def branch_terminated(self: Any, env: Any) -> None:
        lock, book = bookkeeping(env.event_manager)
        with lock:
            branches = book.branches.get(self)
            if branches is not None and isinstance(env.program_state(), program_error):
                # The first branch to fail: the others are aborted (moto stops them once
                # this returns), then the state this one failed in.
                del book.branches[self]
                for other in (each for each in branches if each is not env):
                    state_aborted(book, other)
                    book.aborted.add(other.event_history_context)
                state_aborted(book, env)
        original_terminated(self, env)

    with (
        mock.patch.object(manager_class, add_attribute, add_event),
        mock.patch.object(start_class, start_attribute, branch_start),
        mock.patch.object(pool_class, terminated_attribute, branch_terminated),
        mock.patch.object(worker_class, job_attribute, eval_job),
        mock.patch.object(component_class, body_attribute, eval_body),
    ):
        yield
