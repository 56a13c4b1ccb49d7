"""The timeline of a run, laid out for the page: one row per state visit and Batch job, a
bar per visit, job queueing and job attempt, and the time axis.

``timeline_layout`` computes where everything goes (the SVG's size, each row's y, each
bar's x and width); templates/timeline.html.j2 draws it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runledger_cli.report.format import seconds
from runledger_cli.report.history import (
    CONTAINER_TYPES,
    TIMES,
    JobTimeline,
    Visit,
    iteration_labels,
)

if TYPE_CHECKING:
    from runledger_cli.report.fetch import RunData

LABEL_WIDTH, BAR_WIDTH, ROW_HEIGHT, TOP = 270, 1000, 20, 24
#: A bar narrower than this (px) has no room for its text.
BAR_TEXT_MIN_WIDTH = 42


@dataclass
class Bar:
    start: dt.datetime
    end: dt.datetime
    css: str
    tip: str
    text: str = ""
    x: float = 0.0
    width: float = 0.0


@dataclass
class Row:
    label: str
    depth: int
    bars: list[Bar]
    kind: str = "state"
    y: int = 0
    #: Where the row's duration is written (after its last bar), and the duration.
    duration_x: float | None = None
    duration: float = 0.0


@dataclass
class Tick:
    x: float
    label: str


@dataclass
class TimelineLayout:
    start: dt.datetime
    width: int
    height: int
    ticks: list[Tick]
    rows: list[Row]

    row_height: int = ROW_HEIGHT
    top: int = TOP
    bar_text_min_width: int = BAR_TEXT_MIN_WIDTH


def timeline_layout(visits: list[Visit], data: RunData, status: str) -> TimelineLayout | None:
    """Where the timeline's rows and bars go; None when there is no execution history."""
    if not visits:
        return None
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
    rows = _rows(visits, status, now=t1)
    span = max((t1 - t0).total_seconds(), 0.001)
    width, height = LABEL_WIDTH + BAR_WIDTH + 70, TOP + ROW_HEIGHT * len(rows) + 8

    def x(t: dt.datetime) -> float:
        return LABEL_WIDTH + (t - t0).total_seconds() / span * BAR_WIDTH

    for n, row in enumerate(rows):
        row.y = TOP + n * ROW_HEIGHT
        for bar in row.bars:
            bar.x = x(bar.start)
            bar.width = max(x(bar.end) - bar.x, 2.0)
        if row.bars:
            end = max(b.end for b in row.bars)
            row.duration_x = x(end) + 4
            row.duration = (end - min(b.start for b in row.bars)).total_seconds()
    ticks = [
        Tick(LABEL_WIDTH + tick / span * BAR_WIDTH, seconds(tick) if tick else "0")
        for tick in _ticks(span)
    ]
    return TimelineLayout(start=t0, width=width, height=height, ticks=ticks, rows=rows)


def _rows(visits: list[Visit], status: str, now: dt.datetime) -> list[Row]:
    """A row per visit (its job's row below it), a container's iterations inside it."""
    rows: list[Row] = []
    labels = iteration_labels(visits)

    def state_row(index: int, visit: Visit, depth: int, suffix: str = "") -> None:
        rows.append(_state_row(visit, depth, suffix, status, now))
        if visit.job:
            rows.append(_job_row(visit.job, depth + 1, suffix, now))
        if visit.type in CONTAINER_TYPES:
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


def _state_row(visit: Visit, depth: int, suffix: str, status: str, now: dt.datetime) -> Row:
    end = visit.left or now
    outcome = visit.outcome(status)
    tip = f"{visit.name}{suffix}: {outcome}, {seconds((end - visit.entered).total_seconds())}"
    if visit.error:
        tip += f" ({visit.error})"
    if visit.retries:
        tip += f", retried {visit.retries}{TIMES}"
    return Row(visit.name + suffix, depth, [Bar(visit.entered, end, outcome, tip)])


def _job_row(job: JobTimeline, depth: int, suffix: str, now: dt.datetime) -> Row:
    bars = []
    first_start = next((a.started for a in job.attempts if a.started), job.started)
    if job.created and first_start and first_start > job.created:
        bars.append(
            Bar(
                job.created,
                first_start,
                "queued",
                f"job {job.name}: queued {seconds((first_start - job.created).total_seconds())}",
            )
        )
    for n, attempt in enumerate(job.attempts, start=1):
        if not attempt.started:
            continue
        end = attempt.stopped or now
        last = n == len(job.attempts)
        css = "succeeded" if attempt.exit_code == 0 else ("failed" if last else "retried")
        bars.append(
            Bar(
                attempt.started,
                end,
                css,
                f"job {job.name} attempt {n}: exit code {attempt.exit_code}, "
                f"{seconds((end - attempt.started).total_seconds())} ({attempt.reason})",
                f"exit {attempt.exit_code}",
            )
        )
    return Row(f"Batch job{suffix}", depth, bars, kind="job")


def _ticks(span: float) -> list[float]:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= 10:
            return [i * step for i in range(int(span / step) + 1)]
    step = 3600 * math.ceil(span / 36000)
    return [i * step for i in range(int(span / step) + 1)]
