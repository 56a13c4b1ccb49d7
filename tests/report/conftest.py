"""The graph, report and browser tests need Graphviz's dot and Debian's Chromium.

They are part of `make test`: when a program is missing the tests FAIL (never skip) and
say how to install it (`make system-deps`, which CI runs).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from runledger_cli.report import CHROMIUM


@pytest.fixture(autouse=True)
def _dot_installed() -> None:
    if not shutil.which("dot"):
        pytest.fail("Graphviz's dot is not installed: run `make system-deps`", pytrace=False)


@pytest.fixture(scope="session")  # checked before the module's local run starts
def chromium() -> Path:
    """Debian's Chromium, which the browser tests drive."""
    path = Path(os.environ.get("RUNLEDGER_CHROMIUM", CHROMIUM))
    if not path.is_file():
        pytest.fail(f"Chromium is not installed at {path}: run `make system-deps`", pytrace=False)
    return path
