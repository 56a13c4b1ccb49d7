"""Cost end to end: runs through the offline local cloud end with a cost breakdown that this
file recomputes by hand from the usage recorded on the items and runledger/prices.json, and
``runledger cost`` reads those runs (table, CSV, JSON, groups, actual cost)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from runledger.pricing import format_usd
from runledger.usage import child_executions, execution_history
from runledger_cli.cli import main
from runledger_cli.commands import cost as cost_command
from runledger_cli.ledger import RunRecord
from runledger_cli.sam_template import REPO_ROOT, load_both
from runledger_local.cloud import LocalPipeline

BOOK = json.loads((REPO_ROOT / "runledger" / "prices.json").read_text())
#: Lambda memory of every function: the template's Globals (no function overrides it).
LAMBDA_MEMORY_MB = load_both()[0]["Globals"]["Function"]["MemorySize"]

RETRIED, PLAIN, INVALID = "cost-retried", "cost-plain", "cost-invalid"


def price(name: str) -> float:
    return float(BOOK["prices"][name]["usd"])


def task_usd(
    vcpus: float,
    memory_mib: int,
    seconds: float,
    capacity: str,
    architecture: str = "x86_64",
    compute: str = "fargate",
) -> float:
    """One attempt, by hand. Fargate: per-second billing, one-minute minimum, the
    architecture's prices, Spot discount. EC2 (Seqera's rule): the instance's hourly price
    for the seconds it ran times the job's larger share of its vCPUs or memory."""
    if compute != "fargate":
        instance = BOOK["instances"][compute.removeprefix("ec2-")]
        share = max(vcpus / instance["vcpus"], memory_mib / instance["memory_mib"])
        usd = price(instance["price"]) * seconds / 3600 * share
        if capacity == "SPOT":
            usd *= 1 - BOOK["assumptions"]["ec2_spot_discount"]["value"]
        return usd
    billed = max(BOOK["rules"]["fargate_minimum_billed_seconds"]["value"], math.ceil(seconds))
    usd = (
        vcpus * billed * price(f"fargate_linux_{architecture}_vcpu_hour")
        + memory_mib / 1024 * billed * price(f"fargate_linux_{architecture}_gb_hour")
    ) / 3600
    if capacity == "SPOT":
        usd *= 1 - BOOK["assumptions"]["fargate_spot_discount"]["value"]
    return usd


