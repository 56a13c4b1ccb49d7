"""Speed costs no answer: the same requests (a success, a failed variant and a retried job,
an invalid request), run with every speed mechanism on and off
(``RUNLEDGER_LOCAL_SPEED``), leave identical table items and execution histories.

Each mode runs in an interpreter of its own (speed_switch_scenarios.py), both at once.
Times, ids and what is measured (durations, and what is priced from them) are
normalised there; everything else must match, event by event and attribute by attribute.

Marked ``differential``: it takes two CPUs for ~12 s (the speed-off cloud is ~8x the
CPU), a third of ``make test``'s budget, so it has its own target, ``make
test-speed-switch``, which ``make check`` (CI) runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runledger_cli.sam_template import REPO_ROOT

pytestmark = pytest.mark.differential

SCENARIOS = Path(__file__).with_name("speed_switch_scenarios.py")
#: The request the succeeding and the faulted scenarios write (speed_switch_scenarios.py).
VALID_REQUEST = REPO_ROOT / "events" / "requests" / "kmer-valid-local.json"


def first_difference(on: Any, off: Any, path: str = "") -> str | None:
    """Where ``on`` and ``off`` first differ, and how; None when they are equal."""
    if type(on) is not type(off):
        return f"{path or '.'}: {on!r} (speed on) != {off!r} (speed off)"
    if isinstance(on, dict):
        for key in sorted(set(on) | set(off)):
            if key not in on or key not in off:
                side = "off" if key not in on else "on"
                return f"{path}/{key}: only with speed {side}"
            found = first_difference(on[key], off[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(on, list):
        for index, (a, b) in enumerate(zip(on, off, strict=False)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        if len(on) != len(off):
            return f"{path}: {len(on)} entries (speed on) != {len(off)} (speed off)"
        return None
    return None if on == off else f"{path}: {on!r} (speed on) != {off!r} (speed off)"


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("speed-switch")
    runs = {
        mode: subprocess.Popen(
            [sys.executable, str(SCENARIOS), mode, str(folder / f"{mode}.json")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for mode in ("on", "off")
    }
    for mode, process in runs.items():
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, f"speed {mode}: {stderr.decode()[-3000:]}"
    return {mode: json.loads((folder / f"{mode}.json").read_text()) for mode in runs}


def _by_key(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(item["pk"], item["sk"]): item for item in items}


def test_the_scenarios_end_as_each_promises(answers: dict[str, dict[str, Any]]) -> None:
    # The comparison below means something only if the scenarios did what they are for.
    items = _by_key(answers["on"]["items"])
    assert items["RUN#speed-ok", "REQUEST"]["status"] == "SUCCEEDED"
    assert items["RUN#speed-invalid", "REQUEST"]["status"] == "INVALID"
    assert items["RUN#speed-invalid", "REQUEST"]["reason"]
    faults = sorted(
        (item["status"], item.get("attempts"))
        for (pk, sk), item in items.items()
        if pk == "RUN#speed-faults" and sk.startswith("VARIANT#")
    )
    # Variant 0 failed for good; variant 1's job was retried once, then succeeded.
    assert faults == [("FAILED", None), ("SUCCEEDED", 1), ("SUCCEEDED", 2)]
    assert set(answers["on"]["histories"]) == {"RUN#speed-ok", "RUN#speed-faults",
                                               "RUN#speed-invalid"}  # fmt: skip
    # Each job's events are in its own child execution's history, beside the run's.
    names = [v["name"] for v in json.loads(VALID_REQUEST.read_text())["variants"]]
    (succeeded,) = answers["on"]["histories"]["RUN#speed-ok"]
    assert set(succeeded) == {"main", *(f"job {name}" for name in names)}
    assert all(succeeded[f"job {name}"][0]["type"] == "ExecutionStarted" for name in names)
    assert not any(e["type"] == "TaskScheduled" and "submitJob" in json.dumps(e)
                   for e in succeeded["main"])  # fmt: skip
    (faulted,) = answers["on"]["histories"]["RUN#speed-faults"]
    job = [
        e["taskSucceededEventDetails"]["output"]["json"]
        for e in faulted[f"job {names[1]}"]
        if e["type"] == "TaskSucceeded"
        and e["taskSucceededEventDetails"]["resource"] == "submitJob.sync"
    ]
    assert [len(answer["Attempts"]) for answer in job] == [2]  # the job's own retry (exit 75)
    assert any(e["type"] == "TaskFailed" for e in faulted[f"job {names[0]}"])


def test_table_items_are_identical_with_speed_off(answers: dict[str, dict[str, Any]]) -> None:
    on, off = answers["on"]["items"], answers["off"]["items"]
    assert len(on) == len(off) > 6
    assert first_difference(on, off) is None


def test_execution_histories_are_identical_with_speed_off(
    answers: dict[str, dict[str, Any]],
) -> None:
    on, off = answers["on"]["histories"], answers["off"]["histories"]
    for run in sorted(on):
        assert len(on[run]) == 1, run  # one execution per request
        # The shortest, an invalid request's: 9 events (StartRun, then RequestInvalid).
        assert len(on[run][0]["main"]) >= 9, run
        assert first_difference(on[run], off.get(run), run) is None


def test_a_difference_is_named_by_its_path() -> None:
    on = {"items": [{"pk": "RUN#a", "status": "SUCCEEDED", "attempts": [1]}]}
    off = {"items": [{"pk": "RUN#a", "status": "FAILED", "attempts": [1, 2]}]}
    assert first_difference(on, off) == (
        "/items[0]/attempts: 1 entries (speed on) != 2 (speed off)"
    )
    off["items"][0]["attempts"] = [1]
    assert first_difference(on, off) == (
        "/items[0]/status: 'SUCCEEDED' (speed on) != 'FAILED' (speed off)"
    )
    assert first_difference(on, on) is None
