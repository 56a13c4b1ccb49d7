"""The fault matrix (make test-faults): every Task state of the run workflow x every fault
class that can reach it, generated from the ASL (tests/fault_matrix.py), plus the pipe's
target missing; all cells side by side in one local cloud.

Each cell asserts the end README "How it behaves" promises and that nothing is stuck.
With RUNLEDGER_FAULT_RESULTS set (make test-faults), the figures are appended to that file
as one JSON line.
"""

from __future__ import annotations

from typing import Any

import pytest
import tier_figures
from dead_letters import DeadLettered, dead_lettered
from fault_matrix import Cell, CellResult, cells, problems, run_cells, summary

from runledger_local.cloud import LocalPipeline

pytestmark = pytest.mark.faults
ALL = cells()


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest) -> tuple[dict[str, CellResult], DeadLettered]:
    with LocalPipeline(stack_name="runledger-faults") as pipeline:
        results = run_cells(pipeline, ALL)
        # The pipe's target missing: every StartExecution fails, the record lands in the DLQ.
        sfn = pipeline.client("stepfunctions")
        sfn.delete_state_machine(stateMachineArn=pipeline.state_machine_arn)
        missing = dead_lettered(pipeline, "RUN#fault-pipe-target-missing")
    figures = summary(ALL, results)
    pipe_held = missing.counters.records_to_dlq == 1 and missing.status_after == "REQUESTED"
    figures["cells"] += 1
    figures["as_promised"] += int(pipe_held)
    figures["by_fate"]["DLQ"] = 1
    line = (
        f"fault cells: {figures['as_promised']} of {figures['cells']} as promised "
        f"({figures['states']} Task states + the pipe's target; by fate {figures['by_fate']})"
    )
    tier_figures.say(request.config, line)
    failed = sorted(c.id for c in ALL if problems(c, results[c.id]))
    tier_figures.record(
        "RUNLEDGER_FAULT_RESULTS",
        {**figures, "failed": failed + ([] if pipe_held else ["pipe-target-missing"])},
    )
    return results, missing


@pytest.mark.parametrize("cell", ALL, ids=lambda cell: cell.id)
def test_fault_cell_ends_as_promised(matrix: tuple[dict[str, CellResult], Any], cell: Cell) -> None:
    results, _ = matrix
    assert problems(cell, results[cell.id]) == []


def test_fault_pipe_target_missing_lands_the_record_in_the_dlq_and_starts_nothing(
    matrix: tuple[Any, DeadLettered],
) -> None:
    _, missing = matrix
    assert missing.body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert missing.counters.records_to_dlq == 1
    assert missing.status_after == "REQUESTED"  # waits for a re-drive, nothing half-done
