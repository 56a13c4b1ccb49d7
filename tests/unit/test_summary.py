"""summarize_run (domain): fastest, cheapest, failures and the run's price."""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from pydantic import ValidationError

from runledger import pricing
from runledger.summary import (
    RunClaimedAgain,
    SummarizeRunEvent,
    VariantMismatchError,
    json_value,
    recorded_outcomes,
    summarize_run,
)

BOOK = json.loads((Path(__file__).resolve().parents[2] / "runledger" / "prices.json").read_text())
UNIT = {name: entry["usd"] for name, entry in BOOK["prices"].items()}
LAMBDA_SECONDS = BOOK["assumptions"]["lambda_billed_seconds_per_invocation"]["value"]
SPOT_DISCOUNT = BOOK["assumptions"]["fargate_spot_discount"]["value"]

REQUEST = {
    "run_id": "r1",
    "workflow": "kmer-count",
    "cost_center": "lab",
    "input": {"uri": "s3://b/s.fq", "k": 21},
    "variants": [
        {"name": "a", "vcpus": 1, "memory_mib": 2048, "capacity": "ON_DEMAND"},
        {"name": "b", "vcpus": 2, "memory_mib": 4096, "capacity": "ON_DEMAND"},
        {"name": "c", "vcpus": 2, "memory_mib": 4096, "capacity": "SPOT"},
    ],
}


def succeeded(name: str, duration: float, usd: float) -> dict[str, Any]:
    return {
        "name": name,
        "status": "SUCCEEDED",
        "capacity": "ON_DEMAND",
        "vcpus": 1,
        "memory_mib": 2048,
        "job_id": f"job-{name}",
        "attempts": 1,
        "duration_seconds": duration,
        "metrics": {"reads": 1},
        "cost": {
            "batch_usd": usd,
            "attempts_billed": 1,
            "billed_seconds": max(60, math.ceil(duration)),
            "vcpu_seconds": duration,
            "gib_seconds": 2 * duration,
        },
    }


def failed(name: str, error: str = "States.TaskFailed", cause: str = "boom") -> dict[str, Any]:
    return {"name": name, "status": "FAILED", "error": error, "cause": cause}


def batch_failure(*attempts: tuple[int, int], style: str = "Pascal") -> str:
    """The cause Step Functions gives a failed batch:submitJob.sync: the job's description."""
    start, stop, key = ("StartedAt", "StoppedAt", "Attempts")
    if style == "camel":
        start, stop, key = ("startedAt", "stoppedAt", "attempts")
    return json.dumps(
        {
            "JobName": "r1-c",
            "Status": "FAILED",
            key: [
                {start: a, stop: b, "StatusReason": "Essential container in task exited"}
                for a, b in attempts
            ],
        }
    )


def fargate_usd(vcpus: float, memory_mib: int, seconds: float, spot: bool = False) -> float:
    """One Fargate task priced by hand from prices.json."""
    billed = max(60, math.ceil(seconds))
    usd = (
        vcpus * billed * UNIT["fargate_linux_x86_64_vcpu_hour"]
        + memory_mib / 1024 * billed * UNIT["fargate_linux_x86_64_gb_hour"]
    ) / 3600
    return usd * (1 - SPOT_DISCOUNT) if spot else usd


def event(variants: list[dict[str, Any]], **extra: Any) -> SummarizeRunEvent:
    return SummarizeRunEvent.model_validate(
        {"run_id": "r1", "request": REQUEST, "variants": variants} | extra
    )


def test_summary_names_fastest_cheapest_and_failures() -> None:
    result = summarize_run(
        event([succeeded("a", 190, 0.004), succeeded("b", 125, 0.005), failed("c")])
    )
    assert json_value(result)["summary"] == {
        "variants_total": 3,
        "variants_succeeded": 2,
        "variants_failed": 1,
        "failed_variants": ["c"],
        "fastest": {"name": "b", "duration_seconds": 125},
        "cheapest": {"name": "a", "batch_usd": 0.004},
    }
    assert result.status == "SUCCEEDED"


