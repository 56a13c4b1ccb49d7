"""The fault matrix: every Task state of the run workflow x every fault class that can
reach it, generated from the ASL, and what each cell must end as.

A cell injects its fault into one run (``LocalCloud.inject_task_fault`` for a service
call, ``inject_job_exit`` for a Batch attempt) and writes that run's request; the cells
run side by side in one local cloud. What a cell must end as is read from the ASL too:
an error a Retry of the state matches, no more often than its ``MaxAttempts``, is
"retried then succeeded" (the run ends as it would without the fault); any other error
follows the first matching Catch, and ``OUTCOMES`` says what each Catch target leaves in
the table (README "How it behaves"). A Task state added to the workflow gets its cells
without a change here; a Catch target the workflow gains fails every cell that reaches it
until ``OUTCOMES`` says what it promises.

Every cell also asserts that nothing is stuck: the run is final, every ``VARIANT#`` item
is final and belongs to the claim the REQUEST item holds, and no execution of the run is
still RUNNING. tests/faults (``make test-faults``) runs every cell; tests/local/
test_fault_slice.py runs a few in ``make test``.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from runledger.usage import child_executions
from runledger_cli.sam_template import REPO_ROOT, TEMPLATE_PATH, load_both, resources_of_type
from runledger_local.cloud import TERMINAL, LocalPipeline
from runledger_local.local_paths import localize_request
from runledger_local.runtime.faults import JobFault, TaskFault
from runledger_local.runtime.jobs import _retry_action

ASL_PATH = REPO_ROOT / "statemachines" / "run_workflow.asl.json"
REQUESTS = REPO_ROOT / "events" / "requests"
#: Faults in a Map iteration go to the calls that name this variant (the request's first).
VARIANT = "od-quarter"
CONDITION_FAILED = "DynamoDB.ConditionalCheckFailedException"
#: Lambda states whose function also writes the runs table under the claim's condition, and
#: the error the function raises when a later claim refuses the write (a function error,
#: named by its exception: runledger.results). CollectMetrics writes the job's VARIANT# item.
FUNCTION_WRITES = {"CollectMetrics": "ItemOwnedByLaterClaim"}
#: How long one matrix may take before its unfinished runs are reported as stuck.
MATRIX_TIMEOUT_SECONDS = 240.0


# ------------------------------------------------------------------------ the workflow
@dataclass(frozen=True)
class TaskState:
    """A Task state of the workflow, as far as faults are concerned."""

    name: str
    integration: str  # dynamodb, lambda or batch (the Resource's service)
    sync: bool  # .sync: the state waits for a Batch job, whose attempts can fail
    retry: tuple[Mapping[str, Any], ...]
    catch: tuple[Mapping[str, Any], ...]
    in_map: bool
    timed: bool  # TimeoutSeconds: the state itself can time out
    refused: str | None  # the error a refused conditional write fails it with; None: none


def _refused(name: str, resource: str, state: Mapping[str, Any]) -> str | None:
    if resource.startswith("dynamodb:") and "ConditionExpression" in state.get("Arguments", {}):
        return CONDITION_FAILED
    if resource.startswith("lambda:"):
        return FUNCTION_WRITES.get(name)
    return None


def _walk(states: Mapping[str, Any], in_map: bool) -> Iterator[TaskState]:
    for name, state in states.items():
        if state["Type"] == "Task":
            resource = state["Resource"].rsplit(":::", 1)[-1]
            yield TaskState(
                name=name,
                integration=resource.split(":", 1)[0],
                sync=resource.endswith(".sync"),
                retry=tuple(state.get("Retry", ())),
                catch=tuple(state.get("Catch", ())),
                in_map=in_map,
                timed="TimeoutSeconds" in state or "TimeoutSecondsPath" in state,
                refused=_refused(name, resource, state),
            )
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _walk(processor["States"], True)
        for branch in state.get("Branches", ()):
            yield from _walk(branch["States"], in_map)


def workflow() -> dict[str, Any]:
    return dict(json.loads(ASL_PATH.read_text()))


def task_states(definition: Mapping[str, Any] | None = None) -> list[TaskState]:
    """Every Task state of the workflow, Map iterations included, in definition order."""
    return list(_walk((definition or workflow())["States"], False))


def _matches(error: str, equals: Iterable[str]) -> bool:
    return error in equals or "States.ALL" in equals


def fate(state: TaskState, error: str, times: int) -> str:
    """``retried``, or the Catch target the state goes to when its call fails ``times``
    times in a row with ``error`` (``uncaught`` if no Catch matches)."""
    for retrier in state.retry:
        if _matches(error, retrier["ErrorEquals"]):
            if times <= int(retrier.get("MaxAttempts", 3)):
                return "retried"
            break  # the first matching retrier is the one that applies
    for catcher in state.catch:
        if _matches(error, catcher["ErrorEquals"]):
            return str(catcher["Next"])
    return "uncaught"


def retry_attempts(state: TaskState, error: str) -> int:
    """How many calls the state's Retry makes in all for ``error`` (1 if it retries none)."""
    for retrier in state.retry:
        if _matches(error, retrier["ErrorEquals"]):
            return int(retrier.get("MaxAttempts", 3)) + 1
    return 1


