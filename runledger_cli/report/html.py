"""The run's page as HTML: Jinja2 templates (templates/*.html.j2, autoescaped) filled with
what this module makes of the run, and report.css, all inline in one file.

Python decides what the page says (which notes, which badge, which numbers); the
templates only lay it out. Every value a template writes is escaped as ``html.escape``
does (``_escape``), as the page always was; markup made here (the graph's SVG) is marked
safe explicitly.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from markupsafe import Markup

from runledger_cli.graph import STATUS_STYLES, NodeStatus, render, workflow_graph
from runledger_cli.report.fetch import RunData
from runledger_cli.report.format import cause_summary, seconds, usd, when
from runledger_cli.report.history import (
    Visit,
    execution_status,
    iteration_labels,
    run_visits,
    state_statuses,
    transitions_taken,
)
from runledger_cli.report.timeline import timeline_layout

#: The badge colour (a graph status) of each run and execution status.
RUN_BADGE = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "INVALID": "failed",
    "RUNNING": "running",
    "CLAIMED": "running",
    "REQUESTED": "not-entered",
}
_PENDING = frozenset({"REQUESTED", "CLAIMED", "RUNNING"})


def _escape(value: Any) -> Any:
    """What every ``{{ ... }}`` writes: markup as it is, anything else ``html.escape``d
    (``&quot;`` and ``&#x27;``, where markupsafe would write ``&#34;`` and ``&#39;``).

    Jinja2 runs it before its own autoescape, which leaves markup alone.
    """
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value), quote=True))  # noqa: S704 (escaped just now)


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment: autoescaped, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("runledger_cli.report", "templates"),
        autoescape=True,
        finalize=_escape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["seconds"] = seconds
    env.filters["when"] = when
    env.filters["usd"] = usd
    env.filters["px"] = lambda value: f"{value:.1f}"
    return env


def stylesheet() -> str:
    """report.css, as the page inlines it."""
    env = environment()
    assert env.loader is not None  # the PackageLoader above
    source, _, _ = env.loader.get_source(env, "report.css")
    return source


def render_report(data: RunData) -> str:
    """The HTML page for one run."""
    visits = run_visits(data)  # the execution's and its children's
    status = execution_status(data)
    svg = _graph_svg(data, state_statuses(visits, status), transitions_taken(visits, status))
    page = environment().get_template("report.html.j2")
    return page.render(
        data=data,
        css=Markup(stylesheet()),  # noqa: S704 (the package's own report.css)
        status_styles=STATUS_STYLES,
        header=_header(data, status),
        variants=_variant_rows(data, visits),
        graph_svg=Markup(svg),  # noqa: S704 (dot's SVG; graph.py escapes what it gives dot)
        cost=_cost(data),
        timeline=timeline_layout(visits, data, status),
    )


# --------------------------------------------------------------------------- header
@dataclass
class Header:
    """The page's top: status cards, facts about the run, and notes."""

    run_status: str
    execution_status: str
    succeeded: int
    asked: int
    failed: list[str]
    duration: float | None
    cost: Any
    facts: list[tuple[str, Any]]
    fastest: dict[str, Any] | None = None
    cheapest: dict[str, Any] | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed_list(self) -> str:
        return ", ".join(self.failed)

    @property
    def run_badge(self) -> str:
        return RUN_BADGE.get(self.run_status, "not-entered")

    @property
    def execution_badge(self) -> str:
        return RUN_BADGE.get(self.execution_status, "not-entered")


def _header(data: RunData, status: str) -> Header:
    request, summary = data.request, data.request.get("summary") or {}
    started = data.execution.get("startDate") or request.get("claimed_at")
    stopped = data.execution.get("stopDate") or request.get("finished_at")
    asked = [v.get("name") for v in request.get("variants") or [] if isinstance(v, dict)]
    facts = [
        ("workflow", request.get("workflow")),
        ("cost center", request.get("cost_center")),
        ("attempt", request.get("attempt")),
        ("started", when(started)),
        ("finished", when(stopped)),
        ("execution", data.execution.get("name") or request.get("execution")),
        ("table", data.table),
    ]
    return Header(
        run_status=str(request.get("status", "?")),
        execution_status=status,
        succeeded=sum(1 for v in data.variants.values() if v.get("status") == "SUCCEEDED"),
        asked=len(asked) or len(data.variants),
        failed=sorted(n for n, v in data.variants.items() if v.get("status") == "FAILED"),
        duration=_duration(started, stopped),
        cost=(request.get("cost") or {}).get("total_usd"),
        facts=[(k, v) for k, v in facts if v not in (None, "", "-")],
        fastest=summary.get("fastest") or None,
        cheapest=summary.get("cheapest") or None,
        problems=_problems(request),
    )


def _duration(started: Any, stopped: Any) -> float | None:
    if not (started and stopped):
        return None
    begin = started if isinstance(started, dt.datetime) else dt.datetime.fromisoformat(started)
    end = stopped if isinstance(stopped, dt.datetime) else dt.datetime.fromisoformat(stopped)
    return (end - begin).total_seconds()


def _problems(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Why the run is INVALID or FAILED: (``reason`` or ``error``, the text)."""
    problems = []
    for key in ("reason", "error"):
        if request.get(key):
            text = str(request[key])
            cause = request.get("cause")
            if key == "error" and cause:
                summary_text = cause_summary(str(cause))
                text = summary_text if summary_text.startswith(text) else f"{text}: {summary_text}"
            problems.append((key, text))
    return problems


# --------------------------------------------------------------------------- graph
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


# --------------------------------------------------------------------------- variants
@dataclass
class VariantRow:
    name: str
    status: str
    css: str  # the row's and the badge's colour
    fastest: bool
    cheapest: bool
    capacity: Any
    vcpus: Any
    memory_mib: Any
    attempts: Any
    duration: Any
    cost: Any
    note: str


def _variant_rows(data: RunData, visits: list[Visit]) -> list[VariantRow]:
    """A row per requested variant (then any other variant item), in request order."""
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
        pending = str(request.get("status")) in _PENDING
        status = str(item.get("status", "pending" if pending else "not run"))
        job = jobs.get(name)
        attempts = item.get("attempts") or (len(job.attempts) if job else None)
        rows.append(
            VariantRow(
                name=name,
                status=status,
                css={"SUCCEEDED": "succeeded", "FAILED": "failed"}.get(status, "not-entered"),
                fastest=name == fastest,
                cheapest=name == cheapest,
                capacity=asked.get("capacity", item.get("capacity", "-")),
                vcpus=asked.get("vcpus", item.get("vcpus", "-")),
                memory_mib=asked.get("memory_mib", item.get("memory_mib", "-")),
                attempts=attempts if attempts is not None else "-",
                duration=item.get("duration_seconds"),
                cost=(item.get("cost") or {}).get("batch_usd", by_variant_cost.get(name)),
                note=_variant_note(item),
            )
        )
    return rows


def _variant_note(item: Mapping[str, Any]) -> str:
    """What a variant failed with, or what it found."""
    note = cause_summary(str(item["cause"])) if item.get("cause") else ""
    if item.get("error"):
        note = f"{item['error']}: {note}" if note else str(item["error"])
    metrics = item.get("metrics") or {}
    if not note and metrics:
        note = ", ".join(f"{k} {metrics[k]}" for k in ("reads", "distinct_kmers") if k in metrics)
    return note


# --------------------------------------------------------------------------- cost
@dataclass
class CostShare:
    service: str
    usd: Any
    share: float

    @property
    def width(self) -> str:
        """The share bar's width, in percent of the column."""
        return f"{self.share * 100:.1f}"

    @property
    def percent(self) -> str:
        return f"{self.share:.0%}"


@dataclass
class Cost:
    """The estimate on the run item, by service and by variant; or why there is none."""

    missing_why: str = ""
    total: float = 0.0
    services: list[CostShare] = field(default_factory=list)
    by_variant: dict[str, Any] = field(default_factory=dict)
    unpriced: str = ""
    currency: Any = "USD"
    price_region: Any = "?"
    prices_as_of: Any = "?"


def _cost(data: RunData) -> Cost:
    cost = data.request.get("cost") or {}
    if not cost:
        why = {
            "FAILED": "the run failed before it was priced",
            "INVALID": "an invalid request runs nothing",
        }.get(str(data.request.get("status")), "the run is not priced yet")
        return Cost(missing_why=why)
    total = float(cost.get("total_usd") or 0)
    breakdown = sorted((cost.get("breakdown") or {}).items(), key=lambda kv: -float(kv[1]))
    by_variant = cost.get("by_variant") or {}
    return Cost(
        total=total,
        services=[
            CostShare(service, amount, float(amount) / total if total else 0.0)
            for service, amount in breakdown
        ],
        by_variant=by_variant,
        unpriced=", ".join(sorted(n for n in data.variants if n not in by_variant)),
        currency=cost.get("currency", "USD"),
        price_region=cost.get("price_region", "?"),
        prices_as_of=cost.get("prices_as_of", "?"),
    )