def test_ties_go_to_the_variant_listed_first() -> None:
    result = summarize_run(
        event([succeeded("c", 100, 0.001), succeeded("a", 100, 0.001), failed("b")])
    )
    assert (result.summary.fastest.name, result.summary.cheapest.name) == ("c", "c")


def test_run_cost_is_batch_plus_orchestration_priced_by_hand() -> None:
    result = summarize_run(
        event([succeeded("a", 190, 0.004), succeeded("b", 125, 0.005), failed("c")])
    )
    n = 3
    expected = {
        "batch": 0.004 + 0.005,
        "stepfunctions": (5 + 3 * n) * UNIT["stepfunctions_standard_state_transition"],
        "lambda": (2 + n)
        * (UNIT["lambda_request"] + 256 / 1024 * LAMBDA_SECONDS * UNIT["lambda_arm64_gb_second"]),
        "pipes": 1 * UNIT["pipes_request"],
        "dynamodb": (4 + n) * UNIT["dynamodb_on_demand_write_request_unit"],
    }
    cost = json_value(result)["cost"]
    assert cost["currency"] == "USD"
    assert cost["breakdown"] == pytest.approx(expected, rel=1e-12)
    assert cost["total_usd"] == pytest.approx(sum(expected.values()), rel=1e-12)
    assert cost["by_variant"] == {"a": 0.004, "b": 0.005}
    assert cost["unpriced_variants"] == ["c"]  # "boom" says nothing of c's job
    assert cost["price_region"] == "us-east-1"
    assert cost["prices_as_of"] == BOOK["as_of"]


def test_lambda_memory_and_counted_transitions_change_the_estimate() -> None:
    variants = [succeeded("a", 1, 0.0), succeeded("b", 1, 0.0), succeeded("c", 1, 0.0)]
    result = summarize_run(event(variants, transitions_estimate=50), lambda_memory_mb=1024)
    breakdown = result.cost.breakdown
    assert breakdown.stepfunctions == pytest.approx(
        50 * UNIT["stepfunctions_standard_state_transition"]
    )
    assert breakdown.lambda_ == pytest.approx(
        5 * (UNIT["lambda_request"] + 1.0 * LAMBDA_SECONDS * UNIT["lambda_arm64_gb_second"])
    )


def test_attributes_hold_summary_and_cost_as_dynamodb_maps() -> None:
    result = summarize_run(event([succeeded("a", 190, 0.004), failed("b"), failed("c")]))
    deserializer = TypeDeserializer()
    summary = deserializer.deserialize(result.attributes["summary"])
    cost = deserializer.deserialize(result.attributes["cost"])
    assert summary["failed_variants"] == ["b", "c"]
    assert summary["fastest"] == {"name": "a", "duration_seconds": 190}
    assert float(cost["total_usd"]) == pytest.approx(result.cost.total_usd, rel=1e-15)
    assert set(cost["breakdown"]) == {"batch", "stepfunctions", "lambda", "pipes", "dynamodb"}


