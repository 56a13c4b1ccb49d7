"""The slice of the concurrency tier in make test: the two cases that found defects
(tests/concurrency_cases.py), once each at no delay, through the shared local cloud;
make test-concurrency runs every case at several delays, several times."""

from __future__ import annotations

import pytest
from concurrency_cases import CASES

from runledger_local.cloud import LocalPipeline

SLICE = ("rerun-while-the-rerun-is-claimed", "delete-mid-run")


@pytest.mark.parametrize("name", SLICE)
def test_concurrent_change_ends_as_documented(pipeline: LocalPipeline, name: str) -> None:
    assert CASES[name](pipeline, f"concurrent-{name}", 0.0) == []
