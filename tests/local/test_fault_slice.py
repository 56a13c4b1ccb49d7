"""A slice of the fault matrix in make test (make test-faults runs every cell): one cell
of each promised outcome, through the shared local cloud, and the matrix's own shape."""

from __future__ import annotations

import pytest
from fault_matrix import OUTCOMES, Cell, CellResult, cells, problems, run_cells, task_states

from runledger_local.cloud import LocalPipeline

#: One cell of each fate: a start that never succeeds (nothing claimed), a retried Spot
#: reclaim, a failed variant, a variant failure that cannot be written, a run failure
#: after its variants, a failure that cannot be recorded, a newer claim taking the run (and
#: so refusing CollectMetrics' write of the job's item, then RecordVariantFailure's).
SLICE = (
    "StartRun-throttled-past-retries",
    "RunJob-spot-reclaimed",
    "CollectMetrics-permanent",
    "RecordVariantFailure-permanent",
    "SummarizeRun-permanent",
    "RecordFailure-permanent",
    "CollectMetrics-condition-fails",
)
ALL = {cell.id: cell for cell in cells()}


def test_the_matrix_has_cells_for_every_task_state_and_a_promise_for_every_fate() -> None:
    states = {state.name for state in task_states()}
    assert len(states) == 8  # the workflow's Task states, Map iterations included
    assert {cell.state.name for cell in ALL.values()} == states
    for state in task_states():
        classes = {cell.fault.name for cell in ALL.values() if cell.state.name == state.name}
        assert {"throttled", "service-error", "permanent", "throttled-past-retries"} <= classes
    assert {cell.fate for cell in ALL.values()} <= set(OUTCOMES)
    assert {cell.fate for cell in ALL.values()} == {ALL[name].fate for name in SLICE} | {"retried"}


def test_a_new_task_state_gets_its_cells_from_the_asl() -> None:
    """The matrix is read from the definition: a state added there has cells at once."""
    from fault_matrix import workflow

    definition = workflow()
    definition["States"]["StartRun"]["Next"] = "Added"
    definition["States"]["Added"] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Elsewhere"}],
        "Next": "RunVariants",
    }
    added = [cell for cell in cells(definition) if cell.state.name == "Added"]
    assert {cell.fault.name for cell in added} == {
        "throttled",
        "service-error",
        "permanent",
        "timeout",
        "throttled-past-retries",
    }
    with pytest.raises(AssertionError, match="no promised outcome for 'Elsewhere'"):
        problems(added[0], CellResult({}, {}, [], {}, 0))


@pytest.fixture(scope="module")
def slice_results(pipeline: LocalPipeline) -> dict[str, CellResult]:
    return run_cells(pipeline, [ALL[name] for name in SLICE], timeout=120)


@pytest.mark.parametrize("name", SLICE)
def test_fault_slice_cell_ends_as_promised(slice_results: dict[str, CellResult], name: str) -> None:
    cell: Cell = ALL[name]
    assert problems(cell, slice_results[name]) == []
