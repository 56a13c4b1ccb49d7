"""runledger_cli.costs: groups of runs, and Cost Explorer through botocore's Stubber.

The Cost Explorer answers below have the shape GetCostAndUsage returns (tag group keys as
``"<tag>$<value>"``, amounts as strings, ``Estimated`` on recent days); the Stubber checks
every request against the service model, so a malformed request fails here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from runledger.models import PK_PREFIX, REQUEST_SK
from runledger_cli import costs
from runledger_cli.costs import Actual, CostError
from runledger_cli.ledger import RunRecord

TODAY = dt.date(2026, 11, 25)


@pytest.fixture
def ce() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ce", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def day_result(
    start: str, groups: list[tuple[list[str], str]], *, estimated: bool = False
) -> dict[str, Any]:
    """One ResultsByTime entry of a DAILY answer."""
    end = (dt.date.fromisoformat(start) + dt.timedelta(days=1)).isoformat()
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Total": {},
        "Groups": [
            {"Keys": keys, "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
            for keys, amount in groups
        ],
        "Estimated": estimated,
    }


def run(run_id: str, **fields: Any) -> RunRecord:
    values: dict[str, Any] = {
        "status": "SUCCEEDED",
        "workflow": "kmer-count",
        "cost_center": "genomics-lab",
        "started_at": "2026-11-23T10:00:00.000Z",
        "finished_at": "2026-11-23T10:05:00.000Z",
        "cost": {"total_usd": 0.002, "breakdown": {"batch": 0.0015}},
    }
    return RunRecord.from_item({"pk": PK_PREFIX + run_id, "sk": REQUEST_SK} | values | fields)


# --------------------------------------------------------------------------- Cost Explorer


def test_all_pages_are_read_and_summed_per_run(ce: tuple[Any, Stubber]) -> None:
    client, stubber = ce
    base = {
        "TimePeriod": {"Start": "2026-11-23", "End": "2026-11-25"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "TAG", "Key": "run-id"}],
    }
    definitions = [{"Type": "TAG", "Key": "run-id"}]
    stubber.add_response(
        "get_cost_and_usage",
        {
            "GroupDefinitions": definitions,
            "ResultsByTime": [
                day_result("2026-11-23", [(["run-id$"], "41.2"), (["run-id$r1"], "0.0012")])
            ],
            "NextPageToken": "page-2",
            "DimensionValueAttributes": [],
        },
        base,
    )
    stubber.add_response(
        "get_cost_and_usage",
        {
            "GroupDefinitions": definitions,
            "ResultsByTime": [
                day_result(
                    "2026-11-24",
                    [(["run-id$r1"], "0.0003"), (["run-id$other-stack-run"], "0.5")],
                    estimated=True,
                )
            ],
            "DimensionValueAttributes": [],
        },
        base | {"NextPageToken": "page-2"},
    )
    runs = [run("r1", finished_at="2026-11-24T00:10:00Z"), run("r2")]
    actual = costs.runs_actual(client, runs, TODAY)
    assert actual is not None
    assert actual.requests == 2
    assert actual.estimated is True
    assert actual.amounts == {
        ("",): pytest.approx(41.2),
        ("r1",): pytest.approx(0.0015),
        ("other-stack-run",): pytest.approx(0.5),
    }
    found, others = costs.actual_by_run(actual, runs)
    assert found == {"r1": pytest.approx(0.0015)}  # untagged cost ("run-id$") left out
    assert others == ["other-stack-run"]


def test_an_empty_answer_is_no_data_with_the_caveats(ce: tuple[Any, Stubber]) -> None:
    client, stubber = ce
    stubber.add_response(
        "get_cost_and_usage",
        {
            "GroupDefinitions": [{"Type": "TAG", "Key": "run-id"}],
            "ResultsByTime": [day_result("2026-11-23", [])],
            "DimensionValueAttributes": [],
        },
    )
    actual = costs.runs_actual(client, [run("r1")], TODAY)
    assert actual is not None
    assert (actual.amounts, actual.requests) == ({}, 1)
    found, _ = costs.actual_by_run(actual, [run("r1")])
    notes = costs.caveats(actual, found=bool(found), what="run-id=r1")
    assert notes[0] == (
        "Cost Explorer has no cost tagged run-id=r1 for 2026-11-23 .. 2026-11-24 (exclusive)."
    )
    text = " ".join(notes)
    for must in ("cost allocation tags", "24 hours", "Split Cost Allocation Data", "PropagateTags"):
        assert must in text


def test_data_unavailable_is_an_answer_not_an_error(ce: tuple[Any, Stubber]) -> None:
    client, stubber = ce
    stubber.add_client_error(
        "get_cost_and_usage",
        service_error_code="DataUnavailableException",
        service_message="Data is not available.",
    )
    actual = costs.runs_actual(client, [run("r1")], TODAY)
    assert actual is not None
    assert actual.unavailable
    assert "DataUnavailableException" in costs.caveats(actual, found=False, what="x")[0]


def test_other_cost_explorer_errors_say_what_went_wrong(ce: tuple[Any, Stubber]) -> None:
    client, stubber = ce
    stubber.add_client_error(
        "get_cost_and_usage",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: ce:GetCostAndUsage",
        http_status_code=400,
    )
    with pytest.raises(CostError, match=r"Cost Explorer: AccessDeniedException: .*ce:GetCost"):
        costs.runs_actual(client, [run("r1")], TODAY)


def test_one_run_is_filtered_by_its_tag_and_split_by_service_and_variant(
    ce: tuple[Any, Stubber],
) -> None:
    client, stubber = ce
    stubber.add_response(
        "get_cost_and_usage",
        {
            "GroupDefinitions": [
                {"Type": "DIMENSION", "Key": "SERVICE"},
                {"Type": "TAG", "Key": "variant"},
            ],
            "ResultsByTime": [
                day_result(
                    "2026-11-23",
                    [
                        (["Amazon Elastic Container Service", "variant$od-1vcpu"], "0.0009"),
                        (["Amazon Elastic Container Service", "variant$spot-1vcpu"], "0.0003"),
                        (["AmazonCloudWatch", "variant$od-1vcpu"], "0.0001"),
                    ],
                )
            ],
            "DimensionValueAttributes": [],
        },
        {
            "TimePeriod": {"Start": "2026-11-23", "End": "2026-11-24"},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": "variant"}],
            "Filter": {"Tags": {"Key": "run-id", "Values": ["r1"], "MatchOptions": ["EQUALS"]}},
        },
    )
    actual = costs.run_actual(client, run("r1"), TODAY)
    assert actual is not None
    by_service, by_variant = costs.split_run_actual(actual)
    assert by_service == {
        "batch": pytest.approx(0.0012),
        "other:AmazonCloudWatch": pytest.approx(0.0001),
    }
    assert by_variant == {"od-1vcpu": pytest.approx(0.001), "spot-1vcpu": pytest.approx(0.0003)}


@pytest.mark.parametrize(
    ("workflow", "cost_center", "expected"),
    [
        ("kmer-count", None, {"Tags": {"Key": "workflow", "Values": ["kmer-count"],
                                       "MatchOptions": ["EQUALS"]}}),
        ("kmer-count", "lab", {"And": [
            {"Tags": {"Key": "workflow", "Values": ["kmer-count"], "MatchOptions": ["EQUALS"]}},
            {"Tags": {"Key": "cost-center", "Values": ["lab"], "MatchOptions": ["EQUALS"]}},
        ]}),
    ],
)  # fmt: skip
def test_workflow_and_cost_center_filter_the_query_by_their_tags(
    ce: tuple[Any, Stubber], workflow: str, cost_center: str | None, expected: dict[str, Any]
) -> None:
    client, stubber = ce
    stubber.add_response(
        "get_cost_and_usage",
        {"ResultsByTime": [], "DimensionValueAttributes": []},
        {
            "TimePeriod": {"Start": "2026-11-23", "End": "2026-11-24"},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "TAG", "Key": "run-id"}],
            "Filter": expected,
        },
    )
    costs.runs_actual(client, [run("r1")], TODAY, workflow=workflow, cost_center=cost_center)


def test_no_query_for_runs_older_than_cost_explorer_keeps(ce: tuple[Any, Stubber]) -> None:
    client, _ = ce  # no response queued: any request would fail the test
    old = run("r0", started_at="2024-01-02T00:00:00Z", finished_at="2024-01-02T01:00:00Z")
    assert costs.runs_actual(client, [old], TODAY) is None
    assert costs.runs_actual(client, [], TODAY) is None
    assert "13 months" in costs.caveats(None, found=False, what="r0")[0]


def test_period_is_clamped_to_what_cost_explorer_keeps() -> None:
    days = [dt.date(2025, 1, 5), dt.date(2026, 12, 31)]
    # Nov 2026 and the 12 months before: from 2025-11-01; the end stops after today.
    assert costs.ce_period(days, TODAY) == (dt.date(2025, 11, 1), dt.date(2026, 11, 26))
    assert costs.ce_period([dt.date(2026, 11, 2)], TODAY) == (
        dt.date(2026, 11, 2),
        dt.date(2026, 11, 3),
    )
    assert costs.ce_period([], TODAY) is None


def test_caveats_when_cost_was_found_keep_only_what_applies() -> None:
    actual = Actual(start=dt.date(2026, 11, 23), end=dt.date(2026, 11, 24), requests=3)
    actual.amounts = {("r1",): 0.1}
    actual.estimated = True
    notes = costs.caveats(actual, found=True, what="run-id=r1")
    assert notes[0].startswith("AWS marks some of these days as estimated")
    assert not any("cost allocation tags" in note for note in notes)
    assert notes[-1].startswith("3 Cost Explorer request(s) at USD 0.01 each")


# --------------------------------------------------------------------------- groups


def test_runs_are_grouped_with_their_estimates_and_actuals() -> None:
    runs = [
        run("r1"),
        run("r2", cost_center="other", started_at="2026-11-24T08:00:00Z"),
        run("r3", status="FAILED", cost=None),
        run("r4", workflow=None, status="INVALID", cost=None),
    ]
    by_workflow = costs.group_runs(runs, "workflow", {"r1": 0.001, "r3": 0.0005})
    assert [(g.key, g.runs, g.unpriced_runs) for g in by_workflow] == [
        ("-", 1, 1),
        ("kmer-count", 3, 1),
    ]
    kmer = by_workflow[1]
    assert kmer.estimate_usd == pytest.approx(0.004)
    assert kmer.batch_estimate_usd == pytest.approx(0.003)
    assert kmer.actual_usd == pytest.approx(0.0015)
    assert dict(kmer.statuses) == {"SUCCEEDED": 2, "FAILED": 1}
    by_day = costs.group_runs(runs, "day")
    assert [(g.key, g.runs) for g in by_day] == [("2026-11-23", 3), ("2026-11-24", 1)]
    assert by_day[0].actual_usd is None
    by_center = costs.group_runs(runs, "cost-center")
    assert [g.key for g in by_center] == ["genomics-lab", "other"]
    assert [g.key for g in costs.group_runs(runs, "run")] == ["r1", "r3", "r4", "r2"]


def test_runs_are_selected_by_workflow_cost_center_and_days() -> None:
    runs = [
        run("r1"),
        run("r2", cost_center="other", started_at="2026-11-24T08:00:00Z"),
        run("r3", started_at=None, finished_at=None),
    ]
    assert [r.run_id for r in costs.select_runs(runs, cost_center="other")] == ["r2"]
    assert [r.run_id for r in costs.select_runs(runs, workflow="kmer-count")] == ["r1", "r2", "r3"]
    since = costs.select_runs(runs, since=dt.date(2026, 11, 24))
    assert [r.run_id for r in since] == ["r2"]
    assert [r.run_id for r in costs.select_runs(runs, until=dt.date(2026, 11, 23))] == ["r1"]


def test_the_command_reports_aws_trouble_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from runledger_cli.cli import main

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    # A closed port on loopback: nothing answers.
    code = main(["cost", "--table", "runs", "--endpoint-url", "http://127.0.0.1:9"])
    assert code == 1
    assert capsys.readouterr().err.startswith(
        'runledger cost: Could not connect to the endpoint URL: "http://127.0.0.1:9/"'
    )
