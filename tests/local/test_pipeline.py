"""The whole pipeline offline, built from template.yaml: item -> stream -> pipe -> workflow ->
handlers -> Batch jobs as processes -> write-backs. Nothing here calls a handler directly."""

from __future__ import annotations

import gc
import gzip
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runledger.dynamo import to_attribute_value, to_dynamodb_json
from runledger.pricing import estimated_transitions
from runledger.usage import child_executions, execution_history
from runledger_cli.ledger import RunRecord
from runledger_cli.sam_template import REPO_ROOT, load_both, resources_of_type
from runledger_local.cloud import LocalPipeline
from runledger_local.local_paths import localize_request
from runledger_local.logs import ENGINE_LOGGER

REQUESTS = REPO_ROOT / "events" / "requests"


def run(pipeline: LocalPipeline, item: dict[str, Any]) -> RunRecord:
    pk = pipeline.put_request(item)
    return pipeline.wait_for([pk], timeout=90)[pk]


def history(pipeline: LocalPipeline, execution_arn: str) -> list[dict[str, Any]]:
    """The whole history, once the execution has ended (its last write-back comes first)."""
    sfn = pipeline.client("stepfunctions")
    for _ in range(200):
        if sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING":
            break
        time.sleep(0.05)
    return execution_history(sfn, execution_arn)


def job_histories(pipeline: LocalPipeline, execution_arn: str) -> list[list[dict[str, Any]]]:
    """The histories of the child executions (one per job) the run's Distributed Map
    started, oldest first, once the execution has ended."""
    sfn = pipeline.client("stepfunctions")
    history(pipeline, execution_arn)  # waits for the end
    children = sorted(child_executions(sfn, execution_arn), key=lambda c: c["startDate"])
    return [execution_history(sfn, child["executionArn"]) for child in children]