def job_retry_rules() -> list[dict[str, str]]:
    """The sample workload's job definition's EvaluateOnExit rules (template.yaml), in the
    API's case (every workload's are the same: tests/infra/test_template.py)."""
    cfn = load_both(TEMPLATE_PATH)[0]
    definition = resources_of_type(cfn, "AWS::Batch::JobDefinition")[
        "KmerCountFargateX8664JobDefinition"
    ]
    rules = definition["Properties"]["RetryStrategy"]["EvaluateOnExit"]
    return [{key[0].lower() + key[1:]: value for key, value in rule.items()} for rule in rules]


# ------------------------------------------------------------------------ fault classes
@dataclass(frozen=True)
class FaultClass:
    """One kind of failure, as one integration answers it."""

    name: str
    error: str  # what Step Functions reports in the state (for a job: the attempt's end)
    task: TaskFault | None = None
    job: JobFault | None = None
    persistent: bool = False  # repeated until the state's Retry gives up
    takeover: bool = False  # a newer execution claims the run first (a real condition)


def _service(name: str, integration: str, code: str, status: int, error: str) -> FaultClass:
    message = f"injected {code} ({status}) into {integration}"
    return FaultClass(name, error, task=TaskFault.service_error(code, status, message))


def fault_classes(state: TaskState) -> list[FaultClass]:
    """Every fault class that can reach ``state``."""
    if state.integration == "dynamodb":
        throttled = ("ProvisionedThroughputExceededException", 400)
        throttle_error = "DynamoDB.ProvisionedThroughputExceededException"
        classes = [
            _service("throttled", "dynamodb", *throttled, throttle_error),
            _service("service-error", "dynamodb", "InternalServerError", 500,
                     "DynamoDB.InternalServerErrorException"),
            _service("permanent", "dynamodb", "ValidationException", 400,
                     "DynamoDB.AmazonDynamoDBException"),
        ]  # fmt: skip
        if state.refused:
            classes.append(FaultClass("condition-fails", state.refused, takeover=True))
        # No TimeoutSeconds on a DynamoDB state: a hung call is bounded by the execution's
        # timeout alone (tests/local/test_run_timeout.py).
    elif state.integration == "lambda":
        throttle_error = "Lambda.TooManyRequestsException"
        raised = TaskFault.function_error("RuntimeError", "injected: the handler raised")
        timed_out = TaskFault.function_error("Sandbox.Timedout", "Task timed out after 30.00 s")
        classes = [
            _service("throttled", "lambda", "TooManyRequestsException", 429, throttle_error),
            _service("service-error", "lambda", "ServiceException", 500,
                     "Lambda.ServiceException"),
            FaultClass("permanent", "RuntimeError", task=raised),
            FaultClass("timeout", "Sandbox.Timedout", task=timed_out),
        ]  # fmt: skip
        if state.refused:  # the function's own write, refused for real by a later claim
            classes.append(FaultClass("condition-fails", state.refused, takeover=True))
    elif state.integration == "batch":
        throttle_error = "Batch.AWSBatchException"
        classes = [
            _service("throttled", "batch", "TooManyRequestsException", 429, throttle_error),
            _service("service-error", "batch", "ServerException", 500, "Batch.ServerException"),
            _service("permanent", "batch", "ClientException", 400, "Batch.ClientException"),
        ]
        if state.timed:
            classes.append(FaultClass("timeout", "States.Timeout", task=TaskFault.state_timeout()))
        if state.sync:
            classes += [
                FaultClass("job-exit-75", "exit 75", job=JobFault.exit(75)),
                FaultClass("job-exit-2", "exit 2", job=JobFault.exit(2)),
                FaultClass("job-killed", "out of memory", job=JobFault.out_of_memory()),
                FaultClass("spot-reclaimed", "spot reclaimed", job=JobFault.spot_interrupted()),
            ]
    else:
        raise AssertionError(f"{state.name}: no fault classes for integration {state.integration}")
    persistent = classes[0]
    classes.append(
        FaultClass("throttled-past-retries", throttle_error, persistent.task, persistent=True)
    )
    return classes


