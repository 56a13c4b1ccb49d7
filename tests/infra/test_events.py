"""events/: the pipe-shaped samples are what the template's pipe really produces, and every
file in events/ is proven by some test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from runledger_cli.sam_template import REPO_ROOT, load_both
from runledger_local.pipe_runner import render_input_template

EVENTS = REPO_ROOT / "events"
PIPE = load_both()[1]["Resources"]["RunsPipe"]["Properties"]  # as the local cloud reads it


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def test_sample_stream_record_passes_the_pipe_filter() -> None:
    record = load("stream_record_insert.json")
    patterns = [
        EventPattern.load(f["Pattern"])
        for f in PIPE["SourceParameters"]["FilterCriteria"]["Filters"]
    ]
    assert any(pattern.matches_event(record) for pattern in patterns)


def test_pipe_input_is_the_input_template_applied_to_the_sample_stream_record() -> None:
    record = load("stream_record_insert.json")
    (expected,) = load("pipe_input.json")
    ingestion = {"aws.pipes.event.ingestion-time": expected["delivered_at"]}
    rendered = render_input_template(PIPE["TargetParameters"]["InputTemplate"], record, ingestion)
    assert rendered == expected


def test_pipe_input_names_the_request_of_events_requests_by_its_key_only() -> None:
    (delivered,) = load("pipe_input.json")
    request = load("requests/kmer-valid.json")
    assert delivered["pk"] == request["pk"]
    assert set(delivered) == {"pk", "event_id", "event_name", "sequence_number", "delivered_at"}


def test_the_pipe_input_of_the_largest_item_dynamodb_holds_stays_small() -> None:
    """An item may hold 400 KB, an execution's input 256 KB: the pipe sends only the key,
    so that no request is dead-lettered for its size (StartRun reads the item)."""
    record = load("stream_record_insert.json")
    record["dynamodb"]["NewImage"]["notes"] = {"S": "x" * 399_000}
    rendered = render_input_template(PIPE["TargetParameters"]["InputTemplate"], record, {})
    assert len(json.dumps([rendered]).encode()) < 1024


@pytest.mark.usefixtures("results_bucket")
def test_pipe_input_starts_the_run_through_the_start_handler_claiming_the_item(
    load_handler: Any, lambda_context: Any, runs_table: Any
) -> None:
    """The key the StartRun state sends from the pipe input; the handler claims and
    reads the item the sample stream record wrote."""
    (delivered,) = load("pipe_input.json")
    item = load("stream_record_insert.json")["dynamodb"]["NewImage"]
    runs_table.put_item(TableName="runs-test", Item=item)
    result = load_handler("start_run").lambda_handler(
        {"pk": delivered["pk"], "execution": "e1", "claimed_at": "2026-11-23T08:00:00.000Z"},
        lambda_context,
    )
    assert result["request"]["run_id"] == delivered["pk"].removeprefix("RUN#")
    assert result["attempt"] == 1


# Where each kind of events/ file is proven.
PROVEN_BY = {
    "pipe_input.json": "tests/infra/test_events.py",
    "stream_record_insert.json": "tests/infra/test_events.py",
}


def test_every_json_file_in_events_is_proven_by_a_test() -> None:
    handler_names = {p.name for p in (REPO_ROOT / "functions").iterdir() if p.is_dir()}
    unproven = []
    for path in sorted(EVENTS.rglob("*.json")):
        relative = path.relative_to(EVENTS)
        if relative.parts[0] == "requests" or relative.name in PROVEN_BY:
            continue  # requests: tests/unit/test_handlers.py validates each one
        if any(relative.stem.startswith(name) for name in handler_names):
            continue  # tests/unit/test_handlers.py invokes the handler with it
        unproven.append(str(relative))
    assert unproven == []
    for test_file in set(PROVEN_BY.values()):
        assert Path(REPO_ROOT / test_file).is_file()
