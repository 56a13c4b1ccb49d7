"""The load tier's run: N requests of 3 variants written to the runs table as fast as one
client can, through the whole local pipeline (stream, pipe, workflow, handlers, Batch
jobs, write-backs), and what the ledger holds afterwards.

``load`` writes the requests (BatchWriteItem, 25 items a call, from ``WRITERS`` threads,
unprocessed items written again), waits until every run is final or ``bound`` seconds
pass, waits for the executions to end (CloseRun runs after), and counts:

* ``final``: requests whose REQUEST item is SUCCEEDED, FAILED or INVALID;
* ``lost``: requests that never got there (no execution, or one that left it open);
* ``duplicated``: requests with more than one execution whose StartRun claimed the run, plus
  variants with more than one Batch job (a job's own retries are attempts of one job);
* ``non_final``: items of the requests' partitions, REQUEST or ``VARIANT#``, that are not
  final, and executions still running.

tests/load (``make test-load``) runs it for 1,000 requests; tests/local/test_load_slice.py
for a few, in make test.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from fault_matrix import execution_events, input_pk

from runledger.dynamo import to_dynamodb_json
from runledger_cli.ledger import read_items, run_id_of
from runledger_cli.sam_template import REPO_ROOT
from runledger_local.cloud import TERMINAL, LocalPipeline
from runledger_local.local_paths import localize_request

REQUEST = REPO_ROOT / "events" / "requests" / "kmer-valid-local.json"
#: Threads writing at once: BatchWriteItem calls in flight from one client.
WRITERS = 4
BATCH = 25  # BatchWriteItem's most items a call
#: Seconds to wait, once every run is final, for the last executions (and CloseRun) to end.
SETTLE_SECONDS = 30.0


def requests(count: int, prefix: str) -> list[dict[str, Any]]:
    """``count`` copies of events/requests/kmer-valid-local.json, each its own run."""
    item = localize_request(json.loads(REQUEST.read_text()), REPO_ROOT)
    return [{**item, "pk": f"RUN#{prefix}-{i:04d}"} for i in range(count)]


def write_all(pipeline: LocalPipeline, items: list[dict[str, Any]]) -> None:
    """Write ``items`` as fast as one client can: batches of 25 from WRITERS threads."""
    dynamodb = pipeline.client("dynamodb")

    def write(batch: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {
            pipeline.table_name: [{"PutRequest": {"Item": to_dynamodb_json(i)}} for i in batch]
        }
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending)["UnprocessedItems"]

    batches = [items[start : start + BATCH] for start in range(0, len(items), BATCH)]
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, batches))


@dataclass
class LoadFigures:
    requests: int
    final: int = 0
    lost: int = 0
    duplicated: int = 0
    non_final: int = 0
    executions: int = 0
    jobs: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    write_s: float = 0.0
    wall_s: float = 0.0  # first write to the last run final
    details: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        wrong = [
            f"{name} {value}"
            for name, value in (
                ("lost", self.lost),
                ("duplicated", self.duplicated),
                ("non-final", self.non_final),
            )
            if value
        ]
        if self.final != self.requests:
            wrong.append(f"final {self.final} of {self.requests}")
        if self.statuses != {"SUCCEEDED": self.requests}:
            wrong.append(f"statuses {self.statuses}, not all SUCCEEDED")
        return wrong + self.details[:20]

    def record(self) -> dict[str, Any]:
        figures = asdict(self)
        figures.pop("details")
        return figures


def _claimed(sfn: Any, execution_arn: str) -> bool:
    """Whether the execution's StartRun claimed the run: it succeeded, or found the
    request invalid (which it claimed, then wrote INVALID)."""
    return any(
        (
            event["type"] == "TaskStateExited"
            and event["stateExitedEventDetails"]["name"] == "StartRun"
        )
        or (
            event["type"] == "SucceedStateEntered"
            and event["stateEnteredEventDetails"]["name"] == "RequestInvalid"
        )
        for event in execution_events(sfn, execution_arn)
    )


def _jobs_by_variant(pipeline: LocalPipeline, run_ids: set[str]) -> Counter[tuple[str, str]]:
    batch = pipeline.client("batch")
    ids = [
        job["jobId"]
        for queue in batch.describe_job_queues()["jobQueues"]
        for page in batch.get_paginator("list_jobs").paginate(
            jobQueue=queue["jobQueueName"],
            filters=[{"name": "AFTER_CREATED_AT", "values": ["0"]}],  # every status
        )
        for job in page["jobSummaryList"]
    ]
    jobs: Counter[tuple[str, str]] = Counter()
    for start in range(0, len(ids), 100):
        for job in batch.describe_jobs(jobs=ids[start : start + 100])["jobs"]:
            tags = job.get("tags", {})
            if tags.get("run-id") in run_ids:
                jobs[tags["run-id"], tags["variant"]] += 1
    return jobs


class Executions:
    """The executions started for a set of runs (by the pk in their input), and which run."""

    def __init__(self, pipeline: LocalPipeline, pks: set[str]) -> None:
        self.pipeline, self.pks = pipeline, pks
        self._pk_of: dict[str, str | None] = {}  # every execution seen -> its run's pk

    def status(self) -> dict[str, list[tuple[str, str]]]:
        """pk -> [(execution ARN, status)] for the runs' executions, oldest first."""
        sfn = self.pipeline.client("stepfunctions")
        found: dict[str, list[tuple[str, str]]] = {pk: [] for pk in self.pks}
        for execution in reversed(self.pipeline.executions()):
            arn = execution["executionArn"]
            if arn not in self._pk_of:
                self._pk_of[arn] = input_pk(sfn, arn)
            pk = self._pk_of[arn]
            if pk in found:
                found[pk].append((arn, execution["status"]))
        return found

    def running(self) -> int:
        return sum(s == "RUNNING" for runs in self.status().values() for _, s in runs)


