"""One self-contained HTML page for one run: what the Step Functions console shows, offline.

The page is built from two sources, read with ordinary boto3 clients, so the same code
works against the local cloud (an endpoint URL) and a deployed stack:

* the runs table: the ``REQUEST`` item (status, summary, cost, error) and the
  ``VARIANT#<name>`` items (each variant's result, job and cost);
* the run's execution (its ARN is on the request item): ``GetExecutionHistory`` (paged),
  ``DescribeExecution`` and ``DescribeStateMachineForExecution`` (the definition that ran).

It shows the workflow graph (runledger_cli.graph) with each state coloured by what happened
(succeeded, failed, caught, retried N times, in progress, not entered), a Gantt-style
timeline of the states and the Batch jobs (from the ``.sync`` results in the history:
queueing, each attempt and its exit code), the run's final status, its variants and their
results, and the cost breakdown. Everything (CSS, SVG) is inline: no external asset.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runledger.pricing import format_usd
from runledger.usage import execution_history
from runledger_cli.graph import (
    END,
    START,
    STATUS_STYLES,
    NodeStatus,
    Status,
    iter_states,
    load_definition,
    render,
    workflow_graph,
)
from runledger_cli.ledger import RunRecord, read_run

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
_CONTAINER_TYPES = frozenset({"Map", "Parallel"})
_EXECUTION_END = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
}


# =========================================================================== data
@dataclass
class RunData:
    """Everything the page shows: the run as the table holds it, and its execution."""

    record: RunRecord
    definition: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    execution: dict[str, Any] = field(default_factory=dict)
    table: str = ""

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def request(self) -> dict[str, Any]:
        return self.record.request

    @property
    def variants(self) -> dict[str, dict[str, Any]]:
        return self.record.variants


def fetch_run(run_id: str, *, dynamodb: Any, stepfunctions: Any, table: str) -> RunData:
    """Read one run from the table and its execution from Step Functions.

    Raises:
        LedgerError: no such table or run.
    """
    data = RunData(read_run(dynamodb, table, run_id), definition={}, table=table)
    execution_arn = data.request.get("execution")
    if execution_arn:
        data.execution = stepfunctions.describe_execution(executionArn=execution_arn)
        data.events = execution_history(stepfunctions, execution_arn)
        machine = stepfunctions.describe_state_machine_for_execution(executionArn=execution_arn)
        data.definition = json.loads(machine["definition"])
    else:  # not claimed yet: draw the workflow as deployed here, nothing entered
        data.definition = load_definition()
    return data


# =========================================================================== history
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
    frames: tuple[tuple[int, int | None], ...]  # enclosing (container visit, iteration)
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
    try:
        item = json.loads(document)
    except (TypeError, ValueError):
        return ""
    return str(item["name"]) if isinstance(item, dict) and "name" in item else ""


def analyze(definition: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[Visit]:
    """The state visits of an execution, from its history events.

    Events are tied together by ``previousEventId``: every event belongs to the visit (and
    Map iteration or Parallel branch) of the event before it; a ``*StateEntered`` event
    starts a new visit, whose predecessor thereby has a successor (a failed state with a
    successor had its error caught). Map and Parallel states' own events pop back out of
    the iteration they close.
    """
    types = {name: str(state.get("Type")) for name, state in iter_states(definition)}
    visits: list[Visit] = []
    # event id -> (visit index or -1, enclosing frames)
    where: dict[int, tuple[int, tuple[tuple[int, int | None], ...]]] = {}
    for event in events:
        kind = str(event["type"])
        details = _details(event)
        visit, frames = where.get(int(event.get("previousEventId") or 0), (-1, ()))
        if kind.endswith("StateEntered"):
            name = str(details.get("name"))
            if visit >= 0 and visits[visit].frames == frames:  # same scope: a transition
                previous = visits[visit]
                previous.has_successor = True
                previous.next_state = name
                previous.left = previous.left or event["timestamp"]
            first_of_iteration = bool(frames) and visit == frames[-1][0]
            visits.append(Visit(name, types.get(name, "?"), event["timestamp"], frames))
            if first_of_iteration and frames[-1][1] is not None:
                visits[-1].item_label = _item_label(str(details.get("input", "")))
            visit = len(visits) - 1
        elif kind == "MapIterationStarted":
            frames = (*frames, (visit, int(details.get("index", 0))))
            visits[visit].iterations += 1
        elif kind == "ParallelStateStarted":
            frames = (*frames, (visit, None))
        elif kind.startswith(("MapState", "ParallelState")) and not kind.endswith("Started"):
            visit, frames = _container_of(visits, visit, frames, kind)
            container = visits[visit]
            if kind.endswith(("Failed", "Aborted")):
                container.last_result = "error"
                container.left = container.left or event["timestamp"]
                inner = [v for v in visits if any(f[0] == visit for f in v.frames)]
                container.error = next((v.error for v in reversed(inner) if v.error), kind)
            elif kind.endswith("Succeeded"):
                container.last_result = "ok"
        if 0 <= visit < len(visits):
            current = visits[visit]
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
                current.left = event["timestamp"]
        if kind in {"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}:
            for v in visits:
                v.left = v.left or event["timestamp"]
            if visit >= 0 and visits[visit].type == "Fail":
                visits[visit].error = str(details.get("error", ""))
                visits[visit].cause = str(details.get("cause", ""))
        where[int(event["id"])] = (visit, frames)
    return visits


def _container_of(
    visits: list[Visit], visit: int, frames: tuple[tuple[int, int | None], ...], kind: str
) -> tuple[int, tuple[tuple[int, int | None], ...]]:
    """The Map/Parallel visit a container event (``MapStateSucceeded``...) belongs to.

    The event follows either the container's own previous event (the container is still
    open) or the last event of one of its iterations/branches (leave that frame).
    """
    if visit >= 0 and visits[visit].type in _CONTAINER_TYPES:
        own = visits[visit]
        still_open = not own.exited if kind.endswith("Exited") else not own.last_result
        if still_open:
            return visit, frames
    if frames:
        return frames[-1][0], frames[:-1]
    return visit, frames


def iteration_labels(visits: Sequence[Visit]) -> dict[tuple[tuple[int, int | None], ...], str]:
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
    found: dict[str, NodeStatus] = {}
    for name, group in by_state.items():
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
        found[name] = NodeStatus(worst, " · ".join(parts))
    return found


# =========================================================================== page
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, str) and value:
        try:
            return _when(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    return "-"


def _usd(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    return "< $0.000001" if 0 < value < 0.0000005 else format_usd(float(value))


_RUN_BADGE = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "INVALID": "failed",
    "RUNNING": "running",
    "CLAIMED": "running",
    "REQUESTED": "not-entered",
}


def _badge(status: str, css: str | None = None) -> str:
    return (
        f'<span class="badge {css or _RUN_BADGE.get(status, "not-entered")}">{_esc(status)}</span>'
    )


def _cause_summary(cause: str) -> str:
    """A failure cause for people: a Batch job's status reason and exit code, or the text."""
    job = job_timeline(cause)
    if job:
        codes = [a.exit_code for a in job.attempts if a.exit_code is not None]
        exit_text = f"exit code {codes[-1]}" if codes else "no exit code"
        return f"Batch job {job.status or 'FAILED'}: {exit_text} ({job.reason or 'no reason'})"
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:  # a Lambda function's error
        return str(parsed.get("errorType", "")) + ": " + str(parsed["errorMessage"])
    return cause if len(cause) <= 300 else cause[:299] + "…"


