"""The concurrency tier (make test-concurrency): each case of tests/concurrency_cases.py at
several delays between its two events, several times, in one local cloud. With
RUNLEDGER_CONCURRENCY_RESULTS set, the figures are appended to that file (one JSON line)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import tier_figures
from concurrency_cases import CASES

from runledger_local.cloud import LocalPipeline

pytestmark = pytest.mark.concurrency
#: Seconds between a case's two events: at once, within a state, across states.
DELAYS = (0.0, 0.05, 0.2, 0.5)
REPEATS = 2
TRIES = [(name, delay, n) for name in CASES for delay in DELAYS for n in range(REPEATS)]
OUTCOMES: dict[str, list[bool]] = {}


@pytest.fixture(scope="module")
def cloud(request: pytest.FixtureRequest) -> Iterator[LocalPipeline]:
    with LocalPipeline(stack_name="runledger-concurrency") as pipeline:
        yield pipeline
    held = {name: sum(results) for name, results in OUTCOMES.items()}
    tried = {name: len(results) for name, results in OUTCOMES.items()}
    line = f"concurrency: {sum(held.values())} of {sum(tried.values())} as documented {held}"
    tier_figures.say(request.config, line)
    tier_figures.record(
        "RUNLEDGER_CONCURRENCY_RESULTS",
        {"delays_s": list(DELAYS), "tried": tried, "as_documented": held},
    )


@pytest.mark.parametrize(("name", "delay", "n"), TRIES, ids=[f"{c}-{d}s-{n}" for c, d, n in TRIES])
def test_concurrent_change_ends_as_documented_at_any_delay(
    cloud: LocalPipeline, name: str, delay: float, n: int
) -> None:
    problems = CASES[name](cloud, f"tier-{name}-{int(delay * 1000)}ms-{n}", delay)
    OUTCOMES.setdefault(name, []).append(not problems)
    assert problems == []
