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
from runledger.validation import GONE_REASON
from runledger_cli.sam_template import table_schema

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
REQUESTS_DIR = EVENTS_DIR / "requests"
HANDLERS = (
    "validate_request",
    "prepare_variant",
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


def check_validate(event: dict[str, Any], result: dict[str, Any], stem: str) -> None:
    assert set(result) == {"valid", "request", "reason", "attempt"}
    # This claim's attempt: the item's attempt + 1 (the invalid sample was run once).
    assert result["attempt"] == int(event["image"].get("attempt", {"N": "0"})["N"]) + 1
    if stem.endswith("_invalid"):
        assert result["valid"] is False
        assert result["request"] is None
        assert 'variants.1.name: duplicate variant name "od-1vcpu"' in result["reason"]
        assert "variants.2.memory_mib: 1024" in result["reason"]
    else:
        assert result["valid"] is True
        assert result["reason"] is None
        assert result["request"]["run_id"] == event["pk"].removeprefix("RUN#")
        assert all("timeout_seconds" in v for v in result["request"]["variants"])


def check_prepare(event: dict[str, Any], result: dict[str, Any], stem: str) -> None:
    assert set(result) == {"job_name", "results_uri", "container_overrides", "timeout_seconds"}
    variant = event["variant"]["name"]
    assert result["job_name"] == f"{event['run_id']}-{variant}"
    assert result["results_uri"] == (
        f"s3://runledger-results-test/runs/{event['run_id']}/{variant}/metrics.json"
    )
    env = {e["Name"]: e["Value"] for e in result["container_overrides"]["Environment"]}
    assert env["RUNLEDGER_RESULTS_URI"] == result["results_uri"]
    assert env["RUNLEDGER_KMER_K"] == str(event["input"]["k"])
    assert result["timeout_seconds"] == event["variant"]["timeout_seconds"]


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
    "validate_request": check_validate,
    "prepare_variant": check_prepare,
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


@pytest.mark.parametrize("event_file", HANDLER_EVENTS, ids=lambda path: path.name)
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
    "kmer-invalid-too-many-variants.json": ["variants: List should have at most 50 items"],
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
    result = load_handler("validate_request").lambda_handler(
        {"pk": image["pk"]["S"], "image": image}, lambda_context
    )
    assert (result["valid"], result["reason"]) == (True, None)


def test_a_request_for_a_local_file_is_invalid_outside_the_local_cloud(
    load_handler: LoadHandler, lambda_context: Any
) -> None:
    image = item_to_image(REQUESTS_DIR / "kmer-valid-local.json")
    result = load_handler("validate_request").lambda_handler(
        {"pk": image["pk"]["S"], "image": image}, lambda_context
    )
    assert (result["valid"], result["request"]) == (False, None)
    assert result["reason"] == (
        "input.uri: must be an S3 object, s3://bucket/key, got 'events/data/sample.fastq' "
        "(local files are read only in the local cloud)"
    )


@pytest.mark.parametrize("request_file", INVALID_REQUESTS, ids=lambda path: path.name)
def test_sample_bad_request_is_rejected_with_a_reason(
    request_file: Path, load_handler: LoadHandler, lambda_context: Any
) -> None:
    image = item_to_image(request_file)
    result = load_handler("validate_request").lambda_handler(
        {"pk": image["pk"]["S"], "image": image}, lambda_context
    )
    assert result["valid"] is False
    assert result["request"] is None
    for text in INVALID_REQUEST_REASONS[request_file.name]:
        assert text in result["reason"]
    assert len(result["reason"]) <= 1000


@pytest.mark.parametrize(
    "event",
    [{}, {"pk": 7}, {"pk": "RUN#x", "image": "not a map"}, {"image": {"pk": {"X": 1}}}],
)
def test_validate_handler_answers_invalid_for_any_event_object(
    event: dict[str, Any], load_handler: LoadHandler, lambda_context: Any
) -> None:
    result = load_handler("validate_request").lambda_handler(event, lambda_context)
    assert result["valid"] is False
    assert result["reason"]


def test_validate_handler_reads_the_claimed_item_and_numbers_the_claim(
    runs_table: Any, load_handler: LoadHandler, lambda_context: Any
) -> None:
    event = json.loads((EVENTS_DIR / "validate_request.json").read_text())
    item = event["image"] | {"status": {"S": "CLAIMED"}, "attempt": {"N": "4"}}
    runs_table.put_item(TableName="runs-test", Item=item)
    result = load_handler("validate_request").lambda_handler(
        {"pk": event["pk"], "limits": event["limits"]}, lambda_context
    )
    assert (result["valid"], result["attempt"]) == (True, 5), result["reason"]
    assert result["request"]["run_id"] == event["pk"].removeprefix("RUN#")


def test_validate_handler_answers_invalid_for_an_item_over_what_a_run_may_carry(
    runs_table: Any, load_handler: LoadHandler, lambda_context: Any
) -> None:
    """An item DynamoDB holds (up to 400 KB) but an execution's input could not (256 KB):
    the pipe sends only its key, and the request ends INVALID, naming its size."""
    event = json.loads((EVENTS_DIR / "validate_request.json").read_text())
    item = event["image"] | {"notes": {"S": "x" * 300_000}}
    runs_table.put_item(TableName="runs-test", Item=item)
    result = load_handler("validate_request").lambda_handler({"pk": event["pk"]}, lambda_context)
    assert result["valid"] is False
    assert "the limit is 65536 (its largest attribute, notes," in result["reason"]


def test_validate_handler_answers_invalid_when_the_item_is_gone(
    runs_table: Any, load_handler: LoadHandler, lambda_context: Any
) -> None:
    result = load_handler("validate_request").lambda_handler({"pk": "RUN#gone"}, lambda_context)
    assert (result["valid"], result["reason"], result["attempt"]) == (False, GONE_REASON, 1)


def emitted_metrics(stdout: str) -> dict[str, Any]:
    """Metric values from the Embedded Metric Format lines Powertools prints."""
    values: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            record = json.loads(line)
            for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                values[metric["Name"]] = record[metric["Name"]]
    return values


@pytest.mark.parametrize(
    ("event_file", "metric"),
    [
        ("validate_request.json", "ValidRequests"),
        ("validate_request_invalid.json", "InvalidRequests"),
    ],
)
def test_validate_handler_counts_valid_and_invalid_requests(
    event_file: str,
    metric: str,
    load_handler: LoadHandler,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = json.loads((EVENTS_DIR / event_file).read_text())
    load_handler("validate_request").lambda_handler(event, lambda_context)
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
def test_prepare_handler_fails_without_results_bucket(
    load_handler: LoadHandler, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RESULTS_BUCKET", raising=False)
    event = json.loads((EVENTS_DIR / "prepare_variant.json").read_text())
    with pytest.raises(KeyError, match="RESULTS_BUCKET"):
        load_handler("prepare_variant").lambda_handler(event, lambda_context)


def test_summarize_handler_prices_lambda_at_the_context_memory(
    load_handler: LoadHandler, lambda_context: Any
) -> None:
    event = json.loads((EVENTS_DIR / "summarize_run.json").read_text())
    handler = load_handler("summarize_run").lambda_handler
    small = handler(event, lambda_context)["cost"]["breakdown"]["lambda"]
    lambda_context.memory_limit_in_mb = 1024
    large = handler(event, lambda_context)["cost"]["breakdown"]["lambda"]
    assert large > small