def _header(data: RunData, status: str, visits: list[Visit]) -> str:
    request, summary = data.request, data.request.get("summary") or {}
    run_status = str(request.get("status", "?"))
    started = data.execution.get("startDate") or request.get("claimed_at")
    stopped = data.execution.get("stopDate") or request.get("finished_at")
    duration = None
    if started and stopped:
        begin = started if isinstance(started, dt.datetime) else dt.datetime.fromisoformat(started)
        end = stopped if isinstance(stopped, dt.datetime) else dt.datetime.fromisoformat(stopped)
        duration = (end - begin).total_seconds()
    asked = [v.get("name") for v in request.get("variants") or [] if isinstance(v, dict)]
    ok = sum(1 for v in data.variants.values() if v.get("status") == "SUCCEEDED")
    failed = sorted(n for n, v in data.variants.items() if v.get("status") == "FAILED")
    cost = (request.get("cost") or {}).get("total_usd")
    cards = [
        ("Run status", _badge(run_status)),
        (
            "Variants",
            f"<b>{ok}</b> of {len(asked) or len(data.variants)} succeeded"
            + (f' · <span class="bad">{len(failed)} failed</span>' if failed else ""),
        ),
        ("Duration", _esc(_seconds(duration))),
        ("Estimated cost", _esc(_usd(cost))),
        ("Execution", _badge(status or "none", _RUN_BADGE.get(status, "not-entered"))),
    ]
    facts = [
        ("workflow", request.get("workflow")),
        ("cost center", request.get("cost_center")),
        ("attempt", request.get("attempt")),
        ("started", _when(started)),
        ("finished", _when(stopped)),
        ("execution", data.execution.get("name") or request.get("execution")),
        ("table", data.table),
    ]
    notes = []
    if failed:
        notes.append(f'<p class="note bad">Failed variants: {_esc(", ".join(failed))}</p>')
    if summary.get("fastest"):
        f = summary["fastest"]
        notes.append(
            f'<p class="note">Fastest: <b>{_esc(f.get("name"))}</b> '
            f"({_esc(_seconds(f.get('duration_seconds')))})"
            + (
                f" · cheapest: <b>{_esc(summary['cheapest'].get('name'))}</b> "
                f"({_esc(_usd(summary['cheapest'].get('batch_usd')))} Batch)"
                if summary.get("cheapest")
                else ""
            )
            + "</p>"
        )
    for key in ("reason", "error"):
        if request.get(key):
            text = str(request[key])
            cause = request.get("cause")
            if key == "error" and cause:
                summary_text = _cause_summary(str(cause))
                text = summary_text if summary_text.startswith(text) else f"{text}: {summary_text}"
            notes.append(f'<p class="note bad">{_esc(key)}: {_esc(text)}</p>')
    return (
        f'<header><h1>Run <span class="mono">{_esc(data.run_id)}</span></h1>'
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div></div>'
            for k, v in cards
        )
        + "</div>"
        + '<p class="facts">'
        + " · ".join(f"{_esc(k)} <b>{_esc(v)}</b>" for k, v in facts if v not in (None, "", "-"))
        + "</p>"
        + "".join(notes)
        + "</header>"
    )


