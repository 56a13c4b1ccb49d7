"""Reading a run's child executions (report.fetch.fetch_children): every child of its
Distributed Map, oldest first, each with its whole history; a run of many children says
how far the reading got on stderr."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

from runledger_cli.report import fetch

PARENT = "arn:aws:states:us-east-1:123456789012:execution:wf:run"
MAP_RUN = "arn:aws:states:us-east-1:123456789012:mapRun:wf/Jobs:1"


class FakeStepFunctions:
    """ListMapRuns, ListExecutions(mapRunArn) and GetExecutionHistory of one parent whose
    Map Run started ``count`` children, paged as the service pages them."""

    def __init__(self, count: int, page: int = 100) -> None:
        start = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
        self.page = page
        # Listed newest first, as ListExecutions lists.
        self.children = [
            {
                "executionArn": f"{PARENT}/Jobs:{n}",
                "mapRunArn": MAP_RUN,
                "status": "SUCCEEDED",
                "startDate": start + dt.timedelta(seconds=n),
            }
            for n in reversed(range(count))
        ]
        self.histories_read: list[str] = []

    def get_paginator(self, operation: str) -> Any:
        return _Paginator(self, operation)

    def pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        if operation == "list_map_runs":
            assert kwargs == {"executionArn": PARENT}
            yield {"mapRuns": [{"mapRunArn": MAP_RUN, "executionArn": PARENT}]}
        elif operation == "list_executions":
            assert kwargs == {"mapRunArn": MAP_RUN}
            for first in range(0, len(self.children), self.page):
                yield {"executions": self.children[first : first + self.page]}
        elif operation == "get_execution_history":
            arn = kwargs["executionArn"]
            self.histories_read.append(arn)
            yield {"events": [{"id": 1, "previousEventId": 0, "type": "ExecutionStarted"}]}
            yield {"events": [{"id": 2, "previousEventId": 1, "type": "ExecutionSucceeded"}]}
        else:
            raise AssertionError(operation)


class _Paginator:
    def __init__(self, client: FakeStepFunctions, operation: str) -> None:
        self.client, self.operation = client, operation

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self.client.pages(self.operation, **kwargs)


def test_every_child_is_read_oldest_first_with_every_page_of_its_history() -> None:
    sfn, stream = FakeStepFunctions(250), io.StringIO()
    children = fetch.fetch_children(sfn, PARENT, progress=stream)
    assert len(children) == 250
    assert [c.arn for c in children] == [f"{PARENT}/Jobs:{n}" for n in range(250)]
    assert sorted(sfn.histories_read) == sorted(c.arn for c in children)  # once each
    assert all([e["id"] for e in c.events] == [1, 2] for c in children)
    assert {c.map_run_arn for c in children} == {MAP_RUN}
    assert stream.getvalue().splitlines() == [
        "reading the histories of 250 child executions ...",
        "  100/250 child executions read",
        "  200/250 child executions read",
        "  250/250 child executions read",
    ]


def test_a_run_of_a_few_children_reads_them_quietly() -> None:
    stream = io.StringIO()
    children = fetch.fetch_children(FakeStepFunctions(fetch.PROGRESS_FROM), PARENT, progress=stream)
    assert len(children) == fetch.PROGRESS_FROM
    assert stream.getvalue() == ""
