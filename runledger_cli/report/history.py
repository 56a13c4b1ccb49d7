"""What an execution did, read from its history: which state ran when, in which branch or
Map iteration, how often it was retried, what it failed with, and the Batch jobs it ran.

``visits_from_history`` turns GetExecutionHistory's events into one ``Visit`` per entry
into a state, a Distributed Map's child executions included (each child's history read
as one iteration of its Map: ``run_visits`` for a fetched run); ``state_statuses`` and
``transitions_taken`` say how to colour the workflow graph; a ``JobTimeline`` is a Batch
job as a ``.sync`` state's result describes it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runledger_cli.graph import END, START, NodeStatus, Status, iter_states

if TYPE_CHECKING:
    from runledger_cli.report.fetch import ChildRun, RunData

UTC = dt.UTC
TIMES = "\N{MULTIPLICATION SIGN}"

_FAILURE_EVENTS = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
        "ActivityFailed",
        "ActivityTimedOut",
        "ActivityScheduleFailed",
    }
)
_SUCCESS_EVENTS = frozenset({"TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded"})
_ATTEMPT_EVENTS = frozenset({"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"})
CONTAINER_TYPES = frozenset({"Map", "Parallel"})
_EXECUTION_END = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
}
_EXECUTION_ENDS_BADLY = frozenset({"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})

#: Where a visit is: the enclosing (container visit, Map iteration or None) pairs.
Frames = tuple[tuple[int, int | None], ...]


@dataclass
class JobAttempt:
    """One attempt of a Batch job (from the ``.sync`` result's ``Attempts``)."""

    started: dt.datetime | None
    stopped: dt.datetime | None
    exit_code: int | None
    reason: str


@dataclass
class JobTimeline:
    """When a Batch job of a ``batch:submitJob.sync`` state was queued and ran (each
    attempt), as the state's result describes it.

    Not ``runledger.models.BatchJob``, which is what RunJob hands to CollectMetrics.
    """

    name: str
    job_id: str
    status: str
    created: dt.datetime | None
    started: dt.datetime | None
    stopped: dt.datetime | None
    attempts: list[JobAttempt]
    reason: str


@dataclass
class Visit:
    """One entry into a state, in one branch or Map iteration of the execution."""

    name: str
    type: str
    entered: dt.datetime
    frames: Frames  # enclosing (container visit, iteration)
    left: dt.datetime | None = None
    exited: bool = False
    task_attempts: int = 0
    last_result: str = ""  # "ok" | "error"
    error: str = ""
    cause: str = ""
    has_successor: bool = False
    next_state: str = ""
    iterations: int = 0
    item_label: str = ""  # a Map item's name, for the iteration's first state
    job: JobTimeline | None = None

    @property
    def retries(self) -> int:
        """Step Functions Retry attempts plus Batch job re-attempts."""
        batch = len(self.job.attempts) - 1 if self.job and self.job.attempts else 0
        return max(self.task_attempts - 1, 0) + max(batch, 0)

    def outcome(self, execution_status: str) -> Status:
        if self.type == "Fail":
            return "failed"
        if self.last_result == "error":
            return "caught" if (self.has_successor or self.exited) else "failed"
        if self.exited or self.has_successor or self.type == "Succeed":
            return "retried" if self.retries else "succeeded"
        return "running" if execution_status in {"", "RUNNING"} else "failed"


def _ms(value: Any) -> dt.datetime | None:
    if isinstance(value, int | float) and value > 0:
        return dt.datetime.fromtimestamp(value / 1000, UTC)
    return None


def job_timeline(document: str) -> JobTimeline | None:
    """A Batch job's timeline from a ``.sync`` result or failure cause (DescribeJobs shape),
    or None when the document is not a job."""
    try:
        job = json.loads(document)
    except (TypeError, ValueError):  # truncated output, or a cause that is not a job
        return None
    if not isinstance(job, dict) or "JobId" not in job:
        return None
    attempts = [
        JobAttempt(
            started=_ms(a.get("StartedAt")),
            stopped=_ms(a.get("StoppedAt")),
            exit_code=(a.get("Container") or {}).get("ExitCode"),
            reason=str(a.get("StatusReason", "")),
        )
        for a in job.get("Attempts") or []
    ]
    return JobTimeline(
        name=str(job.get("JobName", "")),
        job_id=str(job["JobId"]),
        status=str(job.get("Status", "")),
        created=_ms(job.get("CreatedAt")),
        started=_ms(job.get("StartedAt")),
        stopped=_ms(job.get("StoppedAt")),
        attempts=attempts,
        reason=str(job.get("StatusReason", "")),
    )


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _item_label(document: str) -> str:
    """The name of a Map item, from its iteration's first input: the item itself, or what
    an ItemSelector made of it: the job's ``key`` (a variant's name, ``<name>#<repeat>``
    when it repeats: its VARIANT# item's) or the item under ``variant`` (RunVariants'
    ItemSelector)."""
    try:
        item = json.loads(document)
    except (TypeError, ValueError):
        return ""
    if not isinstance(item, dict):
        return ""
    if "name" in item:
        return str(item["name"])
    if isinstance(item.get("key"), str):
        return str(item["key"])
    variant = item.get("variant")
    return str(variant["name"]) if isinstance(variant, dict) and "name" in variant else ""


# --------------------------------------------------------------------------- visits
def visits_from_history(
    definition: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    children: Iterable[ChildRun] = (),
) -> list[Visit]:
    """The state visits of an execution, from its history events, and of the child
    executions its Distributed Maps started (``children``, each with its history).

    Events are tied together by ``previousEventId``: every event belongs to the visit (and
    Map iteration or Parallel branch) of the event before it; a ``*StateEntered`` event
    starts a new visit, whose predecessor thereby has a successor (a failed state with a
    successor had its error caught). Map and Parallel states' own events pop back out of
    the iteration they close.

    A Distributed Map's iterations are its Map Run's children, whose states are in their
    own histories: where the parent's ``MapRunStarted`` event names a Map Run, each of its
    children is read as one iteration of that Map, as if the Map were inline, in the
    order of the Map's input items (by the job ``key`` of each child's input), labelled
    by its job (``iteration_labels``).
    """
    by_run: dict[str, list[ChildRun]] = {}
    for child in children:
        by_run.setdefault(child.map_run_arn, []).append(child)
    reader = _HistoryReader(
        {name: str(state.get("Type")) for name, state in iter_states(definition)},
        children=by_run,
    )
    for event in events:
        reader.read(event)
    return reader.visits


def run_visits(data: RunData) -> list[Visit]:
    """The state visits of a fetched run: its execution's and its children's."""
    return visits_from_history(data.definition, data.events, data.children)


@dataclass
class _HistoryReader:
    """The visits found so far, and where (visit, frames) each event read so far of one
    history left off.

    A child execution's history is read by a reader of its own (its event ids start at 1
    again) that adds to the same visits, inside the frames of its iteration (``scope``).
    """

    types: dict[str, str]  # state name -> its Type
    visits: list[Visit] = field(default_factory=list)
    where: dict[int, tuple[int, Frames]] = field(default_factory=dict)
    children: Mapping[str, list[ChildRun]] = field(default_factory=dict)  # by Map Run ARN
    scope: Frames = ()  # a child's iteration; () for the execution itself
    map_inputs: dict[int, str] = field(default_factory=dict)  # a Map visit -> its input

    def read(self, event: Mapping[str, Any]) -> None:
        kind = str(event["type"])
        details = _details(event)
        visit, frames = self.where.get(int(event.get("previousEventId") or 0), (-1, ()))
        if kind.endswith("StateEntered"):
            visit = self._enter(event, details, visit, frames)
        elif kind == "MapIterationStarted":
            frames = (*frames, (visit, int(details.get("index", 0))))
            self.visits[visit].iterations += 1
        elif kind == "ParallelStateStarted":
            frames = (*frames, (visit, None))
        elif kind == "MapRunStarted":
            self._read_children(visit, frames, str(details.get("mapRunArn", "")))
        elif kind.startswith(("MapState", "ParallelState")) and not kind.endswith("Started"):
            visit, frames = _container_of(self.visits, visit, frames, kind)
            self._close_container(visit, kind, event["timestamp"])
        if 0 <= visit < len(self.visits):
            _record_task_event(self.visits[visit], kind, details, event["timestamp"])
        if kind in _EXECUTION_ENDS_BADLY:
            self._end_badly(visit, kind, details, event["timestamp"])
        self.where[int(event["id"])] = (visit, frames)

    def _read_children(self, visit: int, frames: Frames, map_run: str) -> None:
        """A Distributed Map's Map Run started: its children, each an iteration. (A
        child's own Distributed Maps are not read: the fetch lists the run's children.)"""
        if not 0 <= visit < len(self.visits):
            return  # a Map Run outside any Map state: not a history Step Functions writes
        children = _in_item_order(self.children.get(map_run, []), self.map_inputs.get(visit))
        for index, child in enumerate(children):
            iteration = (*frames, (visit, index))
            self.visits[visit].iterations += 1
            reader = _HistoryReader(
                self.types, self.visits, where={0: (visit, iteration)}, scope=iteration
            )
            first = len(self.visits)  # the child's visits follow
            for event in child.events:
                reader.read(event)
            if first < len(self.visits) and not self.visits[first].item_label:
                self.visits[first].item_label = _item_label(json.dumps(child.input))

    def _enter(
        self, event: Mapping[str, Any], details: Mapping[str, Any], visit: int, frames: Frames
    ) -> int:
        """A new visit; the one before it in the same scope moved on to it."""
        name = str(details.get("name"))
        if visit >= 0 and self.visits[visit].frames == frames:  # same scope: a transition
            previous = self.visits[visit]
            previous.has_successor = True
            previous.next_state = name
            previous.left = previous.left or event["timestamp"]
        first_of_iteration = bool(frames) and visit == frames[-1][0]
        if self.types.get(name) == "Map":
            self.map_inputs[len(self.visits)] = str(details.get("input", ""))
        self.visits.append(Visit(name, self.types.get(name, "?"), event["timestamp"], frames))
        if first_of_iteration and frames[-1][1] is not None:
            self.visits[-1].item_label = _item_label(str(details.get("input", "")))
        return len(self.visits) - 1

    def _close_container(self, visit: int, kind: str, when: dt.datetime) -> None:
        container = self.visits[visit]
        if kind.endswith(("Failed", "Aborted")):
            container.last_result = "error"
            container.left = container.left or when
            inner = [v for v in self.visits if any(f[0] == visit for f in v.frames)]
            container.error = next((v.error for v in reversed(inner) if v.error), kind)
        elif kind.endswith("Succeeded"):
            container.last_result = "ok"

    def _end_badly(
        self, visit: int, kind: str, details: Mapping[str, Any], when: dt.datetime
    ) -> None:
        """The execution failed, timed out or was aborted: every open visit in it ends
        now. A child's open state failed with it (whatever its parent does next)."""
        for v in self.visits:
            if v.frames[: len(self.scope)] != self.scope:
                continue  # not this child's
            v.left = v.left or when
            if self.scope and not (v.exited or v.has_successor or v.last_result == "error"):
                v.last_result = "error"
                v.error = str(details.get("error") or kind)
        if visit >= 0 and self.visits[visit].type == "Fail":
            self.visits[visit].error = str(details.get("error", ""))
            self.visits[visit].cause = str(details.get("cause", ""))


def _record_task_event(
    current: Visit, kind: str, details: Mapping[str, Any], when: dt.datetime
) -> None:
    """An attempt, a result or the exit of the visit an event belongs to."""
    if kind in _ATTEMPT_EVENTS:
        current.task_attempts += 1
    elif kind in _FAILURE_EVENTS:
        current.last_result = "error"
        current.error = str(details.get("error", kind))
        current.cause = str(details.get("cause", ""))
        current.job = job_timeline(current.cause) or current.job
    elif kind in _SUCCESS_EVENTS:
        current.last_result = "ok"
        current.job = job_timeline(str(details.get("output", ""))) or current.job
    elif kind.endswith("StateExited"):
        current.exited = True
        current.left = when


def _in_item_order(children: Sequence[ChildRun], map_input: str | None) -> list[ChildRun]:
    """A Map Run's children in the order of the Map's items (its input, when that is the
    items): by the job ``key`` of each child's input among the items' keys; children
    whose key is not among them follow, in the order given (fetch: by start)."""
    try:
        items = json.loads(map_input or "")
    except ValueError:
        items = None
    keys = [i.get("key") for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    position: dict[str, int] = {}
    for n, key in enumerate(keys):
        if isinstance(key, str):
            position.setdefault(key, n)

    def rank(entry: tuple[int, ChildRun]) -> tuple[int, int]:
        n, child = entry
        given = child.input
        key = given.get("key") if isinstance(given, dict) else None
        return (position.get(key, len(keys)) if isinstance(key, str) else len(keys), n)

    return [child for _, child in sorted(enumerate(children), key=rank)]


def _container_of(visits: list[Visit], visit: int, frames: Frames, kind: str) -> tuple[int, Frames]:
    """The Map/Parallel visit a container event (``MapStateSucceeded``...) belongs to.

    The event follows either the container's own previous event (the container is still
    open) or the last event of one of its iterations/branches (leave that frame).
    """
    if visit >= 0 and visits[visit].type in CONTAINER_TYPES:
        own = visits[visit]
        still_open = not own.exited if kind.endswith("Exited") else not own.last_result
        if still_open:
            return visit, frames
    if frames:
        return frames[-1][0], frames[:-1]
    return visit, frames


# --------------------------------------------------------------------------- summaries
def iteration_labels(visits: Sequence[Visit]) -> dict[Frames, str]:
    """Frames of each Map iteration -> the name of its item (when items have a name)."""
    return {v.frames: v.item_label for v in visits if v.item_label}


def execution_status(data: RunData) -> str:
    """SUCCEEDED, FAILED, ABORTED, TIMED_OUT, RUNNING, or "" when there is no execution."""
    for event in reversed(data.events):
        if event["type"] in _EXECUTION_END:
            return _EXECUTION_END[str(event["type"])]
    return str(data.execution.get("status", "RUNNING" if data.events else ""))


def transitions_taken(visits: Sequence[Visit], status: str) -> set[tuple[str, str, str]]:
    """The transitions an execution made: (from, to, "next" | "catch"), Start and End too."""
    taken = {
        (v.name, v.next_state, "catch" if v.outcome(status) == "caught" else "next")
        for v in visits
        if v.next_state
    }
    if visits:
        taken.add((START, visits[0].name, "next"))
    for v in visits:
        ended = v.type == "Fail" or (v.exited and not v.next_state)
        if not v.frames and ended:
            taken.add((v.name, END, "next"))
    return taken


_PRIORITY: tuple[Status, ...] = ("failed", "caught", "running", "retried", "succeeded")


def state_statuses(visits: Iterable[Visit], status: str) -> dict[str, NodeStatus]:
    """One colour per state (the worst thing that happened to it) and a short note."""
    by_state: dict[str, list[Visit]] = {}
    for visit in visits:
        by_state.setdefault(visit.name, []).append(visit)
    return {name: _state_status(group, status) for name, group in by_state.items()}


def _state_status(group: Sequence[Visit], status: str) -> NodeStatus:
    outcomes = Counter(v.outcome(status) for v in group)
    worst = next(s for s in _PRIORITY if outcomes[s])
    retries = sum(v.retries for v in group)
    parts = []
    if len(group) > 1:
        ok = outcomes["succeeded"] + outcomes["retried"]
        parts += [f"{len(group)} runs: {ok} ok"] if ok else [f"{len(group)} runs"]
        parts += [f"{outcomes[s]} {s}" for s in ("caught", "failed", "running") if outcomes[s]]
    elif worst in {"caught", "failed"} and group[0].error:
        parts.append(f"{worst}: {group[0].error}")
    elif worst == "running":
        parts.append("in progress")
    if retries:
        parts.append(f"retried {retries}{TIMES}")
    if group[0].iterations:
        parts.append(f"{sum(v.iterations for v in group)} iterations")
    return NodeStatus(worst, " · ".join(parts))