def _legend() -> str:
    items = "".join(
        f'<span class="key"><i style="background:{s.fill};border-color:{s.border}"></i>'
        f"{_esc(s.legend)}</span>"
        for s in STATUS_STYLES.values()
    )
    return (
        f'<div class="legend">{items}<span class="key"><i class="catch"></i>Catch edge</span></div>'
    )


def _graph_svg(
    data: RunData, statuses: Mapping[str, NodeStatus], taken: set[tuple[str, str, str]]
) -> str:
    graph = workflow_graph(data.definition, statuses, taken=taken)
    svg = render(graph, "svg").decode()
    start = svg.index("<svg")
    head, rest = svg[start:].split(">", 1)
    # Scale to the column: drop the fixed size in points, keep the viewBox.
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    return head + ' id="workflow-graph" role="img" aria-label="workflow graph">' + rest


def _variants_table(data: RunData, visits: list[Visit]) -> str:
    request = data.request
    summary = request.get("summary") or {}
    fastest = (summary.get("fastest") or {}).get("name")
    cheapest = (summary.get("cheapest") or {}).get("name")
    by_variant_cost = (request.get("cost") or {}).get("by_variant") or {}
    labels = iteration_labels(visits)
    jobs = {labels.get(v.frames, v.job.name): v.job for v in visits if v.job}
    names = [str(v.get("name")) for v in request.get("variants") or [] if isinstance(v, dict)]
    names += [n for n in sorted(data.variants) if n not in names]
    rows = []
    for name in names:
        asked: dict[str, Any] = next(
            (v for v in request.get("variants") or [] if v.get("name") == name), {}
        )
        item = data.variants.get(name, {})
        pending = str(request.get("status")) in {"REQUESTED", "CLAIMED", "RUNNING"}
        status = str(item.get("status", "pending" if pending else "not run"))
        css = {"SUCCEEDED": "succeeded", "FAILED": "failed"}.get(status, "not-entered")
        tags = []
        if name == fastest:
            tags.append('<span class="tag">fastest</span>')
        if name == cheapest:
            tags.append('<span class="tag">cheapest</span>')
        job = jobs.get(name)
        attempts = item.get("attempts") or (len(job.attempts) if job else None)
        note = _cause_summary(str(item["cause"])) if item.get("cause") else ""
        if item.get("error"):
            note = f"{item['error']}: {note}" if note else str(item["error"])
        metrics = item.get("metrics") or {}
        if not note and metrics:
            note = ", ".join(
                f"{k} {metrics[k]}" for k in ("reads", "distinct_kmers") if k in metrics
            )
        cost = (item.get("cost") or {}).get("batch_usd", by_variant_cost.get(name))
        rows.append(
            f'<tr class="variant {css}" data-variant="{_esc(name)}">'
            f"<td><b>{_esc(name)}</b> {''.join(tags)}</td>"
            f"<td>{_esc(asked.get('capacity', item.get('capacity', '-')))}</td>"
            f"<td>{_esc(asked.get('vcpus', item.get('vcpus', '-')))} vCPU / "
            f"{_esc(asked.get('memory_mib', item.get('memory_mib', '-')))} MiB</td>"
            f"<td>{_badge(status, css)}</td>"
            f"<td class=num>{_esc(attempts if attempts is not None else '-')}</td>"
            f"<td class=num>{_esc(_seconds(item.get('duration_seconds')))}</td>"
            f"<td class=num>{_esc(_usd(cost))}</td>"
            f'<td class="why">{_esc(note)}</td></tr>'
        )
    return (
        "<section><h2>Variants</h2><table class=grid><thead><tr><th>variant</th><th>capacity</th>"
        "<th>size</th><th>status</th><th>attempts</th><th>duration</th><th>Batch cost</th>"
        "<th>result / error</th></tr></thead><tbody>"
        + ("".join(rows) or '<tr><td colspan="8">no variants</td></tr>')
        + "</tbody></table></section>"
    )