def entered(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


@pytest.fixture(scope="module")
def succeeded(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> RunRecord:
    return run(pipeline, sample_request("kmer-valid-local.json", "e2e-valid"))


def test_valid_request_succeeds_with_one_variant_item_per_variant(succeeded: RunRecord) -> None:
    asked = {
        v["name"] for v in json.loads((REQUESTS / "kmer-valid-local.json").read_text())["variants"]
    }
    assert succeeded.status == "SUCCEEDED"
    assert set(succeeded.variants) == asked
    for variant in succeeded.variants.values():
        assert variant["status"] == "SUCCEEDED"
        assert variant["metrics"]["reads"] == 200  # events/data/sample.fastq has 200 reads
        assert variant["cost"]["batch_usd"] > 0


def test_run_item_carries_summary_and_a_cost_that_adds_up(succeeded: RunRecord) -> None:
    summary, cost = succeeded.request["summary"], succeeded.request["cost"]
    assert summary["variants_succeeded"] == len(succeeded.variants)
    assert summary["fastest"]["name"] in succeeded.variants
    assert summary["cheapest"]["name"] in succeeded.variants
    assert float(cost["total_usd"]) == pytest.approx(float(sum(cost["breakdown"].values())))
    # Spot is priced below On-Demand for the same size.
    assert cost["by_variant"]["spot-1vcpu"] < cost["by_variant"]["od-1vcpu"]


def test_every_batch_job_carries_the_run_tags(
    pipeline: LocalPipeline, succeeded: RunRecord
) -> None:
    job_ids = [v["job_id"] for v in succeeded.variants.values()]
    jobs = pipeline.client("batch").describe_jobs(jobs=job_ids)["jobs"]
    assert {job["tags"]["variant"] for job in jobs} == set(succeeded.variants)
    for job in jobs:
        assert job["tags"]["run-id"] == "e2e-valid"
        assert job["tags"]["workflow"] == "kmer-count"
        assert job["tags"]["cost-center"] == "genomics-lab"
        assert job["propagateTags"] is True


def test_state_transitions_match_the_estimate_used_for_pricing(
    pipeline: LocalPipeline, succeeded: RunRecord
) -> None:
    execution_arn = succeeded.request["execution"]
    events = history(pipeline, execution_arn)
    jobs = job_histories(pipeline, execution_arn)
    assert entered(events) == [
        "StartRun",
        "RunVariants",
        "SummarizeRun",
        "DidAnyVariantSucceed",
        "RecordResult",
    ]
    # Each job is a child execution of the Distributed Map: billed a transition to start.
    assert len(jobs) == len(succeeded.variants)
    assert [entered(job) for job in jobs] == [["RunJob", "CollectMetrics"]] * len(jobs)
    counted = len(entered(events)) + sum(1 + len(entered(job)) for job in jobs)
    # 5 + 3N (issue 26's target; it was 8 + 4N with PrepareVariant and three more states).
    assert counted == estimated_transitions(len(succeeded.variants))
    assert estimated_transitions(len(succeeded.variants)) == 5 + 3 * len(succeeded.variants)


def test_the_stack_is_frozen_out_of_full_collections_while_the_pipeline_runs(
    pipeline: LocalPipeline,
) -> None:
    assert gc.get_freeze_count() > 100_000  # moto's backends, botocore's models, ...
    cycle: list[Any] = []
    cycle.append(cycle)  # made later: still the collector's
    assert gc.is_tracked(cycle)
    assert gc.get_freeze_count() > 100_000


def test_the_second_sample_workload_compresses_on_every_variant(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    """fastq-compress, declared in template.yaml like kmer-count: each variant's job
    writes a BGZF file beside its metrics, read back to the sample's bytes."""
    result = run(pipeline, sample_request("compress-valid-local.json", "e2e-compress"))
    assert result.status == "SUCCEEDED", result.request.get("reason") or result.request
    sample = (REPO_ROOT / "events" / "data" / "sample.fastq").read_bytes()
    # od-2vcpu repeats 3 times: a job and a VARIANT#od-2vcpu#<repeat> item each.
    repeated = ["od-2vcpu#1", "od-2vcpu#2", "od-2vcpu#3"]
    assert sorted(result.variants) == ["od-1vcpu", *repeated, "spot-4vcpu"]
    outputs = set()
    for variant in result.variants.values():
        metrics = variant["metrics"]
        assert (metrics["reads"], metrics["input_bytes"], metrics["level"]) == (200, len(sample), 6)
        bucket, key = metrics["output_uri"].removeprefix("s3://").split("/", 1)
        body = pipeline.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        assert (len(body), gzip.decompress(body)) == (metrics["output_bytes"], sample)
        outputs.add(metrics["output_uri"])
    assert len(outputs) == 5  # every job wrote its own place
    assert [(result.variants[k]["variant"], result.variants[k]["repeat"]) for k in repeated] == [
        ("od-2vcpu", 1),
        ("od-2vcpu", 2),
        ("od-2vcpu", 3),
    ]
    assert "variant" not in result.variants["od-1vcpu"]  # a variant run once: as before
    spread = result.request["summary"]["repeats"]
    assert list(spread) == ["od-2vcpu"]
    durations = sorted(result.variants[k]["duration_seconds"] for k in repeated)
    assert (spread["od-2vcpu"]["jobs"], spread["od-2vcpu"]["succeeded"]) == (3, 3)
    assert (
        spread["od-2vcpu"]["duration_min_seconds"],
        spread["od-2vcpu"]["duration_median_seconds"],
        spread["od-2vcpu"]["duration_max_seconds"],
    ) == tuple(durations)
    assert result.request["job_count"] == 5
    assert result.request["variant_count"] == 3


def test_invalid_request_ends_invalid_with_the_reason(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    result = run(pipeline, sample_request("kmer-invalid-duplicate-names.json", "e2e-invalid"))
    assert result.status == "INVALID"
    assert "duplicate" in result.request["reason"]
    assert result.variants == {}


def test_an_input_the_job_role_cannot_read_ends_invalid_naming_where_it_may(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    """The sample's own S3 input: with the default parameters the job may read only the
    results bucket's inputs/ (and, offline, local files), so the run never starts a job."""
    item = sample_request("kmer-valid.json", "e2e-unreadable")
    bucket = pipeline.scope.refs["ResultsBucket"]
    result = run(pipeline, item)
    assert result.status == "INVALID"
    assert result.request["reason"].startswith(
        f"input.uri: the job cannot read {item['input']['uri']!r}; it may read only under "
        f"s3://{bucket}/inputs/ or file:///"
    )
    assert result.variants == {}


def test_a_request_that_cannot_finish_before_the_run_times_out_ends_invalid(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    """With the template's defaults (MaxConcurrency 4, JobAttempts 3) thirteen one-hour
    variants are four waves of 3 h 30 min: more than the execution's 12 h."""
    item = sample_request("kmer-valid-local.json", "e2e-too-long")
    first = item["variants"][0]
    item["variants"] = [{**first, "name": f"v{i}", "timeout_seconds": 3600} for i in range(13)]
    result = run(pipeline, item)
    assert result.status == "INVALID"
    assert result.request["reason"].startswith("variants: the worst case takes 50400 s")
    assert result.variants == {}


@pytest.mark.parametrize("attempt", ["ninety", "1"])
def test_a_wrong_typed_attempt_is_claimed_and_ends_invalid_naming_it(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]], attempt: str
) -> None:
    """GIVEN a request carrying ``attempt`` (the workflow's own counter) as a string
    THEN the claim still goes through (it used to fail ``ADD attempt :one`` and leave the
    item unfinished) and the run ends INVALID with a reason naming ``attempt``."""
    item = sample_request("kmer-valid-local.json", f"e2e-attempt-{attempt}")
    result = run(pipeline, {**item, "attempt": attempt})
    assert result.status == "INVALID"
    assert result.request["reason"].startswith("attempt: written by the workflow")
    assert result.request["attempt"] == 1  # the claim wrote a number
    assert result.variants == {}


def test_duplicate_delivery_does_no_work(pipeline: LocalPipeline, succeeded: RunRecord) -> None:
    # The same record delivered again (Pipes is at-least-once): the claim is taken.
    record = json.loads((REPO_ROOT / "events" / "pipe_input.json").read_text())
    record[0]["pk"] = "RUN#e2e-valid"
    sfn = pipeline.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=pipeline.state_machine_arn, input=json.dumps(record))[
        "executionArn"
    ]
    events = history(pipeline, arn)
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert entered(events) == ["StartRun", "AlreadyClaimed"]
    assert pipeline.read_run("RUN#e2e-valid").request["execution"] == succeeded.request["execution"]


def test_write_backs_never_start_a_run_and_a_rerun_does(
    pipeline: LocalPipeline, succeeded: RunRecord
) -> None:
    assert pipeline.pipe.wait_idle(10)
    before = pipeline.pipe.counters.executions_started
    pipeline.client("dynamodb").update_item(
        TableName=pipeline.table_name,
        Key={"pk": {"S": "RUN#e2e-valid"}, "sk": {"S": "REQUEST"}},
        UpdateExpression="SET #s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "REQUESTED"}},
    )
    rerun = pipeline.wait_for(["RUN#e2e-valid"], timeout=90)["RUN#e2e-valid"]
    assert rerun.status == "SUCCEEDED"
    assert rerun.request["attempt"] == 2
    assert rerun.request["execution"] != succeeded.request["execution"]
    assert pipeline.pipe.wait_idle(10)
    # Exactly one new execution: the re-run. Its own write-backs started none.
    assert pipeline.pipe.counters.executions_started == before + 1
    assert pipeline.pipe.counters.records_filtered_out > 0


def test_a_request_that_would_start_no_run_is_told_apart_as_the_pipe_tells_it(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    valid = sample_request("kmer-valid-local.json", "e2e-check")
    assert pipeline.request_problem(valid) is None
    done = {**valid, "pk": "RUN#e2e-check-done", "status": "DONE"}
    problem = pipeline.request_problem(done)
    assert problem is not None
    assert pipeline.pipe.name in problem
    assert json.dumps(json.loads(pipeline.pipe.filter.patterns[0])) in problem
    # The pipe itself drops the record the table's stream makes of that item.
    assert pipeline.pipe.wait_idle(10)
    before = pipeline.pipe.counters
    pipeline.put_request(done)
    assert pipeline.pipe.wait_idle(10)
    after = pipeline.pipe.counters
    assert after.records_read == before.records_read + 1
    assert after.records_filtered_out == before.records_filtered_out + 1
    assert after.executions_started == before.executions_started

    without_key = {k: v for k, v in valid.items() if k != "pk"}
    assert (
        pipeline.request_problem(without_key) == "the table's key attribute 'pk' must be a string"
    )
    assert pipeline.request_problem({**valid, "sk": 7}) == (
        "the table's key attribute 'sk' must be a string"
    )
    assert pipeline.request_problem({**valid, "k": float("nan")}) == (
        "attribute 'k' is not a DynamoDB value: DynamoDB cannot store the number nan"
    )


def test_relative_input_paths_are_made_absolute_for_the_job(tmp_path: Path) -> None:
    item = localize_request({"input": {"uri": "data/x.fastq", "k": 5}}, tmp_path)
    assert item["input"]["uri"] == str(tmp_path / "data" / "x.fastq")
    assert localize_request({"input": {"uri": "s3://b/k"}}, tmp_path)["input"]["uri"] == "s3://b/k"


def test_jobs_that_fail_are_recorded_and_a_run_with_no_survivor_fails_priced(
    pipeline: LocalPipeline,
    caplog: pytest.LogCaptureFixture,
    sample_request: Callable[[str, str], dict[str, Any]],
) -> None:
    item = sample_request("kmer-valid-local.json", "e2e-no-input")
    item["input"]["uri"] = str(REPO_ROOT / "events" / "data" / "does-not-exist.fastq")
    with caplog.at_level(logging.ERROR, logger="moto"):
        result = run(pipeline, item)
        logging.getLogger(ENGINE_LOGGER).error("%s at '%s'", "Exception=TypeError", "a state")
    # moto's ERROR line (the state's whole repr) for each failure event the run's Catch and
    # Fail states raised is dropped; an engine error still gets through.
    assert [r.getMessage() for r in caplog.records] == ["Exception=TypeError at 'a state'"]
    # The job exits 2 (bad input: not retried), every variant is recorded FAILED with the
    # Batch failure as cause, and the run ends FAILED with its summary and cost: the jobs
    # ran, and each attempt is priced from the job description in its failure's cause.
    assert result.status == "FAILED"
    assert result.request["error"] == "AllVariantsFailedError"
    assert result.request["cause"].startswith(f"all {len(item['variants'])} variants failed: ")
    cost = result.request["cost"]
    assert cost["unpriced_variants"] == []
    assert set(cost["by_variant"]) == {v["name"] for v in item["variants"]}
    assert cost["breakdown"]["batch"] == pytest.approx(sum(cost["by_variant"].values()))
    assert cost["breakdown"]["batch"] > 0
    assert result.request["summary"]["variants_failed"] == len(item["variants"])
    assert len(result.variants) == len(item["variants"])
    for variant in result.variants.values():
        assert variant["status"] == "FAILED"
        assert variant["error"] == "States.TaskFailed"
        assert '"ExitCode": 2' in variant["cause"] or '"exitCode": 2' in variant["cause"]
    events = history(pipeline, result.request["execution"])
    assert entered(events)[-4:] == [
        "SummarizeRun",
        "DidAnyVariantSucceed",
        "RecordRunFailed",
        "RunFailed",
    ]
    assert events[-1]["type"] == "ExecutionFailed"
    # The failed execution's status change reaches CloseRun, which leaves the run as the
    # workflow recorded it.
    execution = result.request["execution"]
    wait_until(lambda: bool(pipeline.rules.answers(execution)))
    assert [a["outcome"] for a in pipeline.rules.answers(execution)] == ["already_final"]
    assert pipeline.read_run(result.request["pk"]).request["error"] == "AllVariantsFailedError"


def job_definition_retry_attempts() -> int:
    cfn = load_both()[1]
    definition = resources_of_type(cfn, "AWS::Batch::JobDefinition")[
        "KmerCountFargateX8664JobDefinition"
    ]
    attempts = definition["Properties"]["RetryStrategy"]["Attempts"]
    if isinstance(attempts, dict):  # {"Ref": "JobAttempts"}: the parameter's default
        attempts = cfn["Parameters"][attempts["Ref"]]["Default"]
    return int(attempts)


def test_a_job_that_keeps_failing_is_retried_then_only_its_variant_fails(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    item = sample_request("kmer-valid-local.json", "e2e-retried")
    names = [v["name"] for v in item["variants"]]
    attempts = job_definition_retry_attempts()
    # Exit 75 (EX_TEMPFAIL) matches the job definition's RETRY rule on every attempt.
    pipeline.cloud.inject_job_exit({"run-id": "e2e-retried", "variant": names[0]}, [75] * attempts)
    result = run(pipeline, item)

    failed = result.variants[names[0]]
    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.TaskFailed"
    job = json.loads(failed["cause"])
    assert [a["Container"]["ExitCode"] for a in job["Attempts"]] == [75] * attempts
    # The other variants are untouched and the run succeeds with what survived.
    assert {n: v["status"] for n, v in result.variants.items() if n != names[0]} == dict.fromkeys(
        names[1:], "SUCCEEDED"
    )
    assert result.status == "SUCCEEDED"
    assert result.request["summary"]["variants_succeeded"] == len(names) - 1


def test_a_throttled_handler_is_retried_by_the_workflow(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    function = pipeline.scope.refs["StartRunFunction"]
    pipeline.cloud.inject_lambda_error(function, times=2)  # 429 TooManyRequestsException
    result = run(pipeline, sample_request("kmer-valid-local.json", "e2e-throttled"))

    assert result.status == "SUCCEEDED"
    events = history(pipeline, result.request["execution"])
    failures = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failures == ["Lambda.TooManyRequestsException"] * 2
    assert entered(events).count("StartRun") == 1  # retries stay inside the state
    scheduled = [e for e in events if e["type"] == "TaskScheduled"]
    assert (
        sum(
            '"FunctionName"' in e["taskScheduledEventDetails"]["parameters"]
            and function in e["taskScheduledEventDetails"]["parameters"]
            for e in scheduled
        )
        == 3
    )


def raw_items(pipeline: LocalPipeline, pk: str) -> dict[str, dict[str, Any]]:
    """Every item of the run (sk -> item), as the table holds it: no owner filter."""
    answer = pipeline.client("dynamodb").query(
        TableName=pipeline.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    return {item["sk"]["S"]: item for item in answer["Items"]}


def wait_until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def set_requested(pipeline: LocalPipeline, pk: str, variants: list[dict[str, Any]]) -> None:
    """Re-run as the README says (status back to REQUESTED), with these variants."""
    pipeline.client("dynamodb").update_item(
        TableName=pipeline.table_name,
        Key={"pk": {"S": pk}, "sk": {"S": "REQUEST"}},
        UpdateExpression="SET #s = :r, variants = :v",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":r": {"S": "REQUESTED"},
            ":v": to_attribute_value(variants),
        },
    )


def test_a_stale_execution_cannot_overwrite_the_newer_attempts_items(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    """GIVEN a run whose first execution is still running one variant's job
    WHEN the run is re-run meanwhile, and the re-run finishes first
    THEN the stale execution's late writes are refused: the table holds the re-run's
    request and variant items only, and the stale execution ends failed."""
    item = sample_request("kmer-valid-local.json", "e2e-stale")
    item["variants"] = item["variants"][:2]
    held, other = (v["name"] for v in item["variants"])
    release = pipeline.cloud.hold_next_job({"run-id": "e2e-stale", "variant": held})
    pk = pipeline.put_request(item)
    try:
        wait_until(lambda: f"VARIANT#{other}" in raw_items(pipeline, pk))
        stale = pipeline.read_run(pk).request["execution"]
        set_requested(pipeline, pk, item["variants"])
        rerun = pipeline.wait_for([pk], timeout=90)[pk]
    finally:
        release.set()
    events = history(pipeline, stale)
    jobs = job_histories(pipeline, stale)

    assert rerun.status == "SUCCEEDED"
    assert (rerun.request["attempt"], rerun.request["execution"] != stale) == (2, True)
    # The held job finished after the re-run: both of the stale job's writes are refused,
    # CollectMetrics' (its Lambda's conditional write) and then RecordVariantFailure's.
    held_job = next(job for job in jobs if "VariantNotRecorded" in entered(job))
    refused = [e["taskFailedEventDetails"]["error"] for e in held_job if e["type"] == "TaskFailed"]
    assert refused == ["ItemOwnedByLaterClaim", "DynamoDB.ConditionalCheckFailedException"]
    # The other job's item was written over by the re-run: the stale execution cannot
    # summarize a run that is no longer its own, and ends failed.
    summarize = [
        e["taskFailedEventDetails"]
        for e in events
        if e["type"] == "TaskFailed" and e["taskFailedEventDetails"]["resourceType"] == "lambda"
    ]
    assert [(f["error"], "claimed again" in f["cause"]) for f in summarize] == [
        ("RunClaimedAgain", True)
    ]
    assert events[-1]["type"] == "ExecutionFailed"
    after = pipeline.read_run(pk)
    assert after.request["execution"] == rerun.request["execution"]
    assert after.status == "SUCCEEDED"
    for name in (held, other):
        variant = raw_items(pipeline, pk)[f"VARIANT#{name}"]
        assert variant["execution"]["S"] == rerun.request["execution"]
        assert variant["attempt"] == {"N": "2"}
        assert variant["status"]["S"] == "SUCCEEDED"


def test_a_rerun_with_fewer_variants_reads_only_its_own(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    item = sample_request("kmer-valid-local.json", "e2e-fewer")
    first = run(pipeline, item)
    assert set(first.variants) == {v["name"] for v in item["variants"]}
    kept = item["variants"][:1]
    set_requested(pipeline, first.request["pk"], kept)
    rerun = pipeline.wait_for([first.request["pk"]], timeout=90)[first.request["pk"]]

    assert rerun.status == "SUCCEEDED"
    assert set(rerun.variants) == {kept[0]["name"]}
    assert rerun.variants[kept[0]["name"]]["attempt"] == 2
    # The first attempt's other items stay in the table, marked with their own claim.
    left = {sk: i for sk, i in raw_items(pipeline, first.request["pk"]).items() if sk != "REQUEST"}
    assert len(left) == len(item["variants"])
    assert {i["attempt"]["N"] for sk, i in left.items() if sk != f"VARIANT#{kept[0]['name']}"} == {
        "1"
    }


def test_a_variant_failure_that_cannot_be_written_leaves_the_others_running(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    """GIVEN a variant whose item a later claim holds (so RecordVariantFailure is refused)
    WHEN that variant's job fails
    THEN VariantNotRecorded reports it FAILED and the other variants run and are recorded:
    the Map does not fail, and the run succeeds with what survived."""
    item = sample_request("kmer-valid-local.json", "e2e-not-recorded")
    doomed = item["variants"][0]["name"]
    later = {"pk": item["pk"], "sk": f"VARIANT#{doomed}", "claimed_at": "9999-12-31T00:00:00Z"}
    dynamodb = pipeline.client("dynamodb")
    dynamodb.put_item(TableName=pipeline.table_name, Item=to_dynamodb_json(later))
    pipeline.cloud.inject_job_exit({"run-id": "e2e-not-recorded", "variant": doomed}, [2])
    result = run(pipeline, item)

    assert result.status == "SUCCEEDED"
    assert result.request["summary"]["variants_failed"] == 1
    assert set(result.variants) == {v["name"] for v in item["variants"][1:]}
    assert {v["status"] for v in result.variants.values()} == {"SUCCEEDED"}
    jobs = job_histories(pipeline, result.request["execution"])
    assert sorted(entered(job).count("VariantNotRecorded") for job in jobs) == [0, 0, 1]
    assert raw_items(pipeline, item["pk"])[f"VARIANT#{doomed}"]["claimed_at"]["S"].startswith(
        "9999"
    )


def test_an_aborted_run_is_closed_failed_with_the_stops_error_and_cause(
    pipeline: LocalPipeline, sample_request: Callable[[str, str], dict[str, Any]]
) -> None:
    """GIVEN a run whose job is still running
    WHEN its execution is stopped (StopExecution, as the console does), which runs no Catch
    THEN the status-change rule's CloseRun writes the run FAILED with the stop's error and
    cause, and a successful run's execution is not sent to CloseRun at all."""
    item = sample_request("kmer-valid-local.json", "e2e-aborted")
    release = pipeline.cloud.hold_next_job(
        {"run-id": "e2e-aborted", "variant": item["variants"][0]["name"]}
    )
    pk = pipeline.put_request(item)
    try:
        wait_until(lambda: pipeline.read_run(pk).status == "RUNNING")
        execution = pipeline.read_run(pk).request["execution"]
        pipeline.client("stepfunctions").stop_execution(
            executionArn=execution, error="OperatorStopped", cause="wrong input, stopped by hand"
        )
        result = pipeline.wait_for([pk], timeout=60)[pk]
    finally:
        release.set()

    assert (result.status, result.request["error"]) == ("FAILED", "OperatorStopped")
    assert result.request["cause"] == "wrong input, stopped by hand"
    assert result.request["finished_at"] >= result.request["claimed_at"]
    # (On AWS ExecutionAborted is the last event; moto's Map iterations still add theirs
    # after it: issue 23.)
    assert "ExecutionAborted" in {e["type"] for e in history(pipeline, execution)}
    wait_until(lambda: bool(pipeline.rules.answers(execution)))  # stored after CloseRun's write
    assert [a["outcome"] for a in pipeline.rules.answers(execution)] == ["closed"]


def test_a_succeeded_execution_is_not_sent_to_close_run(
    pipeline: LocalPipeline, succeeded: RunRecord
) -> None:
    execution = succeeded.request["execution"]
    wait_until(lambda: execution in pipeline.rules.seen)
    assert pipeline.rules.answers(execution) == []
