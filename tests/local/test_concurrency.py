"""The concurrency cases (tests/concurrency_cases.py) once each, through the shared local
cloud, in make test; make test-concurrency runs each at several delays, several times."""

from __future__ import annotations

import pytest
from concurrency_cases import CASES

from runledger_local.cloud import LocalPipeline


@pytest.mark.parametrize("name", list(CASES))
def test_concurrent_change_ends_as_documented(pipeline: LocalPipeline, name: str) -> None:
    assert CASES[name](pipeline, f"concurrent-{name}", 0.0) == []