@pytest.fixture(scope="module")
def runs(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> dict[str, RunRecord]:
    """Three runs at once: one whose od-1vcpu job is retried once (exit 75, transient) and
    whose spot-1vcpu job fails for good (exit 2), one where all goes well, one INVALID.
    The first SummarizeRun call is throttled (a retry that is a transition, not a call)."""
    pipeline.cloud.inject_job_exit({"run-id": RETRIED, "variant": "od-1vcpu"}, [75])
    pipeline.cloud.inject_job_exit({"run-id": RETRIED, "variant": "spot-1vcpu"}, [2])
    pipeline.cloud.inject_lambda_error(pipeline.scope.refs["SummarizeRunFunction"], times=1)
    pks = [
        pipeline.put_request(sample_request("kmer-platforms-valid-local.json", RETRIED)),
        pipeline.put_request(sample_request("kmer-platforms-valid-local.json", PLAIN)),
        pipeline.put_request(sample_request("kmer-invalid-duplicate-names.json", INVALID)),
    ]
    done = pipeline.wait_for(pks, timeout=120)
    # Numbers come as int/float (runledger_cli.ledger), to compute with prices.json's floats.
    return {r.run_id: r for r in done.values()}


def hand_priced_variants(result: RunRecord) -> dict[str, float]:
    """Batch USD per variant from its item: every attempt's start/stop and the size asked.

    A FAILED item holds no cost: its attempts are read from the Batch job description that
    Step Functions gave as the failure's cause.
    """
    sizes = {v["name"]: v for v in result.request["variants"]}
    priced = {}
    for name, item in result.variants.items():
        size = sizes[name]
        if item["status"] == "SUCCEEDED":
            attempts = [(a["started_at"], a["stopped_at"]) for a in item["attempt_times"]]
        else:
            job = json.loads(item["cause"])
            attempts = [(a["StartedAt"], a["StoppedAt"]) for a in job["Attempts"]]
        priced[name] = sum(
            task_usd(
                float(size["vcpus"]),
                int(size["memory_mib"]),
                float(stop - start) / 1000,
                size["capacity"],
                size.get("architecture", "x86_64"),
                size.get("compute", "fargate"),
            )
            for start, stop in attempts
        )
    return priced


def test_the_breakdown_is_recomputed_by_hand_from_the_recorded_usage_and_prices(
    runs: dict[str, RunRecord],
) -> None:
    for run_id in (RETRIED, PLAIN):
        result = runs[run_id]
        assert result.status == "SUCCEEDED"
        cost = result.request["cost"]
        usage, breakdown = cost["usage"], cost["breakdown"]
        by_hand = hand_priced_variants(result)
        assert {k: float(v) for k, v in cost["by_variant"].items()} == pytest.approx(
            by_hand, rel=1e-12
        )
        for name, item in result.variants.items():
            if item["status"] == "SUCCEEDED":
                assert float(item["cost"]["batch_usd"]) == pytest.approx(by_hand[name], rel=1e-12)
        expected = {
            "batch": sum(by_hand.values()),
            "stepfunctions": usage["stepfunctions"]["transitions"]
            * price("stepfunctions_standard_state_transition"),
            "lambda": usage["lambda"]["invocations"] * price("lambda_request")
            + usage["lambda"]["invocations"]
            * LAMBDA_MEMORY_MB
            / 1024
            * usage["lambda"]["seconds_per_invocation"]
            * price("lambda_arm64_gb_second"),
            "pipes": usage["pipes"]["requests"] * price("pipes_request"),
            "dynamodb": usage["dynamodb"]["write_request_units"]
            * price("dynamodb_on_demand_write_request_unit"),
        }
        assert {k: float(v) for k, v in breakdown.items()} == pytest.approx(expected, rel=1e-12)
        assert float(cost["total_usd"]) == pytest.approx(sum(expected.values()), rel=1e-12)
        assert usage["lambda"]["memory_mb"] == LAMBDA_MEMORY_MB
        assert usage["lambda"]["arch"] == "arm64"
        assert cost["prices_as_of"] == BOOK["as_of"]
        assert cost["unpriced_variants"] == []


def test_an_arm64_fargate_job_and_an_ec2_graviton_job_run_offline_and_are_priced_as_such(
    runs: dict[str, RunRecord],
) -> None:
    variants = runs[PLAIN].variants
    x86, arm = variants["od-1vcpu"], variants["od-1vcpu-arm64"]
    ec2 = variants["ec2-m7g-2vcpu"]
    assert {x86["status"], arm["status"], ec2["status"]} == {"SUCCEEDED"}
    assert (arm["architecture"], arm["compute"]) == ("arm64", "fargate")
    assert (ec2["architecture"], ec2["compute"]) == ("arm64", "ec2-m7g.xlarge")
    # The same size for the same one-minute minimum: Graviton's prices are lower.
    assert arm["cost"]["billed_seconds"] == x86["cost"]["billed_seconds"] == 60
    assert 0 < float(arm["cost"]["batch_usd"]) < float(x86["cost"]["batch_usd"])
    assert float(ec2["cost"]["batch_usd"]) > 0

    # The same program's answer on every platform.
    def answer(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item["metrics"].items() if k not in {"variant", "elapsed_seconds"}}

    assert answer(ec2) == answer(arm) == answer(x86)


def test_a_retried_job_is_billed_for_both_attempts_and_a_failed_one_for_its_own(
    runs: dict[str, RunRecord],
) -> None:
    variants = runs[RETRIED].variants
    retried = variants["od-1vcpu"]
    assert retried["status"] == "SUCCEEDED"
    assert retried["attempts"] == 2
    assert len(retried["attempt_times"]) == 2  # from the .sync result's Attempts
    assert retried["cost"]["attempts_billed"] == 2
    assert retried["cost"]["billed_seconds"] == 120  # two tasks, each the 60 s minimum
    assert variants["spot-1vcpu"]["status"] == "FAILED"
    cost = runs[RETRIED].request["cost"]
    assert float(cost["by_variant"]["spot-1vcpu"]) > 0
    usage = cost["usage"]["batch"]
    # Five jobs, one retried; the four Fargate ones' five tasks are billed a minute each,
    # the EC2 one its seconds (no minimum: the instance is billed, not the job).
    ec2 = variants["ec2-m7g-2vcpu"]
    assert ec2["compute"] == "ec2-m7g.xlarge"
    assert ec2["architecture"] == "arm64"
    assert (usage["jobs"], usage["attempts"]) == (5, 6)
    assert usage["billed_seconds"] - ec2["cost"]["billed_seconds"] == 300
    assert runs[RETRIED].request["summary"]["cheapest"]["name"] != "spot-1vcpu"


def execution_events(pipeline: LocalPipeline, result: RunRecord) -> list[dict[str, Any]]:
    """The run's execution history, then each job's child execution's (the Distributed Map
    starts one per job), each event tagged with its execution (``ids`` stay per history)."""
    sfn = pipeline.client("stepfunctions")
    arns = [result.request["execution"]]
    arns += [child["executionArn"] for child in child_executions(sfn, arns[0])]
    return [event | {"execution": arn} for arn in arns for event in execution_history(sfn, arn)]


def children_of(events: list[dict[str, Any]]) -> int:
    return len({e["execution"] for e in events}) - 1


def test_lambda_time_and_transitions_are_measured_from_the_execution_history(
    pipeline: LocalPipeline, runs: dict[str, RunRecord]
) -> None:
    throttled = 0
    for run_id, failed_variants in ((RETRIED, 1), (PLAIN, 0)):
        result = runs[run_id]
        events = execution_events(pipeline, result)
        by_id = {(e["execution"], e["id"]): e for e in events}
        refused = [
            e
            for e in events
            if e["type"] == "TaskFailed"
            and e["taskFailedEventDetails"]["error"] == "Lambda.TooManyRequestsException"
        ]
        throttled += len(refused)
        usage = result.request["cost"]["usage"]
        n = len(result.variants)
        # 5 + 3N (a job: its child's start, RunJob, then CollectMetrics or, failed,
        # RecordVariantFailure), plus one per throttled retry.
        assert children_of(events) == n
        assert usage["stepfunctions"] == {
            "basis": "counted",
            "transitions": 5 + 3 * n + len(refused),
        }
        assert usage["stepfunctions"]["transitions"] == len(
            [e for e in events if e["type"].endswith("StateEntered")]
        ) + n + len(refused)
        # Start + summarize, collect per variant (a failed job: no collect);
        # the throttled attempt never ran, so it is not an invocation.
        assert usage["lambda"]["basis"] == "measured"
        assert usage["lambda"]["invocations"] == 2 + n - failed_variants
        ends = [e for e in events if e["type"] in {"TaskSucceeded", "TaskFailed"}]
        spans = sorted(  # by end: SummarizeRun's own call ends last, after every child's
            (
                (start["timestamp"], end["timestamp"])
                for end in ends
                if (start := by_id[(end["execution"], end["previousEventId"])])["type"]
                == "TaskStarted"
                and start["taskStartedEventDetails"]["resourceType"] == "lambda"
                and end not in refused
            ),
            key=lambda span: span[1],
        )
        seconds = [(stop - start).total_seconds() for start, stop in spans]
        measured = usage["lambda"]["invocations"] * usage["lambda"]["seconds_per_invocation"]
        # Every call but SummarizeRun's own ended before it priced the run; its own was
        # timed until then, so the total lies between the two sums (ms rounding aside).
        assert sum(seconds[:-1]) <= measured <= sum(seconds) + 0.001 * len(seconds)
        assert usage["lambda"]["gb_seconds"] == pytest.approx(
            measured * LAMBDA_MEMORY_MB / 1024, rel=1e-12
        )
    assert throttled == 1  # the injected throttle hit one of the two runs


def test_the_modelled_usage_matches_what_the_local_cloud_did(
    pipeline: LocalPipeline, runs: dict[str, RunRecord]
) -> None:
    result = runs[PLAIN]
    events = execution_events(pipeline, result)
    tasks = Counter(
        e["taskScheduledEventDetails"]["resourceType"]
        for e in events
        if e["type"] == "TaskScheduled"
    )
    collected = [
        e
        for e in events
        if e["type"] == "TaskStateExited"
        and e["stateExitedEventDetails"]["name"] == "CollectMetrics"
    ]
    assert len(collected) == len(result.variants)  # no job failed
    usage = result.request["cost"]["usage"]
    # The workflow's writes: its DynamoDB tasks, each CollectMetrics call's job item, StartRun's
    # claim and mark (from its Lambda function), and the request itself (written by the
    # user, paid the same).
    assert usage["dynamodb"]["write_request_units"] == tasks["dynamodb"] + len(collected) + 2 + 1
    assert usage["batch"]["jobs"] == tasks["batch"]
    assert usage["pipes"]["requests"] == 1


def cost_cli(
    pipeline: LocalPipeline, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    """``runledger cost ARGV`` on the local cloud's table: exit code and stdout."""
    capsys.readouterr()  # drop the handlers' log lines
    code = main(
        ["cost", *argv, "--table", pipeline.table_name, "--endpoint-url", pipeline.endpoint_url]
    )
    captured = capsys.readouterr()
    print(captured.err, file=sys.stderr)  # keep stderr for the test to read
    return code, captured.out


def test_cost_of_one_run_as_json_is_what_the_items_say(
    pipeline: LocalPipeline, runs: dict[str, RunRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cost_cli(pipeline, capsys, RETRIED, "--format", "json")
    assert code == 0
    report = json.loads(out)
    cost = runs[RETRIED].request["cost"]
    assert report["estimate_usd"] == pytest.approx(float(cost["total_usd"]), rel=1e-15)
    assert {s["service"]: s["estimate_usd"] for s in report["services"]} == pytest.approx(
        {k: float(v) for k, v in cost["breakdown"].items()}, rel=1e-15
    )
    variants = {v["variant"]: v for v in report["variants"]}
    assert {n: v["estimate_usd"] for n, v in variants.items()} == pytest.approx(
        {k: float(v) for k, v in cost["by_variant"].items()}, rel=1e-15
    )
    assert (variants["od-1vcpu"]["attempts"], variants["od-1vcpu"]["billed_seconds"]) == (2, 120)
    failed = variants["spot-1vcpu"]
    assert (failed["status"], failed["capacity"], failed["attempts"]) == ("FAILED", "SPOT", 1)
    assert report["actual_usd"] is None


def test_cost_of_one_run_as_a_table(
    pipeline: LocalPipeline, runs: dict[str, RunRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cost_cli(pipeline, capsys, PLAIN)
    assert code == 0
    cost = runs[PLAIN].request["cost"]
    lines = out.splitlines()
    assert lines[0].startswith(f"run {PLAIN}  SUCCEEDED  workflow kmer-count")
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[-1] == format_usd(float(cost["total_usd"]), 8)
    batch = next(line for line in lines if line.startswith("batch"))
    assert "measured" in batch
    assert batch.split()[-1] == format_usd(float(cost["breakdown"]["batch"]), 8)
    for name in runs[PLAIN].variants:
        assert any(line.startswith(name) for line in lines)


def test_all_runs_grouped_as_csv_add_up(
    pipeline: LocalPipeline, runs: dict[str, RunRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cost_cli(pipeline, capsys, "--group-by", "workflow", "--format", "csv")
    assert code == 0
    rows = {row["workflow"]: row for row in csv.DictReader(io.StringIO(out))}
    mine = list(runs.values())
    kmer = rows["kmer-count"]
    assert int(kmer["runs"]) >= len(mine)  # the table may hold other tests' runs too
    priced = [float(r.request["cost"]["total_usd"]) for r in mine if "cost" in r.request]
    assert float(kmer["estimate_usd"]) >= sum(priced) - 1e-15
    code, out = cost_cli(pipeline, capsys, "--format", "csv")
    by_run = {row["run"]: row for row in csv.DictReader(io.StringIO(out))}
    for result in mine:
        row = by_run[result.run_id]
        assert row["statuses"] == f"1 {result.status}"
        if "cost" in result.request:
            assert float(row["estimate_usd"]) == float(result.request["cost"]["total_usd"])
        else:
            assert (row["estimate_usd"], row["no_estimate"]) == ("", "1")


def test_actual_cost_from_an_empty_cost_explorer_comes_with_the_caveats(
    pipeline: LocalPipeline, runs: dict[str, RunRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    # The local cloud's Cost Explorer (moto) has no cost data: the empty answer.
    code, out = cost_cli(pipeline, capsys, PLAIN, "--actual")
    assert code == 0
    assert f"note: Cost Explorer has no cost tagged run-id={PLAIN}" in out
    assert "cost allocation tags" in out
    assert "Split Cost Allocation Data" in out


def test_actual_cost_is_shown_beside_the_estimate(
    pipeline: LocalPipeline,
    runs: dict[str, RunRecord],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ce = boto3.client("ce", region_name="us-east-1")
    day = dt.date.fromisoformat(str(runs[PLAIN].request["started_at"])[:10])
    period = {"Start": str(day), "End": str(day + dt.timedelta(days=1))}
    amount = {"UnblendedCost": {"Amount": "0.00123", "Unit": "USD"}}
    with Stubber(ce) as stubber:
        stubber.add_response(
            "get_cost_and_usage",
            {"ResultsByTime": [{"TimePeriod": period, "Total": {}, "Estimated": True, "Groups": [
                {"Keys": ["Amazon Elastic Container Service", "variant$od-1vcpu"],
                 "Metrics": amount},
            ]}], "DimensionValueAttributes": []},
        )  # fmt: skip
        monkeypatch.setattr(cost_command, "_cost_explorer", lambda args: ce)
        code, out = cost_cli(pipeline, capsys, PLAIN, "--actual", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["actual_usd"] == pytest.approx(0.00123)
    services = {s["service"]: s for s in report["services"]}
    assert services["batch"]["actual_usd"] == pytest.approx(0.00123)
    assert services["lambda"]["actual_usd"] is None  # shared by all runs: never per run
    variants = {v["variant"]: v for v in report["variants"]}
    assert variants["od-1vcpu"]["actual_usd"] == pytest.approx(0.00123)
    assert report["notes"][0].startswith("AWS marks some of these days as estimated")


def test_an_unknown_run_is_an_error_with_its_name(
    pipeline: LocalPipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = cost_cli(pipeline, capsys, "no-such-run")
    assert code == 1
    assert f"no run 'no-such-run' in table {pipeline.table_name}" in capsys.readouterr().err


def test_summarize_runs_role_allows_each_history_it_reads(
    pipeline: LocalPipeline, runs: dict[str, RunRecord]
) -> None:
    """The ARNs SummarizeRun reads (its execution, the Map Run, each job's child execution),
    as the local cloud names them, each fall under a statement of its role for the action
    (IAM's * matches any characters: IAM User Guide, reference_policies_elements_resource)."""
    from fnmatch import fnmatchcase

    from runledger_local.intrinsics import resolve

    policies = load_both()[0]["Resources"]["SummarizeRunFunction"]["Properties"]["Policies"]
    grants = [
        (action, resolve(statement["Resource"], pipeline.scope))
        for policy in policies
        for statement in policy["Statement"]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    ]

    def allowed(action: str, arn: str) -> bool:
        return any(a == action and fnmatchcase(arn, pattern) for a, pattern in grants)

    sfn = pipeline.client("stepfunctions")
    execution = runs[PLAIN].request["execution"]
    map_runs = sfn.list_map_runs(executionArn=execution)["mapRuns"]
    children = child_executions(sfn, execution)
    assert map_runs
    assert children
    assert allowed("states:GetExecutionHistory", execution)
    assert allowed("states:ListMapRuns", execution)
    assert all(allowed("states:ListExecutions", run["mapRunArn"]) for run in map_runs)
    assert all(allowed("states:GetExecutionHistory", c["executionArn"]) for c in children)
    # Not another machine's executions.
    assert not allowed("states:GetExecutionHistory", execution.replace("RunWorkflow", "Other"))