# ------------------------------------------------------------------------ cells
#: The path a request takes to reach a state that a valid request does not reach.
PATHS = {
    "RecordVariantFailure": "variant-fails",
    "RecordRunFailed": "all-fail",
    "RecordFailure": "after-failure",
}
#: The fault that sends the after-failure path to RecordFailure with a run RUNNING: the
#: SummarizeRun handler raising (its Catch goes there), once every variant is recorded.
FIRST_FAILURE = ("SummarizeRun", TaskFault.function_error("RuntimeError", "injected: raised"))


@dataclass(frozen=True)
class Cell:
    state: TaskState
    fault: FaultClass

    @property
    def id(self) -> str:
        return f"{self.state.name}-{self.fault.name}"

    @property
    def run_id(self) -> str:
        return f"fault-{self.id.lower()}"

    @property
    def pk(self) -> str:
        return f"RUN#{self.run_id}"

    @property
    def path(self) -> str:
        return PATHS.get(self.state.name, "valid")

    @property
    def times(self) -> int:
        if self.fault.persistent:
            return retry_attempts(self.state, self.fault.error)
        return 1

    @property
    def error(self) -> str:
        """The error the faulted state fails with (a job's end: the task's error)."""
        if self.fault.takeover:
            return self.state.refused or CONDITION_FAILED
        if self.fault.job is None:
            return self.fault.error
        return "States.TaskFailed"

    @property
    def job_retried(self) -> bool:
        """A job fault that the job definition's retry strategy retries."""
        job = self.fault.job
        return (
            job is not None
            and _retry_action(job_retry_rules(), job.exit_code, job.reason, job.status_reason)
            == "RETRY"
        )

    @property
    def fate(self) -> str:
        if self.fault.takeover:
            return takeover_fate(self.state)
        if self.job_retried:
            return "retried"
        return fate(self.state, self.error, self.times)


def takeover_fate(state: TaskState, definition: Mapping[str, Any] | None = None) -> str:
    """Where a later claim sends the first execution from ``state``: its refused write's
    Catch, and on through every conditional write that Catch leads to, which the same claim
    refuses too (CollectMetrics -> RecordVariantFailure -> VariantNotRecorded)."""
    by_name = {each.name: each for each in task_states(definition)}
    seen = {state.name}
    target = fate(state, state.refused or CONDITION_FAILED, 1)
    while target in by_name and by_name[target].refused and target not in seen:
        seen.add(target)
        following = by_name[target]
        target = fate(following, following.refused or CONDITION_FAILED, 1)
    return target


def cells(definition: Mapping[str, Any] | None = None) -> list[Cell]:
    return [
        Cell(state, fault) for state in task_states(definition) for fault in fault_classes(state)
    ]


# ------------------------------------------------------------------------ outcomes
@dataclass
class Expected:
    """What the table holds once the cell's run is over."""

    status: str
    error: str | None = None  # the run's error, when it failed
    variants: dict[str, str | None] | None = None  # name -> status (None: no item); None: any
    owner: str = "first"  # which execution owns the run in the end: first, newer, none