def test_all_variants_failed_is_a_failed_run_priced_like_any_other() -> None:
    timed_out = batch_failure((1_000, 61_000), (70_000, 100_000))
    variants = [
        failed("a"),
        failed("b", "MetricsNotFoundError"),
        failed("c", "States.TaskFailed", timed_out),
    ]
    result = summarize_run(event(variants))
    dumped = json_value(result)
    assert (dumped["status"], dumped["error"]) == ("FAILED", "AllVariantsFailedError")
    assert dumped["cause"] == (
        "all 3 variants failed: a (States.TaskFailed), b (MetricsNotFoundError), "
        "c (States.TaskFailed)"
    )
    assert dumped["summary"]["fastest"] is None
    assert dumped["summary"]["cheapest"] is None
    assert dumped["summary"]["variants_failed"] == 3
    n = 3
    c_usd = fargate_usd(2, 4096, 60, spot=True) + fargate_usd(2, 4096, 30, spot=True)
    expected = {
        "batch": c_usd,
        "stepfunctions": (6 + 3 * n) * UNIT["stepfunctions_standard_state_transition"],
        "lambda": (2 + n)
        * (UNIT["lambda_request"] + 256 / 1024 * LAMBDA_SECONDS * UNIT["lambda_arm64_gb_second"]),
        "pipes": 1 * UNIT["pipes_request"],
        "dynamodb": (4 + n) * UNIT["dynamodb_on_demand_write_request_unit"],
    }
    assert dumped["cost"]["breakdown"] == pytest.approx(expected, rel=1e-12)
    assert dumped["cost"]["by_variant"] == pytest.approx({"c": c_usd}, rel=1e-12)
    assert dumped["cost"]["unpriced_variants"] == ["a", "b"]
    assert set(dumped["attributes"]) == {"summary", "cost"}


def test_a_succeeded_result_has_no_error_or_cause_keys() -> None:
    dumped = json_value(summarize_run(event([succeeded("a", 1, 0.1), failed("b"), failed("c")])))
    assert "error" not in dumped
    assert "cause" not in dumped


def test_outcomes_that_do_not_match_the_request_are_a_wiring_error() -> None:
    with pytest.raises(VariantMismatchError, match="outcomes are for"):
        summarize_run(event([succeeded("a", 1, 0.1), succeeded("b", 1, 0.1)]))


def test_outcome_with_another_status_is_refused() -> None:
    with pytest.raises(ValidationError):
        event([succeeded("a", 1, 0.1), failed("b"), {"name": "c", "status": "RUNNING"}])


def test_results_that_still_carry_attributes_are_accepted() -> None:
    with_attributes = succeeded("a", 1, 0.1) | {"attributes": {"status": {"S": "SUCCEEDED"}}}
    result = summarize_run(event([with_attributes, failed("b"), failed("c")]))
    assert result.summary.variants_succeeded == 1


def test_usage_records_what_was_priced_and_how_it_is_known() -> None:
    result = summarize_run(
        event([succeeded("a", 190, 0.004), succeeded("b", 125, 0.005), failed("c")])
    )
    usage = json_value(result)["cost"]["usage"]
    assert usage["batch"] == {
        "basis": "measured",
        "jobs": 2,
        "attempts": 2,
        "billed_seconds": 190 + 125,
        "vcpu_seconds": 190 + 125,
        "gib_seconds": 2 * (190 + 125),
    }
    assert usage["lambda"] == {
        "basis": "modelled",
        "invocations": 5,
        "memory_mb": 256,
        "seconds_per_invocation": LAMBDA_SECONDS,
        "gb_seconds": pytest.approx(5 * 0.25 * LAMBDA_SECONDS),
        "arch": "arm64",
    }
    assert usage["stepfunctions"] == {"basis": "modelled", "transitions": 14}
    assert usage["pipes"] == {"basis": "modelled", "requests": 1}
    assert usage["dynamodb"] == {"basis": "modelled", "write_request_units": 7}
    counted = summarize_run(
        event([succeeded("a", 1, 0), succeeded("b", 1, 0), failed("c")], transitions_estimate=23)
    )
    assert json_value(counted.cost.usage.stepfunctions) == {"basis": "counted", "transitions": 23}


