"""Reading an execution history: which state did what (report.history.visits_from_history).

The histories here are written event by event in the shape GetExecutionHistory returns
(ids, previousEventId links, *EventDetails), for the paths the local run does not take:
Step Functions retries, uncaught errors, a Fail state, an execution still running, a Map
whose iteration fails, a Parallel state, a Distributed Map's child executions (each a
history of its own, read as an iteration of its Map). tests/report/test_report_local.py reads real
histories from the local cloud.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from runledger_cli.graph import END, START, NodeStatus
from runledger_cli.report import (
    ChildRun,
    iteration_labels,
    state_statuses,
    transitions_taken,
    visits_from_history,
)


class History:
    """Events as GetExecutionHistory returns them, one second apart."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.add("ExecutionStarted", 0, input="{}")

    def add(self, kind: str, previous: int, **details: Any) -> int:
        event_id = len(self.events) + 1
        if kind.endswith("StateEntered"):
            key = "stateEnteredEventDetails"
        elif kind.endswith("StateExited"):
            key = "stateExitedEventDetails"
        else:
            key = kind[0].lower() + kind[1:] + "EventDetails"
        event: dict[str, Any] = {
            "id": event_id,
            "previousEventId": previous,
            "type": kind,
            "timestamp": dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
            + dt.timedelta(seconds=event_id),
        }
        if details:
            event[key] = details
        self.events.append(event)
        return event_id

    def task(
        self, name: str, previous: int, *results: str, exited: bool = True, **entered: Any
    ) -> int:
        """A Task state: entered, one attempt per result ("ok" or an error name), exited."""
        last = self.add("TaskStateEntered", previous, name=name, **entered)
        for result in results:
            last = self.add("TaskScheduled", last, resourceType="lambda", resource="invoke")
            last = self.add("TaskStarted", last)
            if result == "ok":
                last = self.add("TaskSucceeded", last, output="{}")
            else:
                last = self.add("TaskFailed", last, error=result, cause=f"{result} happened")
        if exited:
            last = self.add("TaskStateExited", last, name=name, output="{}")
        return last


def machine(*names: str, **extra: Any) -> dict[str, Any]:
    states: dict[str, Any] = {n: {"Type": "Task", "Resource": "x", "Next": "?"} for n in names}
    states.update(extra)
    return {"StartAt": names[0], "States": states}


def test_a_task_retried_then_successful_is_retried_n_times() -> None:
    h = History()
    last = h.task("Flaky", 1, "Lambda.ServiceException", "Lambda.ServiceException", "ok")
    h.add("ExecutionSucceeded", h.task("After", last, "ok"), output="{}")
    visits = visits_from_history(machine("Flaky", "After"), h.events)
    statuses = state_statuses(visits, "SUCCEEDED")
    assert [v.name for v in visits] == ["Flaky", "After"]
    assert visits[0].task_attempts == 3
    assert statuses["Flaky"].status == "retried"
    assert "retried 2" in statuses["Flaky"].note
    assert statuses["After"].status == "succeeded"
    assert transitions_taken(visits, "SUCCEEDED") == {
        (START, "Flaky", "next"),
        ("Flaky", "After", "next"),
        ("After", END, "next"),  # the execution ended there
    }


def test_an_error_handled_by_a_catch_is_caught_with_or_without_an_exit_event() -> None:
    for exited in (True, False):
        h = History()
        last = h.task("Risky", 1, "States.TaskFailed", exited=exited)
        last = h.task("Handler", last, "ok")
        h.add("ExecutionSucceeded", last)
        visits = visits_from_history(machine("Risky", "Handler"), h.events)
        statuses = state_statuses(visits, "SUCCEEDED")
        assert statuses["Risky"].status == "caught"
        assert statuses["Risky"].note == "caught: States.TaskFailed"
        assert ("Risky", "Handler", "catch") in transitions_taken(visits, "SUCCEEDED")