def baseline(path: str, names: list[str]) -> Expected:
    """How the cell's run ends without its fault."""
    if path == "variant-fails":
        return Expected(
            "SUCCEEDED", variants={n: "FAILED" if n == VARIANT else "SUCCEEDED" for n in names}
        )
    if path == "all-fail":
        return Expected("FAILED", "AllVariantsFailedError", dict.fromkeys(names, "FAILED"))
    if path == "after-failure":
        return Expected("FAILED", "RuntimeError", dict.fromkeys(names, "SUCCEEDED"))
    return Expected("SUCCEEDED", variants=dict.fromkeys(names, "SUCCEEDED"))


def _variant_failed(cell: Cell, names: list[str]) -> Expected:
    return Expected(
        "SUCCEEDED", variants={n: "FAILED" if n == VARIANT else "SUCCEEDED" for n in names}
    )


def _variant_not_recorded(cell: Cell, names: list[str]) -> Expected:
    expected = baseline(cell.path, names)
    assert expected.variants is not None
    return Expected(expected.status, expected.error, {**expected.variants, VARIANT: None})


def _run_failed(cell: Cell, names: list[str]) -> Expected:
    # Recorded by RecordFailure, or by CloseRun once the execution fails (RunFailed): the
    # variants recorded before the failure stay as they were (final, the run's own). A
    # Catch that passes its state's input on (RecordFailure's) keeps the error the state
    # was recording, not its own.
    catcher = next(c for c in cell.state.catch if _matches(cell.error, c["ErrorEquals"]))
    error = cell.error
    if catcher.get("Output") == "{% $states.input %}":
        error = baseline(cell.path, names).error or error
    # A fault in StartRun's call comes before its handler runs: nothing is claimed.
    owner = "none" if cell.state.name == "StartRun" else "first"
    return Expected("FAILED", error, None, owner)


#: What each Catch target of the workflow leaves in the table (README "How it behaves").
OUTCOMES: dict[str, Callable[[Cell, list[str]], Expected]] = {
    "retried": lambda cell, names: baseline(cell.path, names),
    "AlreadyClaimed": lambda cell, names: baseline(cell.path, names),
    "RecordVariantFailure": _variant_failed,
    "VariantNotRecorded": _variant_not_recorded,
    "RecordFailure": _run_failed,
    "RunFailed": _run_failed,
}


def expected(cell: Cell, names: list[str]) -> Expected:
    outcome = OUTCOMES.get(cell.fate)
    if outcome is None:
        raise AssertionError(f"{cell.id}: no promised outcome for {cell.fate!r} (OUTCOMES)")
    answer = outcome(cell, names)
    if cell.fault.takeover:
        # A newer execution claimed the run first and ends it; the first one gives up.
        # Task faults were the first execution's (taken), job faults match any job.
        answer = baseline("valid" if cell.path == "after-failure" else cell.path, names)
        answer.owner = "newer"
    return answer


# ------------------------------------------------------------------------ running
def request_for(cell: Cell) -> dict[str, Any]:
    item = localize_request(json.loads((REQUESTS / "kmer-valid-local.json").read_text()), REPO_ROOT)
    return {**copy.deepcopy(item), "pk": cell.pk}


def _read_request(pipeline: LocalPipeline, pk: str) -> dict[str, Any]:
    return pipeline.read_run(pk).request


def _wait(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(0.05)


def takeover(pipeline: LocalPipeline, cell: Cell) -> Callable[[], None]:
    """The action before the faulted call: a newer execution claims the run first.

    Every conditional write comes after StartRun's claim: the run re-requested (status
    back to REQUESTED), the pipe's new execution claims it, and (in a Map iteration)
    records the variant first. The faulted call then meets the real condition.
    """

    def act() -> None:
        mine = _read_request(pipeline, cell.pk).get("execution")
        pipeline.client("dynamodb").update_item(
            TableName=pipeline.table_name,
            Key={"pk": {"S": cell.pk}, "sk": {"S": "REQUEST"}},
            UpdateExpression="SET #s = :r",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":r": {"S": "REQUESTED"}},
        )
        _wait(
            lambda: _read_request(pipeline, cell.pk).get("execution") not in (None, mine),
            "re-claim",
        )
        if cell.state.in_map:
            newer = _read_request(pipeline, cell.pk)["execution"]

            def recorded() -> bool:
                item = _raw_items(pipeline, cell.pk).get(f"VARIANT#{VARIANT}")
                return item is not None and item["execution"]["S"] == newer

            _wait(recorded, "the newer execution's variant item")

    return act