def _cost_table(data: RunData) -> str:
    cost = data.request.get("cost") or {}
    if not cost:
        why = {
            "FAILED": "the run failed before it was priced",
            "INVALID": "an invalid request runs nothing",
        }.get(str(data.request.get("status")), "the run is not priced yet")
        return (
            '<section><h2>Cost</h2><p class="muted">'
            f"No cost on the run item: {_esc(why)}.</p></section>"
        )
    total = float(cost.get("total_usd") or 0)
    rows = []
    for service, usd in sorted((cost.get("breakdown") or {}).items(), key=lambda kv: -float(kv[1])):
        share = float(usd) / total if total else 0.0
        rows.append(
            f"<tr><td>{_esc(service)}</td><td class=num>{_esc(_usd(usd))}</td>"
            f'<td><div class="share"><i style="width:{share * 100:.1f}%"></i></div></td>'
            f"<td class=num>{share:.0%}</td></tr>"
        )
    rows.append(
        f'<tr class="total"><td>total (estimate)</td><td class=num>{_esc(_usd(total))}</td>'
        "<td></td><td></td></tr>"
    )
    by_variant = cost.get("by_variant") or {}
    variant_rows = "".join(
        f"<tr><td>{_esc(n)}</td><td class=num>{_esc(_usd(u))}</td></tr>"
        for n, u in by_variant.items()
    )
    unpriced = [n for n in data.variants if n not in by_variant]
    return (
        "<section><h2>Cost</h2><table class=grid><thead><tr><th>service</th><th>USD</th>"
        "<th>share</th><th></th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + (
            "<h3>Batch by variant</h3><table class=grid><tbody>" + variant_rows + "</tbody></table>"
            if variant_rows
            else ""
        )
        + (
            f'<p class="muted">Not priced (failed): {_esc(", ".join(sorted(unpriced)))}.</p>'
            if unpriced
            else ""
        )
        + f'<p class="muted">{_esc(cost.get("currency", "USD"))} list prices of '
        f"{_esc(cost.get('price_region', '?'))} as of {_esc(cost.get('prices_as_of', '?'))}.</p>"
        "</section>"
    )


# --------------------------------------------------------------------------- timeline
@dataclass
class _Bar:
    start: dt.datetime
    end: dt.datetime
    css: str
    tip: str
    text: str = ""


@dataclass
class _Row:
    label: str
    depth: int
    bars: list[_Bar]
    kind: str = "state"