def test_an_uncaught_error_fails_the_state_and_later_states_are_not_entered() -> None:
    h = History()
    last = h.task("Breaks", 1, "States.Timeout", exited=False)
    h.add("ExecutionFailed", last, error="States.Timeout", cause="too slow")
    visits = visits_from_history(machine("Breaks", "Never"), h.events)
    statuses = state_statuses(visits, "FAILED")
    assert statuses["Breaks"].status == "failed"
    assert "Never" not in statuses  # drawn "not entered"
    assert visits[0].left == h.events[-1]["timestamp"]


def test_a_fail_state_is_failed_with_the_execution_error() -> None:
    h = History()
    last = h.task("Work", 1, "ok")
    last = h.add("FailStateEntered", last, name="Stop")
    h.add("ExecutionFailed", last, error="RunFailed", cause="see the history")
    visits = visits_from_history(machine("Work", Stop={"Type": "Fail"}), h.events)
    assert state_statuses(visits, "FAILED")["Stop"].status == "failed"
    assert visits[-1].error == "RunFailed"
    assert ("Stop", END, "next") in transitions_taken(visits, "FAILED")


def test_a_state_of_a_running_execution_is_in_progress() -> None:
    h = History()
    last = h.task("Done", 1, "ok")
    last = h.add("TaskStateEntered", last, name="Busy")
    h.add("TaskScheduled", last, resourceType="batch", resource="submitJob.sync")
    statuses = state_statuses(visits_from_history(machine("Done", "Busy"), h.events), "RUNNING")
    assert statuses["Done"].status == "succeeded"
    assert statuses["Busy"] == NodeStatus("running", "in progress")


def test_map_iterations_are_told_apart_and_a_failed_iteration_fails_the_map() -> None:
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": "x", "End": True}},
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handler"}],
                "End": True,
            },
            "Handler": {"Type": "Pass", "End": True},
        },
    }
    h = History()
    fan = h.add("MapStateEntered", 1, name="Fan", input="[]")
    started = h.add("MapStateStarted", fan, length=2)
    it0 = h.add("MapIterationStarted", started, name="Fan", index=0)
    it1 = h.add("MapIterationStarted", started, name="Fan", index=1)
    # The two iterations interleave, as they do when they run at once.
    w0 = h.add("TaskStateEntered", it0, name="Work", input=json.dumps({"name": "small"}))
    # An ItemSelector's input carries the item under "variant" (as RunVariants' does).
    selected = {"variant": {"name": "large"}, "job_name": "run-large"}
    w1 = h.add("TaskStateEntered", it1, name="Work", input=json.dumps(selected))
    s0 = h.add("TaskScheduled", w0)
    s1 = h.add("TaskScheduled", w1)
    f1 = h.add("TaskFailed", s1, error="States.TaskFailed", cause="exit 2")
    ok0 = h.add("TaskSucceeded", s0, output="{}")
    x0 = h.add("TaskStateExited", ok0, name="Work")
    done0 = h.add("MapIterationSucceeded", x0, name="Fan", index=0)
    failed1 = h.add("MapIterationFailed", f1, name="Fan", index=1)
    map_failed = h.add("MapStateFailed", failed1)
    handler = h.add("PassStateEntered", map_failed, name="Handler")
    h.add("ExecutionSucceeded", h.add("PassStateExited", handler, name="Handler"))
    assert done0

    visits = visits_from_history(definition, h.events)
    statuses = state_statuses(visits, "SUCCEEDED")
    work = [v for v in visits if v.name == "Work"]
    assert [v.frames[-1][1] for v in work] == [0, 1]
    assert [v.item_label for v in work] == ["small", "large"]
    assert [v.outcome("SUCCEEDED") for v in work] == ["succeeded", "failed"]
    assert statuses["Work"].status == "failed"
    assert statuses["Work"].note == "2 runs: 1 ok · 1 failed"
    assert statuses["Fan"].status == "caught"
    assert "2 iterations" in statuses["Fan"].note
    assert visits[0].error == "States.TaskFailed"  # the Map's error is its iteration's
    assert ("Fan", "Handler", "catch") in transitions_taken(visits, "SUCCEEDED")


