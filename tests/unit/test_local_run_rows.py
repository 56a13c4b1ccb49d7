"""The rows of ``runledger local run``'s tables (``run_row``, ``job_rows``): one line per
run or job, whatever its item holds. The failing examples of the fuzz tier (tests/fuzz),
kept."""

from __future__ import annotations

from typing import Any

import pytest

from runledger_cli.commands.local import job_rows, run_row
from runledger_cli.ledger import RunRecord

INVALID = {"status": "INVALID", "reason": "cost_center: required"}


@pytest.mark.parametrize(
    ("run_id", "request_", "shown"),
    [
        # A newline or tab in the run id made two rows of one (a row could be forged).
        ("fz1\nfake SUCCEEDED", INVALID, "fz1\\x0afake SUCCEEDED"),
        ("fz2\tx", INVALID, "fz2\\x09x"),
        ("fz3\u202e", INVALID, "fz3\\u202e"),
    ],
)
def test_a_run_id_is_shown_on_its_row_escaped(
    run_id: str, request_: dict[str, Any], shown: str
) -> None:
    row = run_row(RunRecord(run_id=run_id, request=request_))

    assert "\n" not in row
    assert row.startswith(shown + " ")
    assert " INVALID " in row


@pytest.mark.parametrize(
    "written",
    [
        {"cost": ["a", "list"]},  # AttributeError: 'list' object has no attribute 'get'
        {"cost": {"total_usd": "lots"}},
        {"cost": {"total_usd": True}},
        {"claimed_at": 5, "finished_at": "later"},  # a run not claimed keeps what it holds
        {"claimed_at": "2026-12-01T00:00:00", "finished_at": ["x"]},
    ],
)
def test_a_cost_or_times_of_another_type_show_as_a_dash(written: dict[str, Any]) -> None:
    row = run_row(RunRecord(run_id="fz4", request={"status": "REQUESTED", **written}))

    assert row.split()[:3] == ["fz4", "REQUESTED", "0/0"]
    assert row.split()[4:6] == ["-", "-"]


def test_a_finished_run_shows_its_duration_and_cost() -> None:
    request = {
        "status": "SUCCEEDED",
        "claimed_at": "2026-12-01T00:00:00",
        "finished_at": "2026-12-01T00:00:01.5",
        "cost": {"total_usd": 0.00123456},
    }

    assert run_row(RunRecord(run_id="fz5", request=request)).split()[4:6] == ["1.5s", "$0.001235"]


def succeeded_job(duration: float, usd: float) -> dict[str, Any]:
    return {
        "status": "SUCCEEDED",
        "capacity": "SPOT",
        "vcpus": 2,
        "memory_mib": 4096,
        "duration_seconds": duration,
        "cost": {"batch_usd": usd},
    }


def test_a_run_s_jobs_follow_the_runs_table_one_row_each_and_each_repeated_variant_s_spread() -> (
    None
):
    run = RunRecord(
        run_id="r1",
        request={
            "workflow": "kmer-count",
            "summary": {
                "repeats": {
                    "b": {
                        "jobs": 2,
                        "succeeded": 1,
                        "duration_min_seconds": 3.0,
                        "duration_median_seconds": 3.0,
                        "duration_max_seconds": 3.0,
                        "batch_usd_mean": 0.002,
                    }
                }
            },
        },
        variants={
            "a": succeeded_job(1.25, 0.001),
            "b#1": succeeded_job(3.0, 0.002),
            "b#2": {"status": "FAILED", "error": "States.TaskFailed"},
        },
    )
    rows = job_rows(run)
    assert rows[0] == "\nr1 (kmer-count)"
    assert rows[1].split() == [
        "job", "capacity", "vCPU", "MiB", "status", "duration", "batch", "cost",
    ]  # fmt: skip
    assert [row.split() for row in rows[2:5]] == [
        ["a", "SPOT", "2", "4096", "SUCCEEDED", "1.2s", "$0.001000"],
        ["b#1", "SPOT", "2", "4096", "SUCCEEDED", "3.0s", "$0.002000"],
        ["b#2", "-", "-", "-", "FAILED", "-", "-"],
    ]
    assert rows[5] == (
        "  b: 2 jobs, 1 ok, duration 3.0s min / 3.0s median / 3.0s max, mean batch cost $0.002000"
    )
    assert len(rows) == 6


def test_a_run_that_ran_no_job_has_no_job_table() -> None:
    assert job_rows(RunRecord(run_id="r2", request=INVALID)) == []


@pytest.mark.parametrize(
    "hostile",
    [
        {
            "status": "SUCCEEDED\nfake",
            "cost": "free",
            "vcpus": {"N": "1"},
            "duration_seconds": True,
        },
        {"capacity": "x" * 500, "memory_mib": None, "cost": {"batch_usd": "1"}},
    ],
)
def test_a_job_row_is_one_line_whatever_its_item_holds(hostile: dict[str, Any]) -> None:
    rows = job_rows(
        RunRecord(
            run_id="r3",
            request={"summary": {"repeats": {"v\n": "not a spread", "w": {"jobs": [1]}}}},
            variants={"j\u202e": hostile},
        )
    )
    assert all("\n" not in row.lstrip("\n") for row in rows)
    assert len(rows) == 4  # title, header, the job, w's spread (v's is not one)
