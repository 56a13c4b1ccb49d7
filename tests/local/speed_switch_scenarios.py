"""The speed switch's scenarios: ``python speed_switch_scenarios.py on|off OUT`` runs them
through a LocalPipeline with every speed mechanism on or off and writes to the file OUT,
as JSON, every table item and every execution's history (with its Distributed Map's child
executions', each by its job's key), with what differs from run to run normalised (times,
ids, measured durations and what is priced from them).

Run in a fresh interpreter per mode (tests/local/test_speed_switch.py), so that nothing
one mode left in the process (a patch, a cache, the fork server) can reach the other.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from runledger.dynamo import from_dynamodb_json
from runledger.usage import child_executions, execution_history
from runledger_cli.sam_template import REPO_ROOT
from runledger_local.cloud import LocalPipeline
from runledger_local.local_paths import localize_request

REQUESTS = REPO_ROOT / "events" / "requests"
#: run id -> (request file, per variant (by index) its job's exit codes, attempt by attempt).
SCENARIOS: dict[str, tuple[str, dict[int, list[int]]]] = {
    "speed-ok": ("kmer-valid-local.json", {}),
    # A failed variant (exit 2: for good) and a retried job (exit 75, then it succeeds).
    "speed-faults": ("kmer-valid-local.json", {0: [2], 1: [75]}),
    "speed-invalid": ("kmer-invalid-duplicate-names.json", {}),
}

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")  # the stream record's event id
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")
_SEQUENCE = re.compile(r"\b\d{20,}\b")  # stream sequence numbers
_EPOCH_MS = re.compile(r"\b1\d{12}\b")  # Batch's startedAt/stoppedAt
_TRACE_ID = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}")  # a Lambda result's X-Amzn-Trace-Id
#: Keys whose values are measured (times, durations) or priced from a measurement.
_MEASURED = re.compile(
    r"(_at|At|Date|[Tt]imestamp|duration_seconds|elapsed_seconds|_usd|Duration"
    r"|gb_seconds|seconds_per_invocation|^lambda|^stepfunctions|^dynamodb|^pipes|^batch"
    r"|^Content-Length)$"  # a payload's length varies with the measured values in it
)
#: Keys whose values are picked by a measurement (the fastest variant).
_PICKED = {"fastest"}
#: DynamoDB JSON's wrappers of one value ({"N": "0.5"}).
_WRAPPERS = {"N", "S"}


def normalised(value: Any, key: str = "") -> Any:
    """``value`` with what varies from run to run replaced by placeholders."""
    if key in _PICKED:
        return "<picked by timing>"
    measured = bool(_MEASURED.search(key))
    if measured and isinstance(value, dict) and len(value) == 1 and set(value) <= _WRAPPERS:
        return dict.fromkeys(value, "<measured>")
    if isinstance(value, dict):
        return {k: normalised(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, key) for v in value]
    if measured and not isinstance(value, bool) and value != "":
        return "<measured>"
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in "{[" and stripped:
            try:
                return {"json": normalised(json.loads(stripped), key)}
            except ValueError:
                pass
        for pattern, placeholder in (
            (_UUID, "<uuid>"),
            (_TRACE_ID, "<trace-id>"),
            (_HEX_ID, "<id>"),
            (_ISO_TIME, "<time>"),
            (_SEQUENCE, "<sequence>"),
            (_EPOCH_MS, "<epoch-ms>"),
        ):
            value = pattern.sub(placeholder, value)
        return value
    return value


def _request(run_id: str, name: str) -> dict[str, Any]:
    item = localize_request(json.loads((REQUESTS / name).read_text()), REPO_ROOT)
    item["pk"] = f"RUN#{run_id}"
    return item


_ITERATION_ENDS = {"MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"}


def _threads(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The execution's events by thread, each thread's in order: "main", "iteration 0", ...

    Map iterations run side by side, so their events interleave differently from run to
    run. Each event names the one before it in its own thread (``previousEventId``): an
    iteration's thread starts at its ``MapIterationStarted`` and ends at its
    ``MapIteration{Succeeded,Failed,Aborted}``; what follows that is its parent's again.
    """
    by_id = {event["id"]: event for event in events}
    thread_of: dict[int, tuple[int, ...]] = {}
    threads: dict[str, list[dict[str, Any]]] = {}
    for event in sorted(events, key=lambda e: e["id"]):
        before = by_id.get(event["previousEventId"])
        thread = thread_of[before["id"]] if before else ()
        if before and before["type"] in _ITERATION_ENDS:
            thread = thread[:-1]
        if event["type"] == "MapIterationStarted":
            thread = (*thread, event["mapIterationStartedEventDetails"]["index"])
        thread_of[event["id"]] = thread
        name = " ".join(f"iteration {index}" for index in thread) or "main"
        content = {k: v for k, v in event.items() if k not in {"id", "previousEventId"}}
        threads.setdefault(name, []).append(normalised(content))
    return threads


def run_scenarios(*, speed: bool) -> dict[str, Any]:
    """Every scenario's table items and histories, normalised, by run id."""
    with LocalPipeline(stack_name="speed-switch", speed=speed) as pipeline:
        pks = []
        for run_id, (name, faults) in SCENARIOS.items():
            item = _request(run_id, name)
            for index, exit_codes in faults.items():
                variant = item["variants"][index]["name"]
                pipeline.cloud.inject_job_exit({"run-id": run_id, "variant": variant}, exit_codes)
            pks.append(pipeline.put_request(item))
        pipeline.wait_for(pks, timeout=120)
        dynamodb = pipeline.client("dynamodb")
        items = [
            from_dynamodb_json(raw)
            for page in dynamodb.get_paginator("scan").paginate(TableName=pipeline.table_name)
            for raw in page["Items"]
        ]
        # A run's last write-back comes before its execution's end: wait for the end, so
        # that each history is whole.
        sfn = pipeline.client("stepfunctions")
        deadline = time.monotonic() + 60
        while any(e["status"] == "RUNNING" for e in pipeline.executions()):
            if time.monotonic() > deadline:
                raise TimeoutError("executions still running 60 s after their runs ended")
            time.sleep(0.05)
        histories: dict[str, list[dict[str, list[dict[str, Any]]]]] = {}
        for execution in pipeline.executions():
            events = execution_history(sfn, execution["executionArn"])
            started = json.loads(events[0]["executionStartedEventDetails"]["input"])
            threads = _threads(events)
            for child in child_executions(sfn, execution["executionArn"]):
                # Children run side by side and start in any order: each by its job's key.
                child_events = execution_history(sfn, child["executionArn"])
                item = json.loads(child_events[0]["executionStartedEventDetails"]["input"])
                name = f"job {item['key']}"
                assert name not in threads, f"two children of one execution run {name}"
                threads[name] = [
                    normalised({k: v for k, v in e.items() if k not in {"id", "previousEventId"}})
                    for e in child_events
                ]
            histories.setdefault(started[0]["pk"], []).append(threads)
    table = sorted((normalised(item) for item in items), key=lambda i: (i["pk"], i["sk"]))
    return {"items": table, "histories": histories}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode not in {"on", "off"} or len(sys.argv) != 3:
        raise SystemExit("usage: speed_switch_scenarios.py on|off OUT")
    answers = run_scenarios(speed=mode == "on")
    Path(sys.argv[2]).write_text(json.dumps(answers, sort_keys=True, indent=1, default=str))
