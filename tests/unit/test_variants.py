"""prepare_variant (runledger.variants) and collect_metrics (runledger.results)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from pydantic import ValidationError

from runledger.results import (
    CollectMetricsEvent,
    JobNotSucceededError,
    MetricsNotFoundError,
    collect_metrics,
    read_metrics,
)
from runledger.variants import PrepareVariantEvent, batch_job_name, prepare_variant
from runledger.workflows import UnknownWorkflowError

PRICES = json.loads(
    (Path(__file__).resolve().parents[2] / "runledger" / "prices.json").read_text()
)["prices"]

METRICS = {
    "reads": 1000,
    "bases": 150000,
    "k": 21,
    "total_kmers": 130000,
    "distinct_kmers": 90000,
    "gc_fraction": 0.4213,
    "top_kmers": [["ACGTACGTACGTACGTACGTA", 12], ["AAAAAAAAAAAAAAAAAAAAA", 9]],
    "elapsed_seconds": 1.23,
}


def prepare_event(**changes: Any) -> PrepareVariantEvent:
    fields: dict[str, Any] = {
        "run_id": "kmer-2026-11-23-001",
        "workflow": "kmer-count",
        "cost_center": "genomics-lab",
        "input": {"uri": "s3://samples/sample.fastq", "k": 21},
        "variant": {
            "name": "od-2vcpu",
            "vcpus": 2,
            "memory_mib": 4096,
            "capacity": "ON_DEMAND",
            "timeout_seconds": 900,
        },
    }
    return PrepareVariantEvent.model_validate(fields | changes)


def test_prepared_job_carries_name_resources_environment_and_timeout() -> None:
    job = prepare_variant(prepare_event(), results_base="results-bucket").model_dump(mode="json")
    uri = "s3://results-bucket/runs/kmer-2026-11-23-001/od-2vcpu/metrics.json"
    assert job == {
        "job_name": "kmer-2026-11-23-001-od-2vcpu",
        "results_uri": uri,
        "container_overrides": {
            "ResourceRequirements": [
                {"Type": "VCPU", "Value": "2"},
                {"Type": "MEMORY", "Value": "4096"},
            ],
            "Environment": [
                {"Name": "RUNLEDGER_INPUT_URI", "Value": "s3://samples/sample.fastq"},
                {"Name": "RUNLEDGER_KMER_K", "Value": "21"},
                {"Name": "RUNLEDGER_RESULTS_URI", "Value": uri},
                {"Name": "RUNLEDGER_RUN_ID", "Value": "kmer-2026-11-23-001"},
                {"Name": "RUNLEDGER_VARIANT", "Value": "od-2vcpu"},
            ],
        },
        "timeout_seconds": 900,
    }


def test_fractional_vcpus_are_formatted_as_batch_wants() -> None:
    variant = {"name": "q", "vcpus": 0.25, "memory_mib": 512, "capacity": "SPOT"}
    job = prepare_variant(prepare_event(variant=variant), results_base="b")
    assert job.container_overrides.ResourceRequirements[0].Value == "0.25"


def test_local_results_base_gives_a_file_uri() -> None:
    job = prepare_variant(prepare_event(), results_base="file:///tmp/runledger")
    assert job.results_uri == "file:///tmp/runledger/runs/kmer-2026-11-23-001/od-2vcpu/metrics.json"


def test_job_name_replaces_characters_batch_refuses() -> None:
    assert batch_job_name("kmer.2026_11", "od-1") == "kmer-2026_11-od-1"


def test_job_name_is_cut_at_128_characters() -> None:
    name = batch_job_name("r" * 80, "v" * 40)
    assert len(name) == 121
    assert len(batch_job_name("r" * 200, "v")) == 128


def test_prepare_raises_for_an_unknown_workflow() -> None:
    with pytest.raises(UnknownWorkflowError):
        prepare_variant(prepare_event(workflow="bwa"), results_base="b")


def test_prepare_raises_for_input_the_workflow_cannot_use() -> None:
    with pytest.raises(ValidationError):
        prepare_variant(prepare_event(input={"uri": "s3://b/k", "k": 99}), results_base="b")


def collect_event(results_uri: str, **job: Any) -> CollectMetricsEvent:
    return CollectMetricsEvent.model_validate(
        {
            "run_id": "kmer-2026-11-23-001",
            "variant": {
                "name": "od-2vcpu",
                "vcpus": 2,
                "memory_mib": 4096,
                "capacity": "ON_DEMAND",
                "timeout_seconds": 3600,
            },
            "results_uri": results_uri,
            "job": {
                "job_id": "job-1",
                "status": "SUCCEEDED",
                "started_at": 1_763_884_800_000,
                "stopped_at": 1_763_884_925_500,
                "attempts": 2,
            }
            | job,
        }
    )


def write_metrics(tmp_path: Path, body: str | dict[str, Any] = METRICS) -> Path:
    path = tmp_path / "metrics.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


@pytest.mark.usefixtures("local_paths")
def test_collect_prices_the_job_from_its_duration(tmp_path: Path) -> None:
    result = collect_metrics(collect_event(str(write_metrics(tmp_path))))
    billed = 126  # 125.5 s rounds up to the second
    expected_usd = (
        2 * billed / 3600 * PRICES["fargate_linux_x86_64_vcpu_hour"]["usd"]
        + 4 * billed / 3600 * PRICES["fargate_linux_x86_64_gb_hour"]["usd"]
    )
    assert result.duration_seconds == 125.5
    assert result.cost.batch_usd == pytest.approx(expected_usd, rel=1e-12)
    assert (result.cost.attempts_billed, result.cost.billed_seconds) == (1, billed)
    assert (result.cost.vcpu_seconds, result.cost.gib_seconds) == (252, 504)
    assert result.metrics == METRICS
    assert (result.name, result.status, result.job_id, result.attempts) == (
        "od-2vcpu",
        "SUCCEEDED",
        "job-1",
        2,
    )


@pytest.mark.usefixtures("local_paths")
def test_collect_attributes_are_the_variant_item_in_dynamodb_json(tmp_path: Path) -> None:
    result = collect_metrics(collect_event(write_metrics(tmp_path).as_uri()))
    assert result.attributes is not None
    deserializer = TypeDeserializer()
    item = {name: deserializer.deserialize(value) for name, value in result.attributes.items()}
    assert sorted(item) == sorted(
        [
            "status",
            "capacity",
            "vcpus",
            "memory_mib",
            "job_id",
            "attempts",
            "duration_seconds",
            "started_at",
            "stopped_at",
            "attempt_times",
            "metrics",
            "cost",
        ]
    )
    assert result.attributes["vcpus"] == {"N": "2"}
    assert result.attributes["duration_seconds"] == {"N": "125.5"}
    assert str(item["metrics"]["gc_fraction"]) == "0.4213"
    assert float(item["cost"]["batch_usd"]) == pytest.approx(result.cost.batch_usd, rel=1e-15)
    assert item["stopped_at"] == 1_763_884_925_500
    # RunJob sent no attempt_times: the job's own times are the one attempt priced.
    assert item["attempt_times"] == [
        {"started_at": 1_763_884_800_000, "stopped_at": 1_763_884_925_500}
    ]


@pytest.mark.usefixtures("local_paths")
def test_collect_prices_every_attempt_of_a_retried_job(tmp_path: Path) -> None:
    # A Spot reclaim after 30.2 s (billed the 60 s minimum), then 125.5 s that succeeded.
    attempts = [
        {"started_at": 1_763_884_000_000, "stopped_at": 1_763_884_030_200},
        {"started_at": 1_763_884_800_000, "stopped_at": 1_763_884_925_500},
    ]
    result = collect_metrics(collect_event(str(write_metrics(tmp_path)), attempt_times=attempts))
    billed = 60 + 126
    expected_usd = (
        2 * billed / 3600 * PRICES["fargate_linux_x86_64_vcpu_hour"]["usd"]
        + 4 * billed / 3600 * PRICES["fargate_linux_x86_64_gb_hour"]["usd"]
    )
    assert result.cost.batch_usd == pytest.approx(expected_usd, rel=1e-12)
    assert (result.cost.attempts_billed, result.cost.billed_seconds) == (2, billed)
    assert (result.cost.vcpu_seconds, result.cost.gib_seconds) == (2 * billed, 4 * billed)
    assert result.duration_seconds == 125.5  # the run that produced the metrics
    assert result.attributes is not None
    recorded = TypeDeserializer().deserialize(result.attributes["attempt_times"])
    assert recorded == attempts


@pytest.mark.usefixtures("local_paths")
def test_collect_does_not_bill_an_attempt_that_never_started(tmp_path: Path) -> None:
    attempts = [{"stopped_at": 1_763_884_000_000}, {"started_at": 1, "stopped_at": 61_001}]
    result = collect_metrics(collect_event(str(write_metrics(tmp_path)), attempt_times=attempts))
    assert (result.cost.attempts_billed, result.cost.billed_seconds) == (1, 61)


def test_collect_reads_metrics_from_s3(s3: Any) -> None:
    s3.create_bucket(Bucket="results-bucket")
    s3.put_object(Bucket="results-bucket", Key="runs/r/v/metrics.json", Body=json.dumps(METRICS))
    result = collect_metrics(collect_event("s3://results-bucket/runs/r/v/metrics.json"))
    assert result.metrics == METRICS


def test_missing_s3_metrics_raise_metrics_not_found(s3: Any) -> None:
    s3.create_bucket(Bucket="results-bucket")
    with pytest.raises(MetricsNotFoundError, match="NoSuchKey"):
        collect_metrics(collect_event("s3://results-bucket/runs/r/v/metrics.json"))


@pytest.mark.usefixtures("local_paths")
def test_missing_local_metrics_raise_metrics_not_found(tmp_path: Path) -> None:
    with pytest.raises(MetricsNotFoundError, match="no metrics at"):
        collect_metrics(collect_event(str(tmp_path / "absent.json")))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"x": NaN}', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
@pytest.mark.usefixtures("local_paths")
def test_unreadable_metrics_raise_metrics_not_found(
    tmp_path: Path, body: str | bytes, message: str
) -> None:
    path = tmp_path / "metrics.json"
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body)
    with pytest.raises(MetricsNotFoundError, match=message):
        read_metrics(str(path))


def test_local_metrics_outside_the_local_cloud_raise_metrics_not_found(tmp_path: Path) -> None:
    with pytest.raises(MetricsNotFoundError, match="must be an S3 object"):
        read_metrics(str(write_metrics(tmp_path)))


def test_malformed_results_uri_raises_metrics_not_found() -> None:
    with pytest.raises(MetricsNotFoundError, match="unsupported scheme"):
        read_metrics("https://example.com/metrics.json")


@pytest.mark.usefixtures("local_paths")
def test_collect_refuses_a_job_that_did_not_succeed(tmp_path: Path) -> None:
    with pytest.raises(JobNotSucceededError, match="job job-1 ended FAILED"):
        collect_metrics(collect_event(str(write_metrics(tmp_path)), status="FAILED"))


def test_job_that_stops_before_it_starts_is_refused() -> None:
    with pytest.raises(ValidationError, match="before started_at"):
        collect_event("/x", started_at=2000, stopped_at=1000)
