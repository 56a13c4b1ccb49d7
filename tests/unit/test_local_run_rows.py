"""The rows of ``runledger local run``'s table (``run_row``): one line per run, whatever
its item holds. The failing examples of the fuzz tier (tests/fuzz), kept."""

from __future__ import annotations

from typing import Any

import pytest

from runledger_cli.commands.local import run_row
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
