"""The slice of the load tier in make test: a few requests written at once through the
shared local cloud, counted as tests/load (make test-load) counts 1,000."""

from __future__ import annotations

from load_run import load

from runledger_local.cloud import LocalPipeline

REQUESTS = 4


def test_a_burst_of_requests_ends_final_once_each_with_nothing_left_open(
    pipeline: LocalPipeline,
) -> None:
    figures = load(pipeline, REQUESTS, "load-slice", bound=120)
    assert figures.problems() == []
    assert (figures.final, figures.executions, figures.jobs) == (REQUESTS, REQUESTS, 3 * REQUESTS)
