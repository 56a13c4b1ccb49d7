"""events/: the pipe-shaped samples are what the template's pipe really produces, and every
file in events/ is proven by some test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from moto.events.models import EventPattern

from runledger_cli.sam_template import REPO_ROOT, load_cfn
from runledger_local.pipe_runner import render_input_template

EVENTS = REPO_ROOT / "events"
PIPE = load_cfn()["Resources"]["RunsPipe"]["Properties"]


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
    rendered = render_input_template(PIPE["TargetParameters"]["InputTemplate"], record)
    assert load("pipe_input.json") == [rendered]


def test_pipe_input_carries_the_request_written_in_events_requests() -> None:
    (delivered,) = load("pipe_input.json")
    request = load("requests/kmer-valid.json")
    assert delivered["pk"] == request["pk"]
    assert delivered["image"]["workflow"] == {"S": request["workflow"]}
    assert len(delivered["image"]["variants"]["L"]) == len(request["variants"])


def test_pipe_input_validates_through_the_validate_handler(
    load_handler: Any, lambda_context: Any
) -> None:
    (delivered,) = load("pipe_input.json")
    # The exact payload the ValidateRequest state builds from the pipe input.
    result = load_handler("validate_request").lambda_handler(
        {"pk": delivered["pk"], "image": delivered["image"]}, lambda_context
    )
    assert result["valid"] is True, result["reason"]
    assert result["request"]["run_id"] == delivered["pk"].removeprefix("RUN#")


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
