"""collect_metrics (runledger.results): read what a job measured, price it, shape its item."""

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
            "compute",
            "architecture",
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
