"""Concurrency cases: what happens to a run when its item changes under it.

Each case takes the local pipeline, a run id and a delay (how far apart its two events
are), runs its story and returns every way the end differs from the one README's data
model documents (empty: as documented):

* ``rerun_twice``: the run re-requested twice in quick succession while it runs. Each
  write starts an execution; the run ends SUCCEEDED, owned by the last claim, with that
  claim's variant items only; the earlier executions give up (AlreadyClaimed, or FAILED
  once their conditional writes are refused).
* ``rerun_while_the_rerun_is_claimed``: the same, the second write landing exactly while
  the first re-run's execution holds its claim: that execution gives up too.
* ``delete_mid_run``: the REQUEST item deleted while a job runs. The execution's later
  writes are refused (there is no claim to write to), it fails, and CloseRun removes the
  variant items it wrote: the run's partition ends empty.
* ``same_pk_other_sk``: a second item under the run's pk with another sort key, written
  with the request. Only ``sk = REQUEST`` is a request: it starts nothing, is left as
  written, and the run is not confused by it.
* ``same_record_twice_at_once``: the pipe delivers the request's record twice at the same
  moment (at-least-once delivery). One execution claims and does the work; the other ends
  at AlreadyClaimed.

tests/local/test_concurrency.py runs the two that found defects once in ``make test``;
tests/concurrency (``make test-concurrency``) runs each at several delays, several times.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

from runledger.usage import child_executions
from runledger_cli.sam_template import REPO_ROOT
from runledger_local.cloud import TERMINAL, LocalPipeline
from runledger_local.local_paths import localize_request
from runledger_local.runtime.faults import TaskFault

REQUEST = REPO_ROOT / "events" / "requests" / "kmer-valid-local.json"
TIMEOUT = 90.0


def request(run_id: str) -> dict[str, Any]:
    item = localize_request(json.loads(REQUEST.read_text()), REPO_ROOT)
    return {**item, "pk": f"RUN#{run_id}"}


def wait_until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(0.02)


def items(pipeline: LocalPipeline, pk: str) -> dict[str, dict[str, Any]]:
    """Every item of the partition (sk -> item, DynamoDB JSON)."""
    answer = pipeline.client("dynamodb").query(
        TableName=pipeline.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )
    return {item["sk"]["S"]: item for item in answer["Items"]}


def executions_of(pipeline: LocalPipeline, pk: str) -> list[dict[str, Any]]:
    """describe_execution of every execution started for the run, oldest first."""
    sfn = pipeline.client("stepfunctions")
    found = []
    for execution in pipeline.executions():
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        records = json.loads(described["input"])
        if isinstance(records, list) and records and records[0].get("pk") == pk:
            found.append(described)
    return sorted(found, key=lambda e: e["startDate"])


def ended(pipeline: LocalPipeline, pk: str, count: int) -> list[dict[str, Any]]:
    """The run's executions once ``count`` have started and none runs, nor any child of
    their Distributed Maps (a stopped run's jobs must not go on writing; CloseRun done)."""
    found: list[dict[str, Any]] = []
    sfn = pipeline.client("stepfunctions")

    def done() -> bool:
        nonlocal found
        found = executions_of(pipeline, pk)
        if len(found) < count or any(e["status"] == "RUNNING" for e in found):
            return False
        children = [c for e in found for c in child_executions(sfn, e["executionArn"])]
        return all(c["status"] != "RUNNING" for c in children)

    wait_until(done, f"{count} ended executions of {pk}")
    time.sleep(0.5)  # CloseRun runs after the execution's end event
    return executions_of(pipeline, pk)


def set_requested(pipeline: LocalPipeline, pk: str) -> None:
    """Re-run as README says: status back to REQUESTED."""
    pipeline.client("dynamodb").update_item(
        TableName=pipeline.table_name,
        Key={"pk": {"S": pk}, "sk": {"S": "REQUEST"}},
        UpdateExpression="SET #s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "REQUESTED"}},
    )


def owned_and_final(found: dict[str, dict[str, Any]], variants: list[str]) -> list[str]:
    """Problems with a finished run's items: final, each variant once, all the run's claim."""
    problems = []
    run = found.get("REQUEST")
    if run is None:
        return ["no REQUEST item"]
    if run["status"]["S"] not in TERMINAL:
        problems.append(f"run left {run['status']['S']}")
    names = {sk[len("VARIANT#") :] for sk in found if sk.startswith("VARIANT#")}
    if names != set(variants):
        problems.append(f"variant items {sorted(names)}, expected {sorted(variants)}")
    for sk, item in found.items():
        if sk.startswith("VARIANT#"):
            if item["status"]["S"] not in ("SUCCEEDED", "FAILED"):
                problems.append(f"{sk} left {item['status']['S']}")
            if item["execution"]["S"] != run["execution"]["S"]:
                problems.append(f"{sk} from another execution than the run's")
    return problems


def _hold_first_job(pipeline: LocalPipeline, item: dict[str, Any]) -> threading.Event:
    name = item["variants"][0]["name"]
    return pipeline.cloud.hold_next_job({"run-id": item["pk"][len("RUN#") :], "variant": name})


def rerun_twice(pipeline: LocalPipeline, run_id: str, delay: float) -> list[str]:
    item = request(run_id)
    pk, names = item["pk"], [v["name"] for v in item["variants"]]
    release = _hold_first_job(pipeline, item)
    try:
        pipeline.put_request(item)
        wait_until(lambda: pipeline.read_run(pk).status == "RUNNING", "RUNNING")
        set_requested(pipeline, pk)
        time.sleep(delay)
        set_requested(pipeline, pk)
    finally:
        release.set()
    return _rerun_problems(pipeline, pk, names)


def _rerun_problems(pipeline: LocalPipeline, pk: str, names: list[str]) -> list[str]:
    executions = ended(pipeline, pk, 3)
    found = items(pipeline, pk)
    problems = owned_and_final(found, names)
    owner = found["REQUEST"]["execution"]["S"]
    if found["REQUEST"]["status"]["S"] != "SUCCEEDED":
        problems.append(f"run {found['REQUEST']['status']['S']}, expected SUCCEEDED")
    if len(executions) != 3:
        problems.append(f"{len(executions)} executions, expected 3 (one per REQUESTED write)")
    if owner == executions[0]["executionArn"]:
        problems.append("the first execution still owns the re-run run")
    winners = [e for e in executions if e["executionArn"] == owner]
    if [e["status"] for e in winners] != ["SUCCEEDED"]:
        problems.append(f"the owner ended {[e['status'] for e in winners]}")
    return problems


def rerun_while_the_rerun_is_claimed(
    pipeline: LocalPipeline, run_id: str, delay: float
) -> list[str]:
    """The second re-run written exactly as the first re-run's execution starts (before
    its StartRun claims): one of the two executions runs the run, the other gives up
    without recording it FAILED. (A re-run written between StartRun's claim and its
    mark, inside the handler, is tests/unit/test_handlers.py's ClaimLost case.)"""
    item = request(run_id)
    pk = item["pk"]

    def again() -> None:
        time.sleep(delay)
        set_requested(pipeline, pk)

    release = _hold_first_job(pipeline, item)
    try:
        pipeline.put_request(item)
        wait_until(lambda: pipeline.read_run(pk).status == "RUNNING", "RUNNING")
        pipeline.cloud.inject_task_fault(run_id, "StartRun", TaskFault.before_call(again))
        set_requested(pipeline, pk)
    finally:
        release.set()
    return _rerun_problems(pipeline, pk, [v["name"] for v in item["variants"]])


def delete_mid_run(pipeline: LocalPipeline, run_id: str, delay: float) -> list[str]:
    item = request(run_id)
    pk = item["pk"]
    release = _hold_first_job(pipeline, item)
    try:
        pipeline.put_request(item)
        wait_until(lambda: pipeline.read_run(pk).status == "RUNNING", "RUNNING")
        time.sleep(delay)
        pipeline.client("dynamodb").delete_item(
            TableName=pipeline.table_name, Key={"pk": {"S": pk}, "sk": {"S": "REQUEST"}}
        )
    finally:
        release.set()
    executions = ended(pipeline, pk, 1)
    problems = []
    left = items(pipeline, pk)
    if left:
        problems.append(f"items left in the deleted run's partition: {sorted(left)}")
    if len(executions) != 1:
        problems.append(f"{len(executions)} executions, expected 1")
    elif executions[0]["status"] != "FAILED":
        problems.append(f"the execution ended {executions[0]['status']}, expected FAILED")
    return problems


def same_pk_other_sk(pipeline: LocalPipeline, run_id: str, delay: float) -> list[str]:
    item = request(run_id)
    pk, names = item["pk"], [v["name"] for v in item["variants"]]
    other = {**item, "sk": "REQUEST#2"}  # a request-shaped item under another sort key
    pipeline.put_request(other)
    time.sleep(delay)
    pipeline.put_request(item)
    pipeline.wait_for([pk], timeout=TIMEOUT)
    executions = ended(pipeline, pk, 1)
    found = items(pipeline, pk)
    problems = owned_and_final({k: v for k, v in found.items() if k != "REQUEST#2"}, names)
    if len(executions) != 1:
        problems.append(f"{len(executions)} executions, expected 1 (the REQUEST item's)")
    if found["REQUEST"]["status"]["S"] != "SUCCEEDED":
        problems.append(f"run {found['REQUEST']['status']['S']}, expected SUCCEEDED")
    if found.get("REQUEST#2", {}).get("status") != {"S": "REQUESTED"}:
        problems.append(f"the other item was changed: {found.get('REQUEST#2')}")
    if set(pipeline.read_run(pk).variants) != set(names):
        problems.append("the run as read is confused by the other item")
    return problems


def same_record_twice_at_once(pipeline: LocalPipeline, run_id: str, delay: float) -> list[str]:
    item = request(run_id)
    pk, names = item["pk"], [v["name"] for v in item["variants"]]
    pipe = pipeline.pipe
    original = pipe._start_execution

    def twice(payload: str) -> tuple[str, str] | None:
        if pk not in payload:
            return original(payload)
        gate = threading.Barrier(2)
        answers: list[tuple[str, str] | None] = []

        def deliver() -> None:
            gate.wait()
            answers.append(original(payload))

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers[0]

    with mock.patch.object(pipe, "_start_execution", twice):
        pipeline.put_request(item)
        wait_until(lambda: len(executions_of(pipeline, pk)) >= 2, "two deliveries")
    time.sleep(delay)
    pipeline.wait_for([pk], timeout=TIMEOUT)
    executions = ended(pipeline, pk, 2)
    found = items(pipeline, pk)
    problems = owned_and_final(found, names)
    if found["REQUEST"]["status"]["S"] != "SUCCEEDED":
        problems.append(f"run {found['REQUEST']['status']['S']}, expected SUCCEEDED")
    owner = found["REQUEST"]["execution"]["S"]
    sfn = pipeline.client("stepfunctions")
    for execution in executions:
        if execution["executionArn"] == owner:
            continue
        events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        entered = [
            e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
        ]
        if entered != ["StartRun", "AlreadyClaimed"]:
            problems.append(f"the duplicate ran {entered}, expected StartRun, AlreadyClaimed")
    return problems


CASES: dict[str, Callable[[LocalPipeline, str, float], list[str]]] = {
    "rerun-twice": rerun_twice,
    "rerun-while-the-rerun-is-claimed": rerun_while_the_rerun_is_claimed,
    "delete-mid-run": delete_mid_run,
    "same-pk-other-sk": same_pk_other_sk,
    "same-record-twice-at-once": same_record_twice_at_once,
}