def _timeline_rows(visits: list[Visit], status: str, now: dt.datetime) -> list[_Row]:
    rows: list[_Row] = []
    labels = iteration_labels(visits)

    def state_row(index: int, visit: Visit, depth: int, suffix: str = "") -> None:
        end = visit.left or now
        outcome = visit.outcome(status)
        tip = f"{visit.name}{suffix}: {outcome}, {_seconds((end - visit.entered).total_seconds())}"
        if visit.error:
            tip += f" ({visit.error})"
        if visit.retries:
            tip += f", retried {visit.retries}{TIMES}"
        rows.append(_Row(visit.name + suffix, depth, [_Bar(visit.entered, end, outcome, tip)]))
        if visit.job:
            rows.append(_job_row(visit.job, depth + 1, suffix, now))
        if visit.type in _CONTAINER_TYPES:
            inner = [(i, v) for i, v in enumerate(visits) if v.frames and v.frames[-1][0] == index]
            iterations = sorted({v.frames[-1][1] for _, v in inner}, key=lambda x: (x is None, x))
            for iteration in iterations:
                members = [(i, v) for i, v in inner if v.frames[-1][1] == iteration]
                label = labels.get(members[0][1].frames, "")
                tag = (
                    f" · {label}" if label else (f" #{iteration}" if iteration is not None else "")
                )
                for i, v in members:
                    state_row(i, v, depth + 1, tag)

    for index, visit in enumerate(visits):
        if not visit.frames:
            state_row(index, visit, 0)
    return rows


def _job_row(job: JobTimeline, depth: int, suffix: str, now: dt.datetime) -> _Row:
    bars = []
    first_start = next((a.started for a in job.attempts if a.started), job.started)
    if job.created and first_start and first_start > job.created:
        bars.append(
            _Bar(
                job.created,
                first_start,
                "queued",
                f"job {job.name}: queued {_seconds((first_start - job.created).total_seconds())}",
            )
        )
    for n, attempt in enumerate(job.attempts, start=1):
        if not attempt.started:
            continue
        end = attempt.stopped or now
        last = n == len(job.attempts)
        css = "succeeded" if attempt.exit_code == 0 else ("failed" if last else "retried")
        bars.append(
            _Bar(
                attempt.started,
                end,
                css,
                f"job {job.name} attempt {n}: exit code {attempt.exit_code}, "
                f"{_seconds((end - attempt.started).total_seconds())} ({attempt.reason})",
                f"exit {attempt.exit_code}",
            )
        )
    return _Row(f"Batch job{suffix}", depth, bars, kind="job")


def _ticks(span: float) -> list[float]:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= 10:
            return [i * step for i in range(int(span / step) + 1)]
    step = 3600 * math.ceil(span / 36000)
    return [i * step for i in range(int(span / step) + 1)]


def _timeline(visits: list[Visit], data: RunData, status: str) -> str:
    if not visits:
        return '<section><h2>Timeline</h2><p class="muted">No execution history.</p></section>'
    stamps = [v.entered for v in visits] + [v.left for v in visits if v.left]
    stamps += [
        t
        for v in visits
        if v.job
        for a in v.job.attempts
        for t in (a.started, a.stopped)
        if t is not None
    ]
    if data.events:
        stamps.append(data.events[-1]["timestamp"])
    t0, t1 = min(stamps), max(stamps)
    now = t1
    rows = _timeline_rows(visits, status, now)
    span = max((t1 - t0).total_seconds(), 0.001)
    label_w, bar_w, row_h, top = 270, 1000, 20, 24
    width, height = label_w + bar_w + 70, top + row_h * len(rows) + 8

    def x(t: dt.datetime) -> float:
        return label_w + (t - t0).total_seconds() / span * bar_w

    parts = [
        f'<svg id="timeline" class="timeline" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="timeline">'
    ]
    for tick in _ticks(span):
        tx = label_w + tick / span * bar_w
        parts.append(
            f'<line class="tick" x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{height - 4}"/>'
            f'<text class="axis" x="{tx:.1f}" y="{top - 10}">'
            f"{_esc(_seconds(tick) if tick else '0')}</text>"
        )
    for n, row in enumerate(rows):
        y = top + n * row_h
        if n % 2 == 0:
            parts.append(f'<rect class="stripe" x="0" y="{y}" width="{width}" height="{row_h}"/>')
        parts.append(
            f'<text class="label {row.kind}" x="{6 + 14 * row.depth}" y="{y + 14}">'
            f"{_esc(row.label)}</text>"
        )
        for bar in row.bars:
            bx = x(bar.start)
            bw = max(x(bar.end) - bx, 2.0)
            parts.append(
                f'<rect class="bar {bar.css}" x="{bx:.1f}" y="{y + 4}" width="{bw:.1f}" '
                f'height="{row_h - 8}" rx="2"><title>{_esc(bar.tip)}</title></rect>'
            )
            if bar.text and bw > 42:
                parts.append(
                    f'<text class="bartext" x="{bx + 4:.1f}" y="{y + 14}">{_esc(bar.text)}</text>'
                )
        end = max((b.end for b in row.bars), default=None)
        if end is not None and row.bars:
            seconds = (end - min(b.start for b in row.bars)).total_seconds()
            parts.append(
                f'<text class="dur" x="{x(end) + 4:.1f}" y="{y + 14}">'
                f"{_esc(_seconds(seconds))}</text>"
            )
    parts.append("</svg>")
    return (
        "<section><h2>Timeline</h2>"
        '<p class="muted">States as the execution history records them; Batch jobs from their '
        "<code>.sync</code> results: queued, then each attempt with its exit code. "
        f"Time from {_esc(_when(t0))}.</p>"
        '<div class="scroll">' + "".join(parts) + "</div></section>"
    )


