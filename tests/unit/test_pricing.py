"""Cost estimates, checked against arithmetic done here from prices.json itself."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from runledger import pricing

PRICES_FILE = Path(__file__).resolve().parents[2] / "runledger" / "prices.json"


@pytest.fixture(scope="module")
def book() -> dict[str, Any]:
    return json.loads(PRICES_FILE.read_text())


def unit(book: dict[str, Any], name: str) -> float:
    return float(book["prices"][name]["usd"])


def test_every_price_rule_and_assumption_names_its_source_and_date(book: dict[str, Any]) -> None:
    entries = [
        *book["prices"].values(),
        *book["rules"].values(),
        *book["assumptions"].values(),
        *book["instances"].values(),
    ]
    assert len(entries) == 18
    for entry in entries:
        assert re.fullmatch(r"https://aws\.amazon\.com/[a-z0-9/-]+/", entry["source"])
        date.fromisoformat(entry["as_of"])
    assert book["region"] == "us-east-1"
    assert all("ASSUMPTION" in entry["note"] for entry in book["assumptions"].values())


def test_price_book_loads_the_packaged_file_once(book: dict[str, Any]) -> None:
    assert pricing.price_book() is pricing.price_book()
    assert pricing.price_book().as_of == book["as_of"]
    assert pricing.price_book().usd("pipes_request") == unit(book, "pipes_request")


def test_on_demand_fargate_cost_is_vcpu_hours_plus_gb_hours(book: dict[str, Any]) -> None:
    # 2 vCPU, 4096 MiB = 4 GB, 125 s
    expected = 2 * 125 / 3600 * unit(
        book, "fargate_linux_x86_64_vcpu_hour"
    ) + 4 * 125 / 3600 * unit(book, "fargate_linux_x86_64_gb_hour")
    cost = pricing.fargate_cost(2, 4096, 125, "ON_DEMAND")
    assert cost.usd == pytest.approx(expected, rel=1e-12)
    assert (cost.billed_seconds, cost.vcpu_seconds, cost.gib_seconds) == (125, 250, 500)


def test_spot_takes_the_assumed_discount_off(book: dict[str, Any]) -> None:
    discount = book["assumptions"]["fargate_spot_discount"]["value"]
    on_demand = pricing.fargate_cost(2, 4096, 125, "ON_DEMAND").usd
    assert pricing.fargate_cost(2, 4096, 125, "SPOT").usd == pytest.approx(
        on_demand * (1 - discount), rel=1e-12
    )


def test_short_tasks_bill_the_one_minute_minimum(book: dict[str, Any]) -> None:
    minimum = book["rules"]["fargate_minimum_billed_seconds"]["value"]
    expected = 0.25 * minimum / 3600 * unit(
        book, "fargate_linux_x86_64_vcpu_hour"
    ) + 0.5 * minimum / 3600 * unit(book, "fargate_linux_x86_64_gb_hour")
    cost = pricing.fargate_cost(0.25, 512, 3.2, "ON_DEMAND")
    assert cost.billed_seconds == minimum == 60
    assert cost.usd == pytest.approx(expected, rel=1e-12)


def test_partial_seconds_round_up() -> None:
    assert pricing.fargate_billed_seconds(90.001) == 91
    assert pricing.fargate_billed_seconds(90.0) == 90


def test_arm64_fargate_uses_the_graviton_prices(book: dict[str, Any]) -> None:
    expected = 1 * 3600 / 3600 * unit(
        book, "fargate_linux_arm64_vcpu_hour"
    ) + 2 * 3600 / 3600 * unit(book, "fargate_linux_arm64_gb_hour")
    assert pricing.fargate_cost(1, 2048, 3600, "ON_DEMAND", arch="arm64").usd == pytest.approx(
        expected, rel=1e-12
    )


def test_spot_on_arm64_is_refused() -> None:
    with pytest.raises(ValueError, match="x86_64 tasks only"):
        pricing.fargate_cost(1, 2048, 60, "SPOT", arch="arm64")


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        pricing.fargate_cost(1, 2048, -1, "ON_DEMAND")


def test_lambda_cost_is_requests_plus_gb_seconds(book: dict[str, Any]) -> None:
    duration = book["assumptions"]["lambda_billed_seconds_per_invocation"]["value"]
    expected = 8 * unit(book, "lambda_request") + 8 * (512 / 1024) * duration * unit(
        book, "lambda_arm64_gb_second"
    )
    assert pricing.lambda_cost(8, memory_mb=512) == pytest.approx(expected, rel=1e-12)
    x86 = 8 * unit(book, "lambda_request") + 8 * 0.25 * 2.0 * unit(book, "lambda_x86_64_gb_second")
    assert pricing.lambda_cost(8, 256, billed_seconds=2.0, arch="x86_64") == pytest.approx(
        x86, rel=1e-12
    )


def test_step_functions_pipes_and_dynamodb_are_count_times_unit_price(
    book: dict[str, Any],
) -> None:
    assert pricing.stepfunctions_cost(19) == pytest.approx(
        19 * unit(book, "stepfunctions_standard_state_transition")
    )
    assert pricing.pipes_cost() == pytest.approx(unit(book, "pipes_request"))
    assert pricing.dynamodb_write_cost(7) == pytest.approx(
        7 * unit(book, "dynamodb_on_demand_write_request_unit")
    )


@pytest.mark.parametrize(
    ("n", "transitions", "invocations", "writes"), [(1, 8, 3, 5), (3, 14, 5, 7)]
)
def test_usage_model_of_a_run(n: int, transitions: int, invocations: int, writes: int) -> None:
    assert pricing.estimated_transitions(n) == transitions
    assert pricing.estimated_transitions(n, all_failed=True) == transitions + 1
    assert pricing.lambda_invocations(n) == invocations
    assert pricing.dynamodb_writes(n) == writes


def test_run_estimate_adds_every_service(book: dict[str, Any]) -> None:
    duration = book["assumptions"]["lambda_billed_seconds_per_invocation"]["value"]
    estimate = pricing.estimate_run_cost(batch_usd=0.01, n_variants=3)
    expected = {
        "stepfunctions": 14 * unit(book, "stepfunctions_standard_state_transition"),
        "lambda": 5 * unit(book, "lambda_request")
        + 5 * 0.25 * duration * unit(book, "lambda_arm64_gb_second"),
        "pipes": unit(book, "pipes_request"),
        "dynamodb": 7 * unit(book, "dynamodb_on_demand_write_request_unit"),
    }
    assert estimate.batch == 0.01
    assert estimate.stepfunctions == pytest.approx(expected["stepfunctions"], rel=1e-12)
    assert estimate.lambda_ == pytest.approx(expected["lambda"], rel=1e-12)
    assert estimate.pipes == pytest.approx(expected["pipes"], rel=1e-12)
    assert estimate.dynamodb == pytest.approx(expected["dynamodb"], rel=1e-12)
    assert estimate.total == pytest.approx(0.01 + sum(expected.values()), rel=1e-12)


def test_counted_transitions_replace_the_estimate(book: dict[str, Any]) -> None:
    estimate = pricing.estimate_run_cost(batch_usd=0, n_variants=3, transitions=40)
    assert estimate.stepfunctions == pytest.approx(
        40 * unit(book, "stepfunctions_standard_state_transition")
    )


def test_format_usd_rounds_only_for_display() -> None:
    assert pricing.format_usd(0.00123456789) == "$0.001235"
    assert pricing.format_usd(1234.5, places=2) == "$1,234.50"


def test_batch_job_cost_bills_every_attempt_with_its_own_minimum(book: dict[str, Any]) -> None:
    # A Spot task reclaimed after 12 s (billed the 60 s minimum), then one of 100.2 s.
    job = pricing.batch_job_cost(1, 2048, "SPOT", [12, 100.2])
    discount = book["assumptions"]["fargate_spot_discount"]["value"]
    billed = 60 + 101
    expected = (
        (
            1 * billed * unit(book, "fargate_linux_x86_64_vcpu_hour")
            + 2 * billed * unit(book, "fargate_linux_x86_64_gb_hour")
        )
        / 3600
        * (1 - discount)
    )
    assert job.usd == pytest.approx(expected, rel=1e-12)
    assert (job.attempts, job.billed_seconds, job.vcpu_seconds, job.gib_seconds) == (
        2,
        billed,
        billed,
        2 * billed,
    )
    assert pricing.batch_job_cost(1, 2048, "ON_DEMAND", []).usd == 0


def test_run_estimate_reports_the_usage_it_priced(book: dict[str, Any]) -> None:
    usage = pricing.estimate_run_cost(batch_usd=0, n_variants=2, lambda_memory_mb=512).usage
    seconds = book["assumptions"]["lambda_billed_seconds_per_invocation"]["value"]
    assert (usage.transitions, usage.lambda_invocations, usage.dynamodb_write_request_units) == (
        11,
        4,
        6,
    )
    assert (usage.pipes_requests, usage.lambda_memory_mb, usage.lambda_arch) == (1, 512, "arm64")
    assert usage.lambda_seconds_per_invocation == seconds
    assert usage.lambda_gb_seconds == pytest.approx(4 * 0.5 * seconds)


def test_priced_architectures_are_the_templates() -> None:
    from runledger_cli.sam_template import load_both

    template = load_both()[0]
    assert template["Globals"]["Function"]["Architectures"] == [pricing.LAMBDA_ARCH]
    jobs = [r for r in template["Resources"].values() if r["Type"] == "AWS::Batch::JobDefinition"]
    assert jobs
    # Every Fargate job definition's architecture has a Fargate price; the default one
    # (BATCH_ARCH) is among them.
    fargate = {
        job["Properties"]["ContainerProperties"]["RuntimePlatform"]["CpuArchitecture"].lower()
        for job in jobs
        if job["Properties"]["PlatformCapabilities"] == ["FARGATE"]
    }
    assert fargate == {"x86_64", "arm64"}
    assert pricing.BATCH_ARCH in fargate
    for arch in fargate:
        assert pricing.price_book().usd(f"fargate_linux_{arch}_vcpu_hour") > 0


def test_ec2_cost_is_the_jobs_larger_share_of_its_instance_for_as_long_as_it_ran(
    book: dict[str, Any],
) -> None:
    """Seqera's rule (docs.seqera.io/platform/24.2/monitoring/cloud-costs), by hand:
    m7g.xlarge (4 vCPUs, 16384 MiB) at its hourly price; 1 vCPU and 8192 MiB is a quarter
    of its vCPUs and half its memory: the half counts."""
    hourly = unit(book, "ec2_m7g_xlarge_linux_hour")
    priced = pricing.ec2_cost(1, 8192, 1800, "ON_DEMAND", "m7g.xlarge")
    assert priced.usd == pytest.approx(hourly * 1800 / 3600 * 0.5)
    # vCPUs the larger share: 3 of 4 vCPUs, 1024 of 16384 MiB.
    cpu_bound = pricing.ec2_cost(3, 1024, 90, "ON_DEMAND", "m7g.xlarge")
    assert cpu_bound.usd == pytest.approx(hourly * 90 / 3600 * 0.75)
    # No one-minute minimum: the instance is billed, not the job.
    short = pricing.ec2_cost(4, 16384, 10, "ON_DEMAND", "m7g.xlarge")
    assert short.usd == pytest.approx(hourly * 10 / 3600)
    assert (short.billed_seconds, short.vcpu_seconds, short.gib_seconds) == (10, 40, 160)


def test_ec2_spot_takes_its_assumed_discount_off(book: dict[str, Any]) -> None:
    discount = book["assumptions"]["ec2_spot_discount"]["value"]
    assert "ASSUMPTION" in book["assumptions"]["ec2_spot_discount"]["note"]
    on_demand = pricing.ec2_cost(2, 4096, 600, "ON_DEMAND", "m7i.xlarge")
    spot = pricing.ec2_cost(2, 4096, 600, "SPOT", "m7i.xlarge")
    assert spot.usd == pytest.approx(on_demand.usd * (1 - discount))
    assert on_demand.usd == pytest.approx(unit(book, "ec2_m7i_xlarge_linux_hour") * 600 / 3600 / 2)


def test_a_batch_job_on_ec2_is_priced_per_attempt_on_its_instance_type() -> None:
    job = pricing.batch_job_cost(2, 4096, "ON_DEMAND", [30, 60], instance_type="m7i.xlarge")
    each = [pricing.ec2_cost(2, 4096, s, "ON_DEMAND", "m7i.xlarge").usd for s in (30, 60)]
    assert job.usd == pytest.approx(sum(each))
    assert job.attempts == 2
    # The same job on Fargate x86_64 pays a minute for the 30 s attempt.
    fargate = pricing.batch_job_cost(2, 4096, "ON_DEMAND", [30, 60])
    assert fargate.billed_seconds == 120
    with pytest.raises(KeyError):
        pricing.ec2_cost(1, 1024, 1, "ON_DEMAND", "m9z.huge")


def test_every_instance_type_is_as_its_price_and_the_graviton_ones_cost_less() -> None:
    book = pricing.price_book()
    assert book.instance("m7g.xlarge").architecture == "arm64"
    assert book.instance("m7i.xlarge").architecture == "x86_64"
    for spec in book.instances.values():
        assert spec.price in book.prices
    assert book.usd(book.instance("m7g.xlarge").price) < book.usd(book.instance("m7i.xlarge").price)
    # Fargate on arm64 is cheaper too, per vCPU-hour and per GB-hour.
    for unit_name in ("vcpu_hour", "gb_hour"):
        assert book.usd(f"fargate_linux_arm64_{unit_name}") < book.usd(
            f"fargate_linux_x86_64_{unit_name}"
        )
