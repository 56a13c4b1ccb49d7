"""The Lambda handlers, invoked as Lambda would with the sample events in events/."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from runledger.results import MetricsNotFoundError
from runledger.starting import AlreadyClaimed, RequestInvalid
from runledger_cli.sam_template import table_schema

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
REQUESTS_DIR = EVENTS_DIR / "requests"
HANDLERS = (
    "start_run",
    "collect_metrics",
    "summarize_run",
    "close_run",
)

LoadHandler = Callable[[str], ModuleType]

SAMPLE_METRICS = {
    "reads": 1000,
    "bases": 150000,
    "k": 21,
    "total_kmers": 130000,
    "distinct_kmers": 90000,
    "gc_fraction": 0.42,
    "top_kmers": [["ACGTACGTACGTACGTACGTA", 12]],
    "elapsed_seconds": 1.23,
}


def handler_for(event_file: Path) -> str | None:
    """The handler an events/ file belongs to: the longest handler name its name starts with."""
    matches = [name for name in HANDLERS if event_file.stem.startswith(name)]
    return max(matches, key=len) if matches else None


HANDLER_EVENTS = sorted(path for path in EVENTS_DIR.glob("*.json") if handler_for(path) is not None)
#: Sample events a handler answers by raising (the state machine catches the error by name).
RAISING_EVENTS = {"start_run_invalid.json"}


def test_every_handler_has_a_sample_event() -> None:
    assert {handler_for(path) for path in HANDLER_EVENTS} == set(HANDLERS)


def test_handler_modules_load_under_unique_names(load_handler: LoadHandler) -> None:
    modules = [load_handler(name) for name in HANDLERS]
    assert len({module.__name__ for module in modules}) == len(HANDLERS)
    assert "app" not in {module.__name__ for module in modules}
    assert all(callable(module.lambda_handler) for module in modules)


def seed_results(s3: Any, results_uri: str, metrics: dict[str, Any]) -> None:
    bucket, key = results_uri.removeprefix("s3://").split("/", 1)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(metrics).encode())


def check_start(event: dict[str, Any], result: dict[str, Any], stem: str) -> None:
    """A valid sample: the request normalized, the claim numbered, the jobs' shared parts."""
    assert set(result) == {"request", "attempt", "run", "jobs", "placement"}
    # One job per variant here (none repeats), in the request's order.
    variants = result["request"]["variants"]
    assert set(result["placement"]) == {v["name"] for v in variants}
    assert "placement" not in result["run"]  # every job's input copies the run
    assert result["jobs"] == [
        {"variant": i, "repeat": 1, "key": v["name"]} for i, v in enumerate(variants)
    ]
    # This claim's attempt: the item's attempt + 1.
    assert result["attempt"] == int(event["image"].get("attempt", {"N": "0"})["N"]) + 1
    run_id = event["pk"].removeprefix("RUN#")
    assert result["request"]["run_id"] == run_id
    assert all("timeout_seconds" in v for v in result["request"]["variants"])
    run = result["run"]
    assert (run["pk"], run["run_id"], run["attempt"]) == (event["pk"], run_id, "1")
    assert run["results_prefix"] == f"s3://runledger-results-test/runs/{run_id}/"
    environment = {e["Name"]: e["Value"] for e in run["environment"]}
    assert environment == {
        "RUNLEDGER_INPUT_URI": result["request"]["input"]["uri"],
        "RUNLEDGER_KMER_K": str(result["request"]["input"]["k"]),
        "RUNLEDGER_RUN_ID": run_id,
    }


def check_collect(event: dict[str, Any], result: dict[str, Any], stem: str) -> None:
    assert set(result) == {
        "name", "status", "capacity", "vcpus", "memory_mib", "job_id", "attempts",
        "duration_seconds", "metrics", "cost", "attributes",
    }  # fmt: skip
    job = event["job"]
    assert result["duration_seconds"] == (job["stopped_at"] - job["started_at"]) / 1000
    assert result["metrics"] == SAMPLE_METRICS
    assert result["attributes"]["status"] == {"S": "SUCCEEDED"}
    assert "pk" not in result["attributes"]
    assert "sk" not in result["attributes"]