def inject(pipeline: LocalPipeline, cell: Cell) -> None:
    cloud = pipeline.cloud
    names = [v["name"] for v in request_for(cell).get("variants", [])]
    if cell.path == "variant-fails":
        cloud.inject_job_exit({"run-id": cell.run_id, "variant": VARIANT}, [2])
    if cell.path == "all-fail":
        for name in names:
            cloud.inject_job_exit({"run-id": cell.run_id, "variant": name}, [2])
    if cell.path == "after-failure":
        cloud.inject_task_fault(cell.run_id, FIRST_FAILURE[0], FIRST_FAILURE[1])
    where = VARIANT if cell.state.in_map else None
    if cell.fault.job is not None:
        cloud.inject_job_exit({"run-id": cell.run_id, "variant": VARIANT}, [cell.fault.job])
    elif cell.fault.takeover:
        action = TaskFault.before_call(takeover(pipeline, cell))
        cloud.inject_task_fault(cell.run_id, cell.state.name, action, where=where)
    else:
        assert cell.fault.task is not None
        faults = [cell.fault.task] * cell.times
        cloud.inject_task_fault(cell.run_id, cell.state.name, *faults, where=where)


@dataclass
class CellResult:
    """What the table and the engine hold for one cell once its run is over."""

    request: dict[str, Any]
    items: dict[str, dict[str, Any]]  # sk -> item, DynamoDB JSON
    executions: list[dict[str, Any]]  # describe_execution of every execution of the run
    histories: dict[str, list[dict[str, Any]]]  # execution ARN -> events
    faults_left: int
    jobs: list[dict[str, Any]] = field(default_factory=list)  # the faulted variant's jobs
    #: execution ARN -> its Distributed Map's child executions (ListExecutions' items with
    #: DescribeExecution's status) and their histories, in start order
    children: dict[str, list[tuple[dict[str, Any], list[dict[str, Any]]]]] = field(
        default_factory=dict
    )

    def events_of(self, execution_arn: str) -> list[list[dict[str, Any]]]:
        """Every history of an execution: its own, then each child's."""
        return [
            self.histories[execution_arn],
            *(events for _, events in self.children.get(execution_arn, [])),
        ]