@pytest.mark.parametrize("style", ["Pascal", "camel"])
def test_a_failed_batch_job_is_priced_from_the_attempts_in_its_cause(style: str) -> None:
    # c is 2 vCPU / 4096 MiB on SPOT: a reclaimed attempt of 30.5 s (billed 60) and one of
    # 90 s, both billed.
    cause = batch_failure((1_000, 31_500), (40_000, 130_000), style=style)
    result = summarize_run(
        event([succeeded("a", 190, 0.004), succeeded("b", 125, 0.005), failed("c", cause=cause)])
    )
    expected_c = fargate_usd(2, 4096, 30.5, spot=True) + fargate_usd(2, 4096, 90, spot=True)
    assert result.cost.by_variant["c"] == pytest.approx(expected_c, rel=1e-12)
    assert result.cost.unpriced_variants == []
    assert result.cost.breakdown.batch == pytest.approx(0.009 + expected_c, rel=1e-12)
    batch = result.cost.usage.batch
    assert (batch.jobs, batch.attempts, batch.billed_seconds) == (3, 4, 190 + 125 + 60 + 90)
    # The cheapest is still chosen among succeeded variants only.
    assert result.summary.cheapest.name == "a"


def not_floats(value: Any, path: str = "result") -> list[str]:
    """Where a field declared ``float`` (bare, optional or a dict's values) holds another type."""
    if not dataclasses.is_dataclass(value):
        return []
    found: list[str] = []
    hints = typing.get_type_hints(type(value))
    for spec in dataclasses.fields(value):
        item, hint, where = getattr(value, spec.name), hints[spec.name], f"{path}.{spec.name}"
        if hint in (float, float | None) and item is not None and type(item) is not float:
            found.append(f"{where} = {item!r}")
        elif hint == dict[str, float]:
            found += [f"{where}[{k!r}] = {v!r}" for k, v in item.items() if type(v) is not float]
        elif isinstance(item, dict):
            found += [p for k, v in item.items() for p in not_floats(v, f"{where}[{k!r}]")]
        else:
            found += not_floats(item, where)
    return found


@pytest.mark.parametrize(
    "outcomes",
    [
        [succeeded("a", 1, 0.001), succeeded("b", 2, 0.002), succeeded("c", 3, 0.003)],
        # c's one attempt never started: priced at 0 USD from no attempts
        [
            succeeded("a", 1, 0.001),
            succeeded("b", 1, 0.001),
            failed("c", cause=json.dumps({"Attempts": [{"StatusReason": "never started"}]})),
        ],
        # nothing succeeded and nothing could be priced: Batch sums no job at all
        [failed("a"), failed("b"), failed("c")],
    ],
    ids=["all succeeded", "a job that never started", "all failed unpriced"],
)
def test_a_float_field_holds_a_float_even_when_its_sum_is_whole(outcomes: list[Any]) -> None:
    # As pydantic models these results coerced 0 to 0.0; as dataclasses they keep what they
    # are given, and a float's JSON and DynamoDB number ("0.0") must stay as it was.
    assert not_floats(summarize_run(event(outcomes))) == []


def test_a_batch_attempt_that_never_started_costs_nothing() -> None:
    cause = json.dumps({"Status": "FAILED", "Attempts": [{"StatusReason": "never started"}]})
    result = summarize_run(
        event([succeeded("a", 1, 0.001), succeeded("b", 1, 0.001), failed("c", cause=cause)])
    )
    assert result.cost.by_variant["c"] == 0
    assert result.cost.usage.batch.attempts == 2


@pytest.mark.parametrize(
    "cause",
    [
        None,
        "",
        '{"errorMessage": "no metrics", "errorType": "MetricsNotFoundError"}',
        '"a string"',
        '{"Attempts": "not a list"}',
        '{"Attempts": [1, 2]}',
        batch_failure((1_000, 31_500))[:40],  # cut at the 4000 characters the ASL keeps
    ],
)
def test_failed_variants_without_job_times_are_listed_unpriced(cause: str | None) -> None:
    result = summarize_run(
        event(
            [
                succeeded("a", 1, 0.001),
                succeeded("b", 1, 0.001),
                {"name": "c", "status": "FAILED", "error": "X", "cause": cause},
            ]
        )
    )
    assert result.cost.unpriced_variants == ["c"]
    assert set(result.cost.by_variant) == {"a", "b"}