def ledger(
    pipeline: LocalPipeline,
    items: list[dict[str, Any]],
    figures: LoadFigures,
    started: Executions,
) -> None:
    """Count what the table, the executions and the jobs show for ``items``' runs."""
    sfn = pipeline.client("stepfunctions")
    pks = {item["pk"] for item in items}
    found = started.status()
    executions = {pk: [arn for arn, _ in runs] for pk, runs in found.items()}
    running = sum(status == "RUNNING" for runs in found.values() for _, status in runs)
    figures.executions = sum(len(arns) for arns in executions.values())
    figures.non_final += running
    if running:
        figures.details.append(f"{running} execution(s) still running")
    variants = {item["pk"]: [v["name"] for v in item["variants"]] for item in items}
    run_ids = {run_id_of(pk) for pk in pks}
    jobs = _jobs_by_variant(pipeline, run_ids)
    figures.jobs = sum(jobs.values())
    statuses: Counter[str] = Counter()
    for pk in sorted(pks):
        items = read_items(pipeline.client("dynamodb"), pipeline.table_name, pk)
        found = {item["sk"]: item for item in items}
        request = found.pop("REQUEST", None)
        status = request["status"] if request else "missing"
        statuses[status] += 1
        if status in TERMINAL:
            figures.final += 1
        else:
            figures.lost += 1
            figures.non_final += request is not None
            figures.details.append(f"{pk}: {status}")
        for sk, item in found.items():
            if item.get("status") not in TERMINAL:
                figures.non_final += 1
                figures.details.append(f"{pk} {sk}: {item.get('status')}")
        working = executions[pk]
        if len(working) > 1:
            working = [arn for arn in working if _claimed(sfn, arn)]
        run_id = run_id_of(pk)
        extra_jobs = [v for v in variants[pk] if jobs[run_id, v] > 1]
        if len(working) > 1 or extra_jobs:
            figures.duplicated += 1
            figures.details.append(f"{pk}: {len(working)} working, more jobs for {extra_jobs}")
    figures.statuses = dict(statuses)


def load(pipeline: LocalPipeline, count: int, prefix: str, bound: float) -> LoadFigures:
    """Write ``count`` requests, wait up to ``bound`` s for them all, and read the ledger."""
    items = requests(count, prefix)
    figures = LoadFigures(requests=count)
    started = time.monotonic()
    write_all(pipeline, items)
    figures.write_s = time.monotonic() - started
    pks = [item["pk"] for item in items]
    interval = 1.0 if count > 100 else 0.1  # each look reads every run
    try:
        pipeline.wait_for(pks, timeout=max(bound - figures.write_s, 1.0), interval=interval)
    except TimeoutError as exc:
        figures.details.append(str(exc)[:500])
    figures.wall_s = time.monotonic() - started
    started_runs = Executions(pipeline, set(pks))
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline and started_runs.running():
        time.sleep(interval)
    ledger(pipeline, items, figures, started_runs)
    return figures
