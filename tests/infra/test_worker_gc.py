"""make test's workers collect garbage less often (tests/worker_gc.py); other runs do not."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest
from worker_exit import is_worker
from worker_gc import THRESHOLDS


def test_a_worker_has_the_tests_thresholds_and_any_other_run_pythons(
    request: pytest.FixtureRequest,
) -> None:
    fresh = subprocess.run(
        [sys.executable, "-S", "-c", "import gc; print(*gc.get_threshold())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pythons = tuple(int(word) for word in fresh.stdout.split())

    expected = THRESHOLDS if is_worker(request.config) else pythons
    assert gc.get_threshold() == expected
    assert THRESHOLDS[0] > pythons[0]