_CSS = """
:root { font-family: Arial, "Liberation Sans", Helvetica, sans-serif; color: #1f2933; }
body { margin: 0; background: #f4f6f9; }
main { max-width: 1400px; margin: 0 auto; padding: 18px 24px 40px; }
h1 { font-size: 24px; margin: 0 0 12px; } h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
.mono, code { font-family: "DejaVu Sans Mono", monospace; }
header, section { background: #fff; border: 1px solid #d9dee6; border-radius: 8px;
  padding: 14px 18px; margin-bottom: 16px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { border: 1px solid #e3e7ee; border-radius: 6px; padding: 8px 14px; min-width: 150px; }
.card .k { font-size: 12px; color: #667085; } .card .v { font-size: 18px; margin-top: 4px; }
.facts { font-size: 13px; color: #475467; margin: 10px 0 0; }
.note { margin: 8px 0 0; font-size: 14px; } .bad { color: #b42318; }
.muted { color: #667085; font-size: 12px; }
.badge { display: inline-block; padding: 2px 9px; border-radius: 11px; font-size: 13px;
  font-weight: bold; border: 1px solid; }
.tag { font-size: 11px; background: #eef4ff; color: #2f54b4; border-radius: 8px; padding: 1px 6px; }
.layout { display: grid; grid-template-columns: minmax(0, 3fr) minmax(320px, 2fr); gap: 16px;
  align-items: start; }
#workflow-graph { width: 100%; height: auto; display: block; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 12px; margin-bottom: 8px; }
.key i { display: inline-block; width: 14px; height: 12px; border: 2px solid; border-radius: 3px;
  vertical-align: -3px; margin-right: 5px; }
.key i.catch { border: 0; border-top: 2px dashed #c0504d; height: 0; width: 22px;
  vertical-align: 3px; }
table.grid { border-collapse: collapse; width: 100%; font-size: 13px; }
.grid th { text-align: left; color: #667085; font-weight: normal; border-bottom: 1px solid #d9dee6;
  padding: 4px 6px; }
.grid td { border-bottom: 1px solid #eef0f4; padding: 5px 6px; vertical-align: top; }
.grid td.num { text-align: right; white-space: nowrap; } .grid td.why { color: #475467; }
tr.variant.failed td:first-child { box-shadow: inset 4px 0 #c62828; }
tr.variant.succeeded td:first-child { box-shadow: inset 4px 0 #2e7d32; }
tr.total td { font-weight: bold; border-top: 1px solid #d9dee6; }
.share { background: #eef0f4; height: 8px; width: 120px; border-radius: 4px; }
.share i { display: block; background: #5b7db1; height: 8px; border-radius: 4px; }
.scroll { overflow-x: auto; }
.timeline text { font-size: 12px; fill: #1f2933; }
.timeline text.job { fill: #475467; font-style: italic; }
.timeline text.axis { fill: #667085; font-size: 11px; text-anchor: middle; }
.timeline text.dur { fill: #667085; font-size: 11px; }
.timeline text.bartext { fill: #1f2933; font-size: 10px; }
.timeline .tick { stroke: #e3e7ee; } .timeline .stripe { fill: #f8f9fb; }
.bar { stroke-width: 1.2; } .bar.queued { fill: #eceff3; stroke: #98a2b3; stroke-dasharray: 3 2; }
"""


def _status_css() -> str:
    rules = []
    for status, look in STATUS_STYLES.items():
        rules.append(
            f".badge.{status} {{ background: {look.fill}; border-color: {look.border}; "
            f"color: {look.border}; }}\n"
            f".bar.{status} {{ fill: {look.fill}; stroke: {look.border}; }}"
        )
    return "\n".join(rules)