def _raw_items(pipeline: LocalPipeline, pk: str) -> dict[str, dict[str, Any]]:
    answer = pipeline.client("dynamodb").query(
        TableName=pipeline.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    return {item["sk"]["S"]: item for item in answer["Items"]}


def running_executions(pipeline: LocalPipeline) -> list[str]:
    return [e["executionArn"] for e in pipeline.executions() if e["status"] == "RUNNING"]


def input_pk(sfn: Any, execution_arn: str) -> str | None:
    """The run key of an execution's input (the pipe's one-record array), if it has one."""
    records = json.loads(sfn.describe_execution(executionArn=execution_arn)["input"])
    return records[0].get("pk") if isinstance(records, list) and records else None


def run_cells(
    pipeline: LocalPipeline, chosen: list[Cell], timeout: float = MATRIX_TIMEOUT_SECONDS
) -> dict[str, CellResult]:
    """Inject every cell's fault, write every request at once, and read what each left."""
    for cell in chosen:
        inject(pipeline, cell)
    for cell in chosen:
        pipeline.put_request(request_for(cell))
    pks = {cell.pk for cell in chosen}
    sfn = pipeline.client("stepfunctions")
    deadline = time.monotonic() + timeout
    quiet = 0  # polls in a row with unfinished runs but no execution of theirs running
    while time.monotonic() < deadline and quiet < 6:
        open_runs = {pk for pk in pks if pipeline.read_run(pk).status not in TERMINAL}
        running = {input_pk(sfn, arn) for arn in running_executions(pipeline)} & pks
        if not open_runs and not running:
            break
        quiet = quiet + 1 if not running else 0  # stuck: nothing left that could end them
        time.sleep(0.5)
    time.sleep(0.5)  # CloseRun runs after the execution's end event
    by_pk: dict[str, list[dict[str, Any]]] = {pk: [] for pk in pks}
    for execution in pipeline.executions():
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        pk = input_pk(sfn, execution["executionArn"])
        if pk in by_pk:
            by_pk[pk].append(described)
    jobs = faulted_jobs(pipeline, {c.run_id for c in chosen if c.fault.job is not None})
    results = {}
    for cell in chosen:
        executions = by_pk[cell.pk]
        histories = {
            e["executionArn"]: execution_events(sfn, e["executionArn"]) for e in executions
        }
        children = {e["executionArn"]: children_of(sfn, e["executionArn"]) for e in executions}
        results[cell.id] = CellResult(
            request=pipeline.read_run(cell.pk).request,
            items=_raw_items(pipeline, cell.pk),
            executions=executions,
            histories=histories,
            faults_left=len(pipeline.cloud.task_faults.get((cell.run_id, cell.state.name), [])),
            jobs=jobs.get(cell.run_id, []),
            children=children,
        )
    return results


def children_of(sfn: Any, execution_arn: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The child executions ``execution_arn``'s Distributed Map started, oldest first: each
    described (its status now) with its history (runledger.usage.child_executions)."""
    listed = sorted(child_executions(sfn, execution_arn), key=lambda c: c["startDate"])
    return [
        (
            sfn.describe_execution(executionArn=child["executionArn"]),
            execution_events(sfn, child["executionArn"]),
        )
        for child in listed
    ]


def faulted_jobs(pipeline: LocalPipeline, run_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Run id -> the jobs of its faulted variant (``VARIANT``), oldest first."""
    if not run_ids:
        return {}
    batch = pipeline.client("batch")
    summaries = [
        job
        for queue in batch.describe_job_queues()["jobQueues"]
        for status in ("SUCCEEDED", "FAILED")
        for job in batch.list_jobs(jobQueue=queue["jobQueueName"], jobStatus=status)[
            "jobSummaryList"
        ]
    ]
    ids = [job["jobId"] for job in summaries]
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 100):
        for job in batch.describe_jobs(jobs=ids[start : start + 100])["jobs"]:
            tags = job.get("tags", {})
            if tags.get("run-id") in run_ids and tags.get("variant") == VARIANT:
                found.setdefault(tags["run-id"], []).append(job)
    return {run: sorted(jobs, key=lambda j: j["createdAt"]) for run, jobs in found.items()}


def execution_events(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


# ------------------------------------------------------------------------ checking
def _state_of(event: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> str | None:
    """The state an event belongs to: the nearest StateEntered up its previousEventId chain."""
    while event is not None:
        details = event.get("stateEnteredEventDetails")
        if details:
            return str(details["name"])
        event = by_id.get(event.get("previousEventId", 0))  # type: ignore[assignment]
    return None


def failures_in(histories: list[list[dict[str, Any]]], state: str) -> list[str]:
    """The errors of ``state``'s failed or timed-out tasks, in order, in an execution's
    histories (its own, then its children's: a Map state's calls are in a child's)."""
    errors = []
    for events in histories:
        by_id = {e["id"]: e for e in events}
        for event in events:
            details = event.get("taskFailedEventDetails") or event.get("taskTimedOutEventDetails")
            if details and _state_of(event, by_id) == state:
                errors.append(details.get("error"))
    return errors


def entered_in(histories: list[list[dict[str, Any]]]) -> set[str]:
    """The states an execution entered (its children's included)."""
    return {
        e["stateEnteredEventDetails"]["name"]
        for events in histories
        for e in events
        if "stateEnteredEventDetails" in e
    }


def problems(cell: Cell, result: CellResult) -> list[str]:
    """Every way the cell's run differs from what it must end as (empty: as promised)."""
    names = [v["name"] for v in request_for(cell).get("variants", [])]
    want = expected(cell, names)
    found: list[str] = []
    request = result.request
    status = request.get("status")
    if status != want.status:
        found.append(f"run {status!r}, expected {want.status!r} ({cell.fate})")
    if want.error is not None and request.get("error") != want.error:
        found.append(f"run error {request.get('error')!r}, expected {want.error!r}")
    if status == "FAILED" and not request.get("cause"):
        found.append("run FAILED without a cause")
    # The fault reached its state: none left, and the history shows it.
    if result.faults_left:
        found.append(f"{result.faults_left} injected fault(s) never reached {cell.state.name}")
    first = _first_execution(result)
    if cell.fault.job is not None:
        attempts = [a for job in result.jobs for a in job.get("attempts", [])]
        if not attempts:
            found.append("no attempt of the faulted variant's job")
        elif cell.job_retried and [j["status"] for j in result.jobs][:1] != ["SUCCEEDED"]:
            found.append(f"job not retried to success: {[j['status'] for j in result.jobs]}")
    elif first is not None:
        errors = failures_in(result.events_of(first), cell.state.name)
        want_errors = [cell.error] * (1 if cell.fault.takeover else cell.times)
        if errors[: len(want_errors)] != want_errors:
            found.append(f"{cell.state.name} failed with {errors}, expected {want_errors}")
    # The first execution took the promised path: its Catch target was entered.
    if (
        first is not None
        and cell.fate not in ("retried", "uncaught")
        and cell.fate not in entered_in(result.events_of(first))
    ):
        found.append(f"{cell.fate} never entered by the first execution")
    # Nothing stuck: every execution ended, every variant item final and the owner's.
    running = [e["executionArn"] for e in result.executions if e["status"] == "RUNNING"]
    running += [
        child["executionArn"]
        for children in result.children.values()
        for child, _ in children
        if child["status"] == "RUNNING"
    ]
    if running:
        found.append(f"{len(running)} execution(s) still RUNNING")
    owner = request.get("execution")
    if want.owner == "newer" and owner == first:
        found.append("the first execution still owns the run after a newer claim")
    if want.owner == "first" and first is not None and owner != first:
        found.append(f"run owned by {owner}, not by its execution {first}")
    variants = {
        sk[len("VARIANT#") :]: item
        for sk, item in result.items.items()
        if sk.startswith("VARIANT#")
    }
    for name, item in variants.items():
        if item["status"]["S"] not in ("SUCCEEDED", "FAILED"):
            found.append(f"variant {name} left {item['status']['S']}")
        if item.get("claimed_at", {}).get("S") != request.get("claimed_at"):
            found.append(f"variant {name} from another claim than the run's")
    if want.variants is not None:
        statuses = {
            name: variants[name]["status"]["S"] if name in variants else None
            for name in want.variants
        }
        if statuses != want.variants:
            found.append(f"variants {statuses}, expected {want.variants}")
        extra = set(variants) - set(want.variants)
        if extra:
            found.append(f"unexpected variant items {sorted(extra)}")
    if cell.fate in ("RecordVariantFailure",) and not cell.fault.takeover:
        error = variants.get(VARIANT, {}).get("error", {}).get("S")
        if error != cell.error:
            found.append(f"variant {VARIANT} error {error!r}, expected {cell.error!r}")
    return found


def _first_execution(result: CellResult) -> str | None:
    """The execution the pipe started for the request (the earliest)."""
    ordered = sorted(result.executions, key=lambda e: e["startDate"])
    return ordered[0]["executionArn"] if ordered else None


def summary(chosen: list[Cell], results: Mapping[str, CellResult]) -> dict[str, Any]:
    """Figures of one matrix: cells, as promised, by fate, by integration."""
    held = [cell for cell in chosen if not problems(cell, results[cell.id])]
    return {
        "cells": len(chosen),
        "as_promised": len(held),
        "states": len({cell.state.name for cell in chosen}),
        "by_fate": dict(Counter(cell.fate for cell in chosen)),
        "by_integration": dict(Counter(cell.state.integration for cell in chosen)),
    }