def check_summarize(event: dict[str, Any], result: dict[str, Any], stem: str) -> None:
    succeeded = [v for v in event["variants"] if v["status"] == "SUCCEEDED"]
    assert result["summary"]["variants_succeeded"] == len(succeeded)
    if succeeded:
        assert set(result) == {"status", "summary", "cost", "attributes"}
        assert result["status"] == "SUCCEEDED"
        assert (
            result["summary"]["fastest"]["name"]
            == min(succeeded, key=lambda v: v["duration_seconds"])["name"]
        )
    else:  # summarize_run_all_failed: priced all the same, recorded FAILED
        assert set(result) == {"status", "error", "cause", "summary", "cost", "attributes"}
        assert (result["status"], result["error"]) == ("FAILED", "AllVariantsFailedError")
        assert result["summary"]["fastest"] is None
        assert result["cost"]["total_usd"] > 0
    assert set(result["attributes"]) == {"summary", "cost"}
    assert set(result["attributes"]["cost"]) == {"M"}
    # Every variant is priced or named unpriced: none is silently left out of the cost.
    cost = result["cost"]
    assert set(cost["by_variant"]).isdisjoint(cost["unpriced_variants"])
    assert set(cost["by_variant"]) | set(cost["unpriced_variants"]) == {
        v["name"] for v in event["variants"]
    }


def check_close(event: dict[str, Any], result: dict[str, Any], stem: str) -> None:
    detail = event["detail"]
    assert (result["outcome"], result["execution"]) == ("closed", detail["executionArn"])
    assert result["pk"] == json.loads(detail["input"])[0]["pk"]
    if stem.endswith("_timed_out"):  # the event carries no error: the timeout's own
        assert (result["error"], detail["error"]) == ("States.Timeout", None)
    else:  # aborted with an error and a cause: those are recorded
        assert (result["error"], result["cause"]) == (detail["error"], detail["cause"])


CHECKS = {
    "start_run": check_start,
    "collect_metrics": check_collect,
    "summarize_run": check_summarize,
    "close_run": check_close,
}