def test_parallel_branches_close_back_into_the_parallel_state() -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Left",
                        "States": {"Left": {"Type": "Task", "Resource": "x", "End": True}},
                    },
                    {
                        "StartAt": "Right",
                        "States": {"Right": {"Type": "Task", "Resource": "x", "End": True}},
                    },
                ],
                "Next": "After",
            },
            "After": {"Type": "Succeed"},
        },
    }
    h = History()
    both = h.add("ParallelStateEntered", 1, name="Both")
    started = h.add("ParallelStateStarted", both)
    left = h.task("Left", started, "ok")
    right = h.task("Right", started, "ok")
    assert left
    closed = h.add("ParallelStateSucceeded", right)
    exited = h.add("ParallelStateExited", closed, name="Both")
    after = h.add("SucceedStateEntered", exited, name="After")
    h.add("ExecutionSucceeded", h.add("SucceedStateExited", after, name="After"))

    visits = visits_from_history(definition, h.events)
    statuses = state_statuses(visits, "SUCCEEDED")
    assert {name: s.status for name, s in statuses.items()} == dict.fromkeys(
        ("Both", "Left", "Right", "After"), "succeeded"
    )
    both_visit = visits[0]
    assert both_visit.exited
    assert both_visit.next_state == "After"
    assert [v.frames for v in visits if v.name in {"Left", "Right"}] == [((0, None),)] * 2


# --------------------------------------------------------------------------- Distributed Map
MAP_RUN = "arn:aws:states:us-east-1:123456789012:mapRun:wf/Jobs:run-1"


def distributed_map() -> dict[str, Any]:
    """A Distributed Map (as RunVariants): each item a child execution of Work, its
    failure caught inside the child by Record; the Map's own Catch leads to Handler."""
    return {
        "StartAt": "Jobs",
        "States": {
            "Jobs": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Work",
                    "States": {
                        "Work": {
                            "Type": "Task",
                            "Resource": "x",
                            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Record"}],
                            "End": True,
                        },
                        "Record": {"Type": "Task", "Resource": "x", "End": True},
                    },
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handler"}],
                "Next": "After",
            },
            "Handler": {"Type": "Pass", "End": True},
            "After": {"Type": "Succeed"},
        },
    }


def child(key: str, map_run: str = MAP_RUN) -> tuple[History, ChildRun]:
    """A child execution of the Map Run, its input the job ``key`` (as RunVariants'
    ItemSelector gives it); its events are added to the History returned."""
    h = History()
    selected = json.dumps({"key": key, "variant": {"name": key.split("#")[0]}})
    h.events[0]["executionStartedEventDetails"]["input"] = selected
    return h, ChildRun(arn=f"arn:child:{key}", map_run_arn=map_run, status="", events=h.events)


def map_run_started(h: History, keys: list[str]) -> int:
    """The parent's Map state entered with its items, and its Map Run started."""
    items = json.dumps([{"key": k} for k in keys])
    entered = h.add("MapStateEntered", 1, name="Jobs", input=items)
    started = h.add("MapStateStarted", entered, length=len(keys))
    return h.add("MapRunStarted", started, mapRunArn=MAP_RUN)