def render_report(data: RunData) -> str:
    """The HTML page for one run."""
    visits = analyze(data.definition, data.events)
    status = execution_status(data)
    statuses = state_statuses(visits, status)
    graph = (
        '<section class="graph"><h2>Workflow</h2>'
        + _legend()
        + _graph_svg(data, statuses, transitions_taken(visits, status))
        + "</section>"
    )
    side = "<div>" + _cost_table(data) + "</div>"
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>runledger run {_esc(data.run_id)}: {_esc(data.request.get('status', '?'))}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}{_status_css()}</style></head><body><main>"
        + _header(data, status, visits)
        + _variants_table(data, visits)
        + f'<div class="layout">{graph}{side}</div>'
        + _timeline(visits, data, status)
        + '<p class="muted">Made by <code>runledger report</code> from the runs table and the '
        "execution history.</p></main></body></html>\n"
    )


# =========================================================================== browser
CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (make system-deps); never a download
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class BrowserMissingError(RuntimeError):
    """Chromium is not installed where the project's setup puts it."""


@dataclass
class BrowserLog:
    """What the page said while it loaded: console messages, uncaught errors, requests."""

    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"] + self.page_errors


@contextlib.contextmanager
def open_in_chromium(
    page: Path, *, width: int = 1440, height: int = 1000
) -> Iterator[tuple[Any, BrowserLog]]:
    """Open an HTML file in headless Chromium (a fresh profile); yields (page, log).

    Uses playwright to drive the system's Chromium (``CHROMIUM``), so nothing is
    downloaded; the flags keep it off the network.
    """
    executable = os.environ.get("RUNLEDGER_CHROMIUM", CHROMIUM)
    if not Path(executable).is_file():
        raise BrowserMissingError(
            f"Chromium not found at {executable}: install it with make system-deps "
            "(Debian package chromium)"
        )
    from playwright.sync_api import sync_playwright  # dev dependency

    log = BrowserLog()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            tab = browser.new_page(viewport={"width": width, "height": height})
            tab.on("console", lambda m: log.console.append((m.type, m.text)))
            tab.on("pageerror", lambda e: log.page_errors.append(str(e)))
            tab.on("request", lambda r: log.requests.append(r.url))
            tab.goto(page.resolve().as_uri(), wait_until="load")
            yield tab, log
        finally:
            browser.close()


def screenshot(page: Path, png: Path, *, width: int = 1440) -> BrowserLog:
    """A full-page PNG of an HTML page, as headless Chromium draws it."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with open_in_chromium(page, width=width) as (tab, log):
        tab.screenshot(path=str(png), full_page=True)
    return log


# =========================================================================== files
class Cloud(Protocol):
    """What ``write_run_reports`` needs of a cloud: clients and the runs table's name."""

    table_name: str

    def client(self, service: str) -> Any: ...


def report_path(out_dir: Path, run_id: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return out_dir / f"{'run' if safe[:1] in '-.' else ''}{safe}.html"


def write_report(data: RunData, output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_report(data), encoding="utf-8")
    return output


def write_run_reports(cloud: Cloud, run_ids: Iterable[str], out_dir: Path) -> dict[str, Path]:
    """Write one report per run into ``out_dir``; run id -> the page's path."""
    written: dict[str, Path] = {}
    dynamodb, stepfunctions = cloud.client("dynamodb"), cloud.client("stepfunctions")
    for run_id in run_ids:
        data = fetch_run(
            run_id, dynamodb=dynamodb, stepfunctions=stepfunctions, table=cloud.table_name
        )
        written[run_id] = write_report(data, report_path(out_dir, run_id))
    return written


def report_lines(cloud: Cloud, run_ids: Sequence[str], out_dir: Path) -> str:
    """Write a report per run and say where, for ``runledger local run``'s final output.

    A missing Graphviz does not fail the run: the runs happened, the text says how to get
    the pages.
    """
    from runledger_cli.graph import GraphvizMissingError

    try:
        written = write_run_reports(cloud, run_ids, out_dir)
    except GraphvizMissingError as exc:
        return f"reports not written: {exc}"
    width = max((len(run_id) for run_id in written), default=0)
    return "reports (open in a browser):\n" + "\n".join(
        f"  {run_id:<{width}}  {path}" for run_id, path in written.items()
    )