def seed_open_run(event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The runs table (moto, under the s3 fixture's mock) holding the event's run RUNNING,
    owned by the event's execution, as CloseRun finds it on AWS."""
    import boto3

    monkeypatch.setenv("RUNS_TABLE_NAME", "runs-test")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(TableName="runs-test", **table_schema())
    detail = event["detail"]
    pk = json.loads(detail["input"])[0]["pk"]
    dynamodb.put_item(
        TableName="runs-test",
        Item={
            "pk": {"S": pk},
            "sk": {"S": "REQUEST"},
            "status": {"S": "RUNNING"},
            "execution": {"S": detail["executionArn"]},
        },
    )
    return dynamodb


@pytest.mark.parametrize(
    "event_file",
    [path for path in HANDLER_EVENTS if path.name not in RAISING_EVENTS],
    ids=lambda path: path.name,
)
def test_handler_handles_its_sample_event(
    event_file: Path,
    load_handler: LoadHandler,
    lambda_context: Any,
    results_bucket: str,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = handler_for(event_file)
    assert name is not None
    event = json.loads(event_file.read_text())
    if name == "collect_metrics":
        seed_results(s3, event["results_uri"], SAMPLE_METRICS)
    if name == "close_run":
        dynamodb = seed_open_run(event, monkeypatch)
    handler = load_handler(name).lambda_handler
    result = handler(event, lambda_context)
    assert json.loads(json.dumps(result)) == result  # JSON-able, as Lambda returns it
    CHECKS[name](event, result, event_file.stem)
    if name == "close_run":  # and the table says so
        item = dynamodb.get_item(
            TableName="runs-test", Key={"pk": {"S": result["pk"]}, "sk": {"S": "REQUEST"}}
        )["Item"]
        assert (item["status"]["S"], item["error"]["S"]) == ("FAILED", result["error"])


def item_to_image(path: Path) -> dict[str, Any]:
    item = json.loads(path.read_text(), parse_float=Decimal)
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in item.items()}


VALID_REQUESTS = sorted(REQUESTS_DIR.glob("*-valid*.json"))
INVALID_REQUESTS = sorted(REQUESTS_DIR.glob("kmer-invalid-*.json"))
#: What the reason for each sample bad request must say (every problem in the file).
INVALID_REQUEST_REASONS = {
    "kmer-invalid-bad-names.json": [
        "pk: run id '-starts-with-a-dash' must match",
        "cost_center: String should match pattern",
        "variants.0.name: String should match pattern",
    ],
    "kmer-invalid-compute.json": [
        "variants.0.architecture: Fargate Spot has no arm64 capacity",
        "variants.1.memory_mib: must be 4..15564 on ec2-m7i.xlarge",
        "variants.2.architecture: ec2-m7g.xlarge is arm64, got x86_64",
        "variants.3.compute: unknown compute option 'ec2-p5.48xlarge'",
    ],
    "kmer-invalid-duplicate-names.json": ['variants.1.name: duplicate variant name "od-1vcpu"'],
    "kmer-invalid-fargate-size.json": [
        "variants.0.memory_mib: 1024 is not a Fargate size for 1 vCPU",
        "variants.1.vcpus: must be one of 0.25, 0.5, 1, 2, 4, 8, 16, got 3",
    ],
    "kmer-invalid-input-values.json": [
        "input.uri: unsupported scheme",
        "input.k: Input should be greater than or equal to 1",
    ],
    "kmer-invalid-missing-fields.json": ["cost_center: required", "input: required"],
    "kmer-invalid-oversized.json": ["bytes; the limit is 65536"],
    "kmer-invalid-timeout.json": [
        "variants.0.timeout_seconds: Input should be greater than or equal to 60"
    ],
    "kmer-invalid-too-many-variants.json": ["variants: List should have at most 200 items"],
    "kmer-invalid-unknown-attributes.json": [
        "notes: unknown attribute",
        "variants.0.spot: unknown attribute",
    ],
    "kmer-invalid-unknown-workflow.json": ["workflow: unknown workflow 'bwa-align'"],
    "kmer-invalid-wrong-types.json": [
        "input.k: Input should be a valid integer",
        "variants.0.vcpus: Input should be a valid number",
        "variants.1.memory_mib: Input should be a valid integer",
        "variants.2.capacity: Input should be 'ON_DEMAND' or 'SPOT'",
    ],
    "kmer-invalid-zero-variants.json": ["variants: List should have at least 1 item"],
}


def test_every_sample_bad_request_has_its_expected_reason() -> None:
    assert {path.name for path in INVALID_REQUESTS} == set(INVALID_REQUEST_REASONS)


def start(load_handler: LoadHandler, lambda_context: Any, event: dict[str, Any]) -> Any:
    return load_handler("start_run").lambda_handler(event, lambda_context)


def reason_of(load_handler: LoadHandler, lambda_context: Any, event: dict[str, Any]) -> str:
    """The reason StartRun gives for an invalid request (its RequestInvalid's message)."""
    with pytest.raises(RequestInvalid) as raised:
        start(load_handler, lambda_context, event)
    return str(raised.value)


@pytest.mark.usefixtures("results_bucket")
@pytest.mark.parametrize("request_file", VALID_REQUESTS, ids=lambda path: path.name)
def test_sample_valid_request_validates(
    request_file: Path,
    load_handler: LoadHandler,
    lambda_context: Any,
    request: pytest.FixtureRequest,
) -> None:
    if request_file.name.endswith("-local.json"):  # a local input: the local cloud's option
        request.getfixturevalue("local_paths")
    image = item_to_image(request_file)
    result = start(load_handler, lambda_context, {"pk": image["pk"]["S"], "image": image})
    assert result["request"]["run_id"] == image["pk"]["S"].removeprefix("RUN#")


@pytest.mark.usefixtures("results_bucket")
def test_a_request_for_a_local_file_is_invalid_outside_the_local_cloud(
    load_handler: LoadHandler, lambda_context: Any
) -> None:
    image = item_to_image(REQUESTS_DIR / "kmer-valid-local.json")
    assert reason_of(load_handler, lambda_context, {"pk": image["pk"]["S"], "image": image}) == (
        "input.uri: must be an S3 object, s3://bucket/key, got 'events/data/sample.fastq' "
        "(local files are read only in the local cloud)"
    )


@pytest.mark.usefixtures("results_bucket")
@pytest.mark.parametrize("request_file", INVALID_REQUESTS, ids=lambda path: path.name)
def test_sample_bad_request_is_rejected_with_a_reason(
    request_file: Path, load_handler: LoadHandler, lambda_context: Any
) -> None:
    image = item_to_image(request_file)
    reason = reason_of(load_handler, lambda_context, {"pk": image["pk"]["S"], "image": image})
    for text in INVALID_REQUEST_REASONS[request_file.name]:
        assert text in reason
    assert len(reason) <= 1000


@pytest.mark.usefixtures("results_bucket")
@pytest.mark.parametrize(
    "event", [{"pk": "RUN#x", "image": "not a map"}, {"image": {"pk": {"X": 1}}}]
)
def test_start_handler_answers_invalid_for_any_image(
    event: dict[str, Any], load_handler: LoadHandler, lambda_context: Any
) -> None:
    assert reason_of(load_handler, lambda_context, event)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.usefixtures("results_bucket")
@pytest.mark.parametrize("event", [{}, {"pk": 7}])
def test_start_handler_refuses_an_event_with_no_key_to_claim(
    event: dict[str, Any], load_handler: LoadHandler, lambda_context: Any
) -> None:
    """The state machine always sends the pipe record's key; without one there is nothing
    to claim, which is the caller's error, not the request's."""
    with pytest.raises(ValueError, match="StartRun needs pk"):
        start(load_handler, lambda_context, event)


def item_of(runs_table: Any, pk: str) -> dict[str, Any]:
    key = {"pk": {"S": pk}, "sk": {"S": "REQUEST"}}
    item: dict[str, Any] = runs_table.get_item(TableName="runs-test", Key=key)["Item"]
    return item


START_EVENT = json.loads((EVENTS_DIR / "start_run.json").read_text())
CLAIM = {
    "pk": START_EVENT["pk"],
    "execution": "arn:aws:states:us-east-1:123456789012:execution:RunWorkflow:e1",
    "claimed_at": "2026-11-23T08:00:00.000Z",
    "limits": START_EVENT["limits"],
}


@pytest.mark.usefixtures("results_bucket")
def test_start_handler_claims_validates_and_marks_the_run_running(
    runs_table: Any, load_handler: LoadHandler, lambda_context: Any
) -> None:
    item = START_EVENT["image"] | {"attempt": {"N": "4"}, "reason": {"S": "an old one"}}
    runs_table.put_item(TableName="runs-test", Item=item)
    result = start(load_handler, lambda_context, CLAIM)
    assert result["attempt"] == 5
    assert result["request"]["run_id"] == CLAIM["pk"].removeprefix("RUN#")
    assert (result["run"]["execution"], result["run"]["claimed_at"]) == (
        CLAIM["execution"],
        CLAIM["claimed_at"],
    )
    stored = item_of(runs_table, CLAIM["pk"])
    assert stored["status"] == {"S": "RUNNING"}
    assert stored["execution"] == {"S": CLAIM["execution"]}
    assert stored["claimed_at"] == {"S": CLAIM["claimed_at"]}
    assert stored["attempt"] == {"N": "5"}
    assert stored["variant_count"] == {"N": str(len(result["request"]["variants"]))}
    assert stored["started_at"]["S"].endswith("Z")
    assert "reason" not in stored  # what an earlier attempt wrote is cleared by the claim


@pytest.mark.usefixtures("results_bucket")
def test_start_handler_writes_an_invalid_request_invalid_and_raises(
    runs_table: Any, load_handler: LoadHandler, lambda_context: Any
) -> None:
    """An item DynamoDB holds (up to 400 KB) but an execution's input could not (256 KB):
    the pipe sends only its key, and the request ends INVALID, naming its size."""
    item = START_EVENT["image"] | {"notes": {"S": "x" * 300_000}}
    runs_table.put_item(TableName="runs-test", Item=item)
    reason = reason_of(load_handler, lambda_context, CLAIM)
    assert "the limit is 65536 (its largest attribute, notes," in reason
    stored = item_of(runs_table, CLAIM["pk"])
    assert (stored["status"], stored["reason"], stored["attempt"]) == (
        {"S": "INVALID"},
        {"S": reason},
        {"N": "1"},
    )
    assert stored["execution"] == {"S": CLAIM["execution"]}


@pytest.mark.usefixtures("results_bucket")
@pytest.mark.parametrize("status", ["CLAIMED", "RUNNING", "SUCCEEDED", None])
def test_start_handler_leaves_a_run_it_cannot_claim_untouched(
    status: str | None,
    runs_table: Any,
    load_handler: LoadHandler,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A duplicate delivery, a run in progress or finished, or an item gone: AlreadyClaimed,
    counted, and nothing written."""
    if status is not None:
        item = START_EVENT["image"] | {"status": {"S": status}, "execution": {"S": "other"}}
        runs_table.put_item(TableName="runs-test", Item=item)
    # The status comes from the item the refused write returned (ALL_OLD).
    with pytest.raises(AlreadyClaimed, match=f"is {status or 'absent'}, not REQUESTED"):
        start(load_handler, lambda_context, CLAIM)
    items = runs_table.scan(TableName="runs-test")["Items"]
    assert items == ([] if status is None else [item])
    assert emitted_metrics(capsys.readouterr().out) == {"DuplicateDeliveries": [1.0]}


@pytest.mark.usefixtures("results_bucket")
def test_a_retried_start_goes_on_from_where_its_first_invocation_left_the_run(
    runs_table: Any, load_handler: LoadHandler, lambda_context: Any
) -> None:
    """Step Functions retries StartRun after a Lambda service error, and the first
    invocation may have run: claimed only, marked RUNNING, or written INVALID. The retry
    finds this execution's own item and gives the same answer, writing nothing twice."""
    own = {"execution": {"S": CLAIM["execution"]}, "claimed_at": {"S": CLAIM["claimed_at"]}}
    runs_table.put_item(
        TableName="runs-test", Item=START_EVENT["image"] | own | {"status": {"S": "CLAIMED"}}
    )
    first = start(load_handler, lambda_context, CLAIM)
    assert first["attempt"] == 1
    marked = item_of(runs_table, CLAIM["pk"])
    assert marked["status"] == {"S": "RUNNING"}

    again = start(load_handler, lambda_context, CLAIM)  # the answer was lost: retried
    assert again == first
    assert item_of(runs_table, CLAIM["pk"]) == marked  # not marked again: same attempt, time

    invalid = START_EVENT["image"] | own | {"status": {"S": "INVALID"}, "reason": {"S": "why"}}
    runs_table.put_item(TableName="runs-test", Item=invalid)
    assert reason_of(load_handler, lambda_context, CLAIM) == "why"
    assert item_of(runs_table, CLAIM["pk"]) == invalid


def test_a_start_whose_claim_is_taken_before_its_mark_gives_the_run_up(
    runs_table: Any, results_bucket: str
) -> None:
    """The run re-requested between StartRun's claim and its mark (the re-run's own
    execution then claims it): the mark is refused, ClaimLost is raised, and the item
    keeps what the re-request wrote."""
    from runledger.starting import ClaimLost, StartRunEvent, start_run

    runs_table.put_item(TableName="runs-test", Item=START_EVENT["image"])

    class ReRequestedAfterTheClaim:
        def __init__(self) -> None:
            self.calls = 0

        def update_item(self, **call: Any) -> Any:
            self.calls += 1
            answer = runs_table.update_item(**call)
            if self.calls == 1:  # just claimed: the run is requested again
                runs_table.update_item(
                    TableName="runs-test",
                    Key=call["Key"],
                    UpdateExpression="SET #s = :r",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":r": {"S": "REQUESTED"}},
                )
            return answer

    racing = ReRequestedAfterTheClaim()
    with pytest.raises(ClaimLost, match="no longer holds the claim"):
        start_run(
            StartRunEvent.model_validate(CLAIM),
            table="runs-test",
            results=results_bucket,
            input_locations=None,
            dynamodb=racing,
        )
    assert racing.calls == 2  # the claim, and the refused mark
    assert item_of(runs_table, CLAIM["pk"])["status"] == {"S": "REQUESTED"}


def emitted_metrics(stdout: str) -> dict[str, Any]:
    """Metric values from the Embedded Metric Format lines Powertools prints."""
    values: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            record = json.loads(line)
            for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                values[metric["Name"]] = record[metric["Name"]]
    return values


@pytest.mark.usefixtures("results_bucket")
@pytest.mark.parametrize(
    ("event_file", "metric"),
    [("start_run.json", "ValidRequests"), ("start_run_invalid.json", "InvalidRequests")],
)
def test_start_handler_counts_valid_and_invalid_requests(
    event_file: str,
    metric: str,
    load_handler: LoadHandler,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = json.loads((EVENTS_DIR / event_file).read_text())
    if metric == "InvalidRequests":  # the invalid sample: its reason names both problems
        reason = reason_of(load_handler, lambda_context, event)
        assert 'variants.1.name: duplicate variant name "od-1vcpu"' in reason
        assert "variants.2.memory_mib: 1024" in reason
    else:
        load_handler("start_run").lambda_handler(event, lambda_context)
    assert emitted_metrics(capsys.readouterr().out) == {metric: [1.0]}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_collect_handler_raises_when_the_job_wrote_no_metrics(
    load_handler: LoadHandler, lambda_context: Any, s3: Any
) -> None:
    event = json.loads((EVENTS_DIR / "collect_metrics.json").read_text())
    s3.create_bucket(Bucket=event["results_uri"].removeprefix("s3://").split("/", 1)[0])
    with pytest.raises(MetricsNotFoundError, match="NoSuchKey"):
        load_handler("collect_metrics").lambda_handler(event, lambda_context)


@pytest.mark.usefixtures("local_paths")
def test_collect_handler_reads_local_metrics_files(
    load_handler: LoadHandler, lambda_context: Any, tmp_path: Path
) -> None:
    event = json.loads((EVENTS_DIR / "collect_metrics.json").read_text())
    metrics_file = tmp_path / "metrics.json"
    metrics_file.write_text(json.dumps(SAMPLE_METRICS))
    for uri in (str(metrics_file), metrics_file.as_uri()):
        result = load_handler("collect_metrics").lambda_handler(
            event | {"results_uri": uri}, lambda_context
        )
        assert result["metrics"] == SAMPLE_METRICS


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_start_handler_fails_without_results_bucket(
    load_handler: LoadHandler, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RESULTS_BUCKET", raising=False)
    with pytest.raises(KeyError, match="RESULTS_BUCKET"):
        start(load_handler, lambda_context, START_EVENT)


def test_summarize_handler_prices_lambda_at_the_context_memory(
    load_handler: LoadHandler, lambda_context: Any
) -> None:
    event = json.loads((EVENTS_DIR / "summarize_run.json").read_text())
    handler = load_handler("summarize_run").lambda_handler
    small = handler(event, lambda_context)["cost"]["breakdown"]["lambda"]
    lambda_context.memory_limit_in_mb = 1024
    large = handler(event, lambda_context)["cost"]["breakdown"]["lambda"]
    assert large > small


@pytest.mark.parametrize("sample", ["summarize_run.json", "summarize_run_all_failed.json"])
def test_summarize_run_reads_the_outcomes_the_map_reports_from_the_table(
    sample: str,
    load_handler: LoadHandler,
    lambda_context: Any,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On AWS the Distributed Map hands SummarizeRun each child's {name, status} as
    ``jobs`` with the run's key; the outcomes are the VARIANT# items its execution wrote.
    The same sample, in that form with its items in the table, is summarized and priced
    as the sample with its outcomes in full."""
    import boto3

    full = json.loads((EVENTS_DIR / sample).read_text())
    module = load_handler("summarize_run")
    handler = module.lambda_handler
    expected = handler(full, lambda_context)
    monkeypatch.setenv("RUNS_TABLE_NAME", "runs-test")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(TableName="runs-test", **table_schema())
    pk, execution = f"RUN#{full['run_id']}", "arn:aws:states:us-east-1:1:execution:w:e"
    serializer = TypeSerializer()
    for outcome in full["variants"]:
        item = {"pk": pk, "sk": f"VARIANT#{outcome['name']}", "execution": execution}
        item |= json.loads(json.dumps(outcome), parse_float=Decimal)
        dynamodb.put_item(
            TableName="runs-test", Item={k: serializer.serialize(v) for k, v in item.items()}
        )
    reports = [{"name": o["name"], "status": o["status"]} for o in full["variants"]]
    from_map = {k: v for k, v in full.items() if k != "variants"}
    from_map |= {"jobs": reports, "pk": pk}
    # Not the execution's history (none here): the items of this execution are read.
    monkeypatch.setattr(module, "read_usage", lambda arn: None)
    result = handler(from_map | {"execution": execution}, lambda_context)
    assert result["summary"] == expected["summary"]
    assert result["cost"]["by_variant"] == expected["cost"]["by_variant"]
    assert result["cost"]["unpriced_variants"] == expected["cost"]["unpriced_variants"]
    assert result["status"] == expected["status"]