def test_children_are_the_map_iterations_in_item_order_each_labelled_by_its_job() -> None:
    parent = History()
    keys = ["a", "b#1", "b#2"]
    run = map_run_started(parent, keys)
    closed = parent.add("MapRunSucceeded", run)
    parent.add("MapStateSucceeded", closed)
    exited = parent.add("MapStateExited", closed, name="Jobs")
    after = parent.add("SucceedStateEntered", exited, name="After")
    parent.add("ExecutionSucceeded", parent.add("SucceedStateExited", after, name="After"))
    h_a, a = child("a")
    h_b1, b1 = child("b#1")
    h_b2, b2 = child("b#2")
    h_a.add(
        "ExecutionSucceeded",
        h_a.task("Work", 1, "ok"),
    )
    failed = h_b1.task("Work", 1, "States.TaskFailed")
    h_b1.add("ExecutionSucceeded", h_b1.task("Record", failed, "ok"))
    retried = h_b2.task("Work", 1, "Lambda.ServiceException", "ok")
    h_b2.add("ExecutionSucceeded", retried)
    _, stray = child("z", map_run="arn:another-map-run")  # not this history's: left out
    stray.events.append(dict(h_a.events[1]))

    # Listed by start (b#2 started first): read in the Map's item order all the same.
    visits = visits_from_history(distributed_map(), parent.events, [b2, stray, a, b1])
    statuses = state_statuses(visits, "SUCCEEDED")
    work = [v for v in visits if v.name == "Work"]
    assert [v.item_label for v in work] == keys
    assert [v.frames for v in work] == [((0, 0),), ((0, 1),), ((0, 2),)]
    assert set(iteration_labels(visits).values()) == set(keys)
    assert statuses["Work"] == NodeStatus(
        "caught", "3 runs: 2 ok · 1 caught · retried 1\N{MULTIPLICATION SIGN}"
    )
    assert statuses["Record"].status == "succeeded"
    assert statuses["Jobs"] == NodeStatus("succeeded", "3 iterations")
    assert "Handler" not in statuses
    taken = transitions_taken(visits, "SUCCEEDED")
    assert {("Work", "Record", "catch"), ("Jobs", "After", "next"), ("After", END, "next")} <= taken
    # The children's event ids start at 1 again: the parent's events after the Map are
    # still the parent's.
    assert [v.name for v in visits if not v.frames] == ["Jobs", "After"]
    assert visits[0].exited


def test_a_failed_or_aborted_child_fails_its_state_and_the_map_run() -> None:
    parent = History()
    run = map_run_started(parent, ["a", "b"])
    h_a, a = child("a")
    h_b, b = child("b")
    # a: an error Work's Catch does not catch (the child fails); b: aborted while Work ran.
    failed = h_a.task("Work", 1, "States.Runtime", exited=False)
    h_a.add("ExecutionFailed", failed, error="States.Runtime", cause="bad")
    working = h_b.add("TaskStateEntered", 1, name="Work")
    h_b.add("ExecutionAborted", h_b.add("TaskScheduled", working))
    map_failed = parent.add("MapStateFailed", parent.add("MapRunFailed", run))
    handler = parent.add("PassStateEntered", map_failed, name="Handler")
    parent.add("ExecutionSucceeded", parent.add("PassStateExited", handler, name="Handler"))

    visits = visits_from_history(distributed_map(), parent.events, [a, b])
    statuses = state_statuses(visits, "SUCCEEDED")
    work = {v.item_label: v for v in visits if v.name == "Work"}
    assert {k: (v.outcome("SUCCEEDED"), v.error) for k, v in work.items()} == {
        "a": ("failed", "States.Runtime"),
        "b": ("failed", "ExecutionAborted"),
    }
    assert work["b"].left == h_b.events[-1]["timestamp"]  # ended with its child
    assert statuses["Work"] == NodeStatus("failed", "2 runs · 2 failed")
    assert statuses["Jobs"].status == "caught"
    assert ("Jobs", "Handler", "catch") in transitions_taken(visits, "SUCCEEDED")
    assert visits[0].error in {"States.Runtime", "ExecutionAborted"}


def test_a_child_still_running_is_in_progress() -> None:
    parent = History()
    run = map_run_started(parent, ["a"])
    assert run
    h_a, a = child("a")
    h_a.add("TaskScheduled", h_a.add("TaskStateEntered", 1, name="Work"))
    statuses = state_statuses(visits_from_history(distributed_map(), parent.events, [a]), "RUNNING")
    assert statuses["Work"] == NodeStatus("running", "in progress")
    assert statuses["Jobs"].status == "running"
