"""Fixtures for the state machine tests; the harness is sfn_harness.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sfn_harness import Workflow, open_workflow


@pytest.fixture(scope="module")
def workflow() -> Iterator[Workflow]:
    """The state machine of template.yaml behind a Step Functions endpoint: the embedded local
    cloud, or ``SFN_ENDPOINT``. Test cases run once per module (``workflow.run(case)``)."""
    with open_workflow() as opened:
        yield opened
