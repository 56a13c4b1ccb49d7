"""One self-contained HTML page for one run: what the Step Functions console shows, offline.

The page is built from two sources, read with ordinary boto3 clients, so the same code
works against the local cloud (an endpoint URL) and a deployed stack (``fetch``): the run
as the runs table holds it (runledger_cli.ledger) and its execution (history, description
and the definition that ran), with the child execution its Distributed Map ran for each
job (each one's history: a job's states and its Batch job are there, not in the run's).

It shows the workflow graph (runledger_cli.graph) with each state coloured by what happened
(succeeded, failed, caught, retried N times, in progress, not entered; ``history``, which
reads each child as an iteration of its Map, as if the Map were inline), a Gantt-style
timeline of the states and the Batch jobs (from the ``.sync`` results in the histories:
queueing, each attempt and its exit code; ``timeline``), the run's final status,
its variants and their results, and the cost breakdown (``html``, with the Jinja2
templates and report.css of ``templates/``). Everything (CSS, SVG) is inline: no external
asset. ``browser`` opens a page in headless Chromium.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from runledger_cli.report.browser import (
    CHROMIUM,
    BrowserLog,
    BrowserMissingError,
    open_in_chromium,
    screenshot,
)
from runledger_cli.report.fetch import ChildRun, RunData, fetch_run
from runledger_cli.report.history import (
    JobAttempt,
    JobTimeline,
    Visit,
    execution_status,
    iteration_labels,
    run_visits,
    state_statuses,
    transitions_taken,
    visits_from_history,
)
from runledger_cli.report.html import render_report

__all__ = [
    "CHROMIUM",
    "BrowserLog",
    "BrowserMissingError",
    "ChildRun",
    "Cloud",
    "JobAttempt",
    "JobTimeline",
    "RunData",
    "Visit",
    "execution_status",
    "fetch_run",
    "iteration_labels",
    "open_in_chromium",
    "render_report",
    "report_lines",
    "report_path",
    "run_visits",
    "screenshot",
    "state_statuses",
    "transitions_taken",
    "visits_from_history",
    "write_report",
    "write_run_reports",
]


class Cloud(Protocol):
    """What ``write_run_reports`` needs of a cloud: clients and the runs table's name."""

    table_name: str

    def client(self, service: str) -> Any: ...


#: Characters of a run id kept in its page's name (file systems take 255 bytes of name).
MAX_NAME_CHARS = 100


def report_path(out_dir: Path, run_id: str) -> Path:
    """Where a run's page goes in ``out_dir``: its id made a safe file name. An id that
    had to change (other characters, or longer than MAX_NAME_CHARS: the table holds any)
    ends with a hash of the whole id, so that two ids never share a page."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in run_id)
    if safe != run_id or len(safe) > MAX_NAME_CHARS:
        digest = hashlib.sha256(run_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        safe = f"{safe[:MAX_NAME_CHARS]}-{digest}"
    return out_dir / f"{'run' if safe[:1] in '-.' else ''}{safe}.html"


def write_report(data: RunData, output: Path) -> Path:
    """Write the page of ``data`` to ``output`` (its folder made if need be)."""
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
    from runledger_cli.terminal import one_line

    shown = {one_line(run_id): path for run_id, path in written.items()}  # ids from the table
    width = max((len(run_id) for run_id in shown), default=0)
    return "reports (open in a browser):\n" + "\n".join(
        f"  {run_id:<{width}}  {path}" for run_id, path in shown.items()
    )