@pytest.mark.parametrize(
    ("platform", "price"),
    [
        (
            {"architecture": "arm64"},
            lambda s: pricing.fargate_cost(2, 4096, s, "ON_DEMAND", "arm64").usd,
        ),
        (
            {"compute": "ec2-m7g.xlarge", "architecture": "arm64"},
            lambda s: pricing.ec2_cost(2, 4096, s, "ON_DEMAND", "m7g.xlarge").usd,
        ),
    ],
)
def test_a_failed_job_is_priced_on_its_own_platform(platform: dict[str, Any], price: Any) -> None:
    """A failed arm64 or EC2 job is priced as CollectMetrics prices a succeeded one: on
    its architecture and instance, not as Fargate x86_64."""
    variants = [{"name": "c", "vcpus": 2, "memory_mib": 4096, "capacity": "ON_DEMAND"} | platform]
    cause = batch_failure((1_000, 91_000))
    result = summarize_run(
        SummarizeRunEvent.model_validate(
            {
                "run_id": "r1",
                "request": REQUEST | {"variants": variants},
                "variants": [failed("c", cause=cause)],
            }
        )
    )
    assert result.cost.by_variant["c"] == pytest.approx(price(90), rel=1e-12)
    assert result.cost.by_variant["c"] != pytest.approx(fargate_usd(2, 4096, 90), rel=1e-6)


def test_the_maps_reports_are_read_as_reports_and_their_items_give_the_outcomes() -> None:
    """The Distributed Map hands SummarizeRun each child's {name, status[, error]} as
    ``jobs``; each outcome is then the item its execution wrote. A FAILED report is not an
    outcome: read as one, its job's attempts (in the item's cause) went unpriced."""
    reports = [
        {"name": "a", "status": "SUCCEEDED"},
        {"name": "b", "status": "FAILED", "error": "States.TaskFailed"},
        {"name": "c", "status": "FAILED", "error": "States.TaskFailed", "cause": "cut"},
    ]
    parsed = event([], jobs=reports, pk="RUN#r1", execution="arn:e1")
    assert [type(job).__name__ for job in parsed.jobs or []] == ["JobReported"] * 3
    with pytest.raises(VariantMismatchError, match="read them first"):
        summarize_run(parsed)
    cause = batch_failure((0, 90_000))
    items = [
        succeeded("a", 100, 0.001) | {"execution": "arn:e1"},
        failed("b", cause=cause) | {"execution": "arn:e1"},
        failed("c", cause=cause) | {"execution": "arn:e0"},  # an older claim's item
    ]
    outcomes = recorded_outcomes(parsed.jobs or [], items, "arn:e1")
    assert [(o.name, o.status, o.cause if o.status == "FAILED" else None) for o in outcomes] == [
        ("a", "SUCCEEDED", None),
        ("b", "FAILED", cause),  # from its item: priced
        ("c", "FAILED", "cut"),  # no item of this execution: what the Map said
    ]
    result = summarize_run(parsed.model_copy(update={"variants": outcomes, "jobs": None}))
    assert result.cost.unpriced_variants == ["c"]
    assert result.cost.by_variant["b"] == pytest.approx(fargate_usd(2, 4096, 90))


def test_a_job_reported_succeeded_without_its_item_is_a_wiring_error() -> None:
    with pytest.raises(VariantMismatchError, match="job a succeeded but its item"):
        recorded_outcomes(
            event([], jobs=[{"name": "a", "status": "SUCCEEDED"}]).jobs or [], [], "arn:e1"
        )


def test_a_job_whose_item_a_later_claim_wrote_over_makes_the_execution_stale() -> None:
    reports = event([], jobs=[{"name": "a", "status": "SUCCEEDED"}]).jobs or []
    later = succeeded("a", 100, 0.001) | {"execution": "arn:e2"}
    with pytest.raises(RunClaimedAgain, match="job a succeeded, but its item is now that of"):
        recorded_outcomes(reports, [later], "arn:e1")
