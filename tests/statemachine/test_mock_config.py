"""MockConfigFile.json itself, without running anything: Step Functions Local's format,
mocks only for Task states of the ASL, and mocked Lambda results shaped exactly as the real
handlers return them (so a handler change that the mocks no longer match fails here)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import TypeAdapter
from sfn_harness import (
    STATE_MACHINE_ID,
    STATE_MACHINE_NAME,
    all_states,
    case_mocks,
    lambda_payloads,
    mock_config,
    mocked_responses,
)

import runledger.results
import runledger.starting
from runledger.models import RunRequest, VariantSucceeded
from runledger.starting import RunStarted, run_jobs
from runledger.summary import SummarizeRunResult, json_value
from runledger_cli.sam_template import REPO_ROOT, load_both

ASL = json.loads(
    (
        REPO_ROOT / load_both()[0]["Resources"][STATE_MACHINE_ID]["Properties"]["DefinitionUri"]
    ).read_text()
)
STATES = all_states(ASL)
#: Each Lambda state's payload parsed as its handler's result and serialized as the handler
#: does (functions/*/app.py: ``model_dump(mode="json")``; SummarizeRun's result is a
#: dataclass, parsed by pydantic's TypeAdapter and serialized by ``json_value``).
LAMBDA_RESULTS: dict[str, Callable[[Any], Any]] = {
    "StartRun": lambda payload: RunStarted.model_validate(payload).model_dump(mode="json"),
    "CollectMetrics": lambda payload: VariantSucceeded.model_validate(payload).model_dump(
        mode="json"
    ),
    "SummarizeRun": lambda payload: json_value(
        TypeAdapter(SummarizeRunResult).validate_python(payload)
    ),
}
#: The job detail fields RunJob's Output reads from a batch:submitJob.sync result.
RUN_JOB_RESULT_FIELDS = {"JobId", "Status", "StartedAt", "StoppedAt", "Attempts"}
#: The results bucket the mocked StartRun answers name (RESULTS_BUCKET of the function).
RESULTS_BUCKET = "runledger-results-example"


def test_file_has_step_functions_local_layout_for_the_fixture_state_machine() -> None:
    config = mock_config()
    assert set(config) == {"StateMachines", "MockedResponses"}
    # The name the fixture gives the state machine: executions of "<arn>#Case" find it.
    assert list(config["StateMachines"]) == [STATE_MACHINE_NAME]
    assert set(config["StateMachines"][STATE_MACHINE_NAME]) == {"TestCases"}


def test_test_cases_mock_only_task_states_of_the_asl() -> None:
    for case, mocks in case_mocks().items():
        not_tasks = sorted(s for s in mocks if STATES.get(s, {}).get("Type") != "Task")
        assert not not_tasks, f"{case} mocks states that are not Tasks of the ASL: {not_tasks}"


def test_every_mocked_response_is_defined_and_used() -> None:
    defined = set(mock_config()["MockedResponses"])
    used = {name for mocks in case_mocks().values() for name in mocks.values()}
    assert sorted(used - defined) == [], "referenced but not defined"
    assert sorted(defined - used) == [], "defined but used by no test case"


@pytest.mark.parametrize("name", sorted(mock_config()["MockedResponses"]))
def test_mocked_response_numbers_invocations_from_0_with_one_return_or_throw(name: str) -> None:
    responses: dict[str, Any] = mock_config()["MockedResponses"][name]
    expected_start = 0
    for key in sorted(responses, key=lambda k: int(k.split("-")[0])):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", key)
        assert match, f"{name}: key {key!r} is not N or N-M"
        first, last = int(match[1]), int(match[2] or match[1])
        assert first == expected_start <= last, f"{name}: {key} does not follow on"
        expected_start = last + 1
        outcome = responses[key]
        assert len(outcome) == 1, outcome
        assert next(iter(outcome)) in {"Return", "Throw"}, outcome
        if "Throw" in outcome:
            assert set(outcome["Throw"]) == {"Error", "Cause"}
            assert all(isinstance(v, str) for v in outcome["Throw"].values())


@pytest.mark.parametrize("state", sorted(LAMBDA_RESULTS))
def test_mocked_lambda_results_are_what_the_handler_returns(state: str) -> None:
    as_handler_returns = LAMBDA_RESULTS[state]
    results = [
        outcome["Return"]
        for case, mocks in case_mocks().items()
        if state in mocks
        for outcome in mocked_responses(case, state)
        if "Return" in outcome
    ]
    assert results, f"no test case returns a result from {state}"
    for result in results:
        assert result["StatusCode"] == 200
        # Exactly the handler's serialization: no missing, extra or mistyped field.
        assert as_handler_returns(result["Payload"]) == result["Payload"]


def test_mocked_batch_jobs_carry_the_fields_run_job_reads() -> None:
    for case, mocks in case_mocks().items():
        if "RunJob" not in mocks:
            continue
        for outcome in mocked_responses(case, "RunJob"):
            if "Return" in outcome:
                assert set(outcome["Return"]) >= RUN_JOB_RESULT_FIELDS, (case, outcome)
                assert outcome["Return"]["Status"] == "SUCCEEDED"
            else:  # a failed .sync job: States.TaskFailed with the job detail as Cause
                assert outcome["Throw"]["Error"] == "States.TaskFailed"
                assert json.loads(outcome["Throw"]["Cause"])["Status"] == "FAILED"


def test_mocked_start_run_answers_are_what_start_run_builds_for_their_request() -> None:
    # The run's job parts (names, results prefix, the workload's environment) follow from
    # the request as runledger.starting builds them, for the claim the answer names.
    answers = [p for case in case_mocks() for p in lambda_payloads(case, "StartRun")]
    assert answers, "no test case returns a result from StartRun"
    for answer in answers:
        started = RunStarted.model_validate(answer)
        jobs = started.run
        assert jobs.pk == f"RUN#{started.request.run_id}"
        assert jobs.attempt == str(started.attempt)
        expected = run_jobs(
            RunRequest.model_validate(answer["request"]),
            jobs.pk,
            jobs.execution,
            started.attempt,
            jobs.claimed_at,
            RESULTS_BUCKET,
        )
        assert jobs == expected


def test_mocked_start_run_errors_are_lambda_errors_of_the_shape_step_functions_reports() -> None:
    # A function error is named by its exception's class, and its Cause is the JSON of the
    # error payload (errorMessage, errorType, ...): RequestInvalid's Catch parses the reason
    # out of it. Lambda.* errors are the service's, with a plain text cause.
    thrown = [
        o["Throw"]
        for case, mocks in case_mocks().items()
        if "StartRun" in mocks
        for o in mocked_responses(case, "StartRun")
        if "Throw" in o
    ]
    errors = {t["Error"] for t in thrown}
    assert {"AlreadyClaimed", "RequestInvalid", "ClaimLost"} <= errors
    assert any(e.startswith("Lambda.") for e in errors)  # a retried service error
    for error in thrown:
        if error["Error"].startswith("Lambda."):
            continue
        payload = json.loads(error["Cause"])
        assert payload["errorType"] == error["Error"], error
        assert isinstance(payload["errorMessage"], str), error
        assert payload["errorMessage"], error
        if error["Error"] in {"AlreadyClaimed", "RequestInvalid", "ClaimLost"}:
            raised = getattr(runledger.starting, error["Error"])
            assert issubclass(raised, Exception), error


def test_map_test_cases_run_and_collect_the_variants_the_request_names() -> None:
    # Responses are numbered per invocation across the execution and its Distributed Map's
    # children (started in item order: MaxConcurrency 1): invocation i of RunJob must be for
    # variant i of the mocked request, and invocation j of CollectMetrics for the j-th
    # variant whose job succeeded (a Return names it; a Throw is its collect or write failing).
    checked = 0
    for case, mocks in case_mocks().items():
        if "RunJob" not in mocks:
            continue
        request = lambda_payloads(case, "StartRun")[-1]["request"]
        variants = [v["name"] for v in request["variants"]]
        jobs = mocked_responses(case, "RunJob")
        assert len(jobs) >= len(variants), case
        succeeded = []
        for name, job in zip(variants, jobs, strict=False):
            detail = job["Return"] if "Return" in job else json.loads(job["Throw"]["Cause"])
            assert detail["JobName"] == f"{request['run_id']}-{name}", (case, name)
            if "Return" in job:
                succeeded.append(name)
        collected = mocked_responses(case, "CollectMetrics") if "CollectMetrics" in mocks else []
        assert len(collected) >= len(succeeded), case
        for name, outcome in zip(succeeded, collected, strict=False):
            if "Return" in outcome:
                assert outcome["Return"]["Payload"]["name"] == name, (case, name)
            else:
                assert name in json.loads(outcome["Throw"]["Cause"])["errorMessage"], (case, name)
        checked += 1
    assert checked, "no test case runs a job"


def test_mocked_collect_metrics_errors_are_errors_its_function_raises() -> None:
    # CollectMetrics also writes the job's item: a write a later claim refuses is its
    # function's error ItemOwnedByLaterClaim, named by the exception's class, with the
    # Lambda error payload as Cause.
    thrown = [
        o["Throw"]
        for case, mocks in case_mocks().items()
        if "CollectMetrics" in mocks
        for o in mocked_responses(case, "CollectMetrics")
        if "Throw" in o
    ]
    assert {t["Error"] for t in thrown} >= {"ItemOwnedByLaterClaim"}
    for error in thrown:
        payload = json.loads(error["Cause"])
        assert payload["errorType"] == error["Error"], error
        assert payload["errorMessage"], error
        raised = getattr(runledger.results, error["Error"], None)
        assert isinstance(raised, type), error
        assert issubclass(raised, Exception), error
