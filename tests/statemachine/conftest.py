"""Fixtures for the state machine tests; the harness is sfn_harness.py."""

from __future__ import annotations

import pytest
from sfn_harness import Workflow, open_workflow
from shared_clouds import SHARED_CLOUDS, SharedCloud

# One embedded local cloud per test worker for every module of this folder (SharedCloud).
SHARED_CLOUDS["workflow"] = SharedCloud(
    "workflow",
    open_workflow,
    [
        "tests/statemachine/test_run_workflow.py",
        "tests/statemachine/test_mock_config.py",
        "tests/statemachine/test_teststate_aws.py",
    ],
)


@pytest.fixture(scope="module")
def workflow() -> Workflow:
    """The state machine of template.yaml behind a Step Functions endpoint: the embedded local
    cloud, or ``SFN_ENDPOINT``. Test cases run once per module (``workflow.run(case)``)."""
    shared: Workflow = SHARED_CLOUDS["workflow"].get()
    return shared
