"""Each moto adaptation proved through boto3 against moto, one test (or more) per adaptation.

A failure here after a moto upgrade names the adaptation that broke (test names, and
AdaptationBrokenError messages at set-up).
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
import weakref
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from runledger_cli.sam_template import table_schema
from runledger_local import moto_adapters
from runledger_local.moto_adapters import (
    ADAPTATIONS,
    AdaptationBrokenError,
    LocalCloud,
    local_aws,
)

REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/local-states"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
STATEMACHINES = Path(__file__).parent / "fixtures" / "moto_adapters" / "statemachines"


# ----------------------------------------------------------------------------- helpers
def aws(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint_url)


def create_state_machine(sfn: Any, name: str, definition: dict[str, Any] | str) -> str:
    if isinstance(definition, str):
        definition = json.loads((STATEMACHINES / definition).read_text())
    response = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE_ARN
    )
    return str(response["stateMachineArn"])


def run_execution(
    sfn: Any, state_machine_arn: str, payload: Any, timeout: float = 20.0
) -> dict[str, Any]:
    """Start an execution and wait until it ends (any terminal status) or time runs out."""
    arn = sfn.start_execution(stateMachineArn=state_machine_arn, input=json.dumps(payload))[
        "executionArn"
    ]
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] in TERMINAL:
            return described
        if time.monotonic() > deadline:
            pytest.fail(f"execution {arn} still {described['status']} after {timeout} s")
        time.sleep(0.02)


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    return list(sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"])


def entered_states(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def output(described: dict[str, Any]) -> Any:
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    return json.loads(described["output"])


def create_runs_table(ddb: Any) -> None:
    ddb.create_table(TableName="runs", **table_schema())


def create_batch_environment(
    batch: Any,
    job_program: Path,
    *,
    retry_strategy: dict[str, Any] | None = None,
    timeout_seconds: int | None = None,
    endpoint_url: str | None = None,
) -> None:
    iam = aws("iam", endpoint_url)
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    environment = batch.create_compute_environment(
        computeEnvironmentName="fargate-spot", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    batch.create_job_queue(
        jobQueueName="spot",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
    )
    extra: dict[str, Any] = {}
    if retry_strategy is not None:
        extra["retryStrategy"] = retry_strategy
    if timeout_seconds is not None:
        extra["timeout"] = {"attemptDurationSeconds": timeout_seconds}
    batch.register_job_definition(
        jobDefinitionName="variant-job",
        type="container",
        containerProperties={
            "image": "runledger/kmer:local",
            "command": ["python", str(job_program)],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "2048"},
            ],
            "environment": [{"name": "WORKLOAD", "value": "kmer"}],
        },
        **extra,
    )


def wait_for_job(batch: Any, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in {"SUCCEEDED", "FAILED"}:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.02)


# ----------------------------------------------------------------------- endpoint_mode
def test_endpoint_mode_lets_dynamodb_streams_calls_reach_moto(local_cloud: LocalCloud) -> None:
    assert os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    ddb.put_item(TableName="runs", Item={"pk": {"S": "RUN#1"}, "sk": {"S": "REQUEST"}})
    stream_arn = ddb.describe_table(TableName="runs")["Table"]["LatestStreamArn"]

    streams = aws("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]

    assert [r["eventName"] for r in records] == ["INSERT"]


def test_endpoint_mode_is_restored_after_the_local_cloud(aws_credentials: None) -> None:
    before = os.environ.get("AWS_ACCOUNT_ID_ENDPOINT_MODE")
    with mock_aws(), local_aws(adapters=["endpoint_mode"]):
        assert os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"
    assert os.environ.get("AWS_ACCOUNT_ID_ENDPOINT_MODE") == before


# ---------------------------------------------------------------------- shared_models
def test_shared_models_sessions_made_meanwhile_read_each_model_once(
    aws_credentials: None,
) -> None:
    from botocore.loaders import JSONFileLoader

    read = JSONFileLoader.load_file
    spy = mock.patch.object(JSONFileLoader, "load_file", autospec=True, side_effect=read)
    with mock_aws(), local_aws(adapters=["shared_models"]), spy as reads:
        first, second = boto3.Session(), boto3.Session()
        models = [s.client("glue", region_name=REGION).meta.service_model for s in (first, second)]
    after = boto3.Session()

    # glue: a model no session of this cloud had read yet (moto's EC2 import reads ec2's)
    glue_reads = [
        c
        for c in reads.call_args_list
        if c.args[1].endswith("botocore/data/glue/2017-03-31/service-2")
    ]
    assert len(glue_reads) == 1
    assert models[0]._service_description is models[1]._service_description
    loader = first._session.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
    assert after._session.get_component("data_loader") is not loader  # undone


def test_shared_models_offerings_are_read_per_region_when_asked_and_answer_as_motos_file(
    aws_credentials: None,
) -> None:
    from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS
    from moto.utilities.utils import load_resource

    region = "ap-southeast-3"
    with mock_aws(), local_aws(adapters=["shared_models"]):
        zones = INSTANCE_TYPE_OFFERINGS["availability-zone"]
        assert region not in zones._read  # type: ignore[attr-defined]
        ec2 = boto3.client("ec2", region_name=region)
        offered = ec2.describe_instance_type_offerings(LocationType="availability-zone")[
            "InstanceTypeOfferings"
        ]
        assert region in zones._read  # type: ignore[attr-defined]
        assert "eu-west-1" not in zones._read  # type: ignore[attr-defined]
        assert zones.get("xx-nowhere-1", []) == []  # as moto's dict answers

    in_file = load_resource(
        f"ec2/resources/instance_type_offerings/availability-zone/{region}.json"
    )
    expected = sorted((o["InstanceType"], o["Location"]) for o in in_file)
    assert len(expected) > 100
    assert sorted((o["InstanceType"], o["Location"]) for o in offered) == expected
    assert {o["LocationType"] for o in offered} == {"availability-zone"}


def test_shared_models_fail_loudly_when_moto_reads_other_offerings(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS

    monkeypatch.setitem(INSTANCE_TYPE_OFFERINGS, "outpost", {})
    with pytest.raises(AdaptationBrokenError, match="'shared_models'"), local_aws():
        pass


# ------------------------------------------------------------------------ client_cache
def test_client_cache_gives_the_engine_one_client_per_service_and_region(
    local_cloud: LocalCloud,
) -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    first = boto_client.boto_client_for(region=REGION, service="dynamodb")
    assert boto_client.boto_client_for(region=REGION, service="dynamodb") is first
    assert boto_client.boto_client_for(region="eu-west-1", service="dynamodb") is not first
    assert boto_client.boto_client_for(region=REGION, service="lambda") is not first

    ddb = aws("dynamodb")
    create_runs_table(ddb)
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "put-twice",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "PutA",
            "States": {
                "PutA": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:putItem",
                    "Arguments": {
                        "TableName": "runs",
                        "Item": {"pk": {"S": "A"}, "sk": {"S": "1"}},
                    },
                    "Next": "PutB",
                },
                "PutB": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:putItem",
                    "Arguments": {
                        "TableName": "runs",
                        "Item": {"pk": {"S": "B"}, "sk": {"S": "1"}},
                    },
                    "End": True,
                },
            },
        },
    )
    assert run_execution(sfn, arn, {})["status"] == "SUCCEEDED"
    assert ddb.scan(TableName="runs")["Count"] == 2


# --------------------------------------------------------------------- execution_names
def test_execution_names_unnamed_executions_get_distinct_uuid_names(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn, "pass", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )

    first = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]

    names = [a.rsplit(":", 1)[1] for a in (first, second)]
    assert names[0] != names[1]
    assert all(len(name) == 36 and name != "None" for name in names)


# ------------------------------------------------------------------- lambda_in_process
def test_lambda_in_process_runs_the_handler_with_its_env_and_a_context(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    local_cloud.register_function(
        "echo",
        code_dir=lambda_fixtures / "echo",
        environment={"GREETING": "hello"},
        memory_mb=512,
        timeout=30,
    )

    response = aws("lambda").invoke(FunctionName="echo", Payload=json.dumps({"run_id": "r-1"}))

    assert "FunctionError" not in response
    result = json.loads(response["Payload"].read())
    assert result["event"] == {"run_id": "r-1"}
    assert result["greeting"] == result["greeting_at_import"] == "hello"
    assert result["function_name"] == result["env_function_name"] == "echo"
    assert result["memory_limit_in_mb"] == "512"
    assert result["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:echo"
    assert result["log_group_name"] == "/aws/lambda/echo"
    assert 25_000 < result["remaining_ms"] <= 30_000
    assert "GREETING" not in os.environ  # the function's env is gone after the call


def test_lambda_in_process_exception_is_an_unhandled_function_error_named_by_class(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    local_cloud.register_function("validate", code_dir=lambda_fixtures / "fail")

    response = aws("lambda").invoke(
        FunctionName="arn:aws:lambda:us-east-1:123456789012:function:validate",
        Payload=json.dumps({"run_id": "r-2"}),
    )

    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "RequestInvalidError"
    assert error["errorMessage"] == "variants missing in r-2"
    assert "fail/app.py" in error["stackTrace"][-1]


def test_lambda_in_process_tasks_call_handlers_directly_with_the_same_result(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    # A lambda:invoke task skips botocore and the server; a Qualifier sends the same
    # invoke the long way (Invoke over the server). Both must give the task the same
    # result, or the same error and cause.
    from moto.awslambda.responses import LambdaResponse

    local_cloud.register_function("echo", code_dir=lambda_fixtures / "echo")
    local_cloud.register_function("validate", code_dir=lambda_fixtures / "fail")
    sfn = aws("stepfunctions")

    def machine(function: str, qualified: bool) -> str:
        arguments: dict[str, Any] = {
            "FunctionName": function,
            "Payload": {"run_id": "{% $states.input.run_id %}", "n": [1, 2.5, None]},
        }
        if qualified:
            arguments["Qualifier"] = "$LATEST"
        definition = {
            "QueryLanguage": "JSONata",
            "StartAt": "Invoke",
            "States": {
                "Invoke": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": arguments,
                    "Output": "{% $states.result %}",
                    "End": True,
                }
            },
        }
        return create_state_machine(sfn, f"{function}-{qualified}", definition)

    def volatile_free(described: dict[str, Any]) -> Any:
        if described["status"] != "SUCCEEDED":
            cause = json.loads(described["cause"])
            del cause["requestId"]
            return described["status"], described.get("error"), json.dumps(cause)
        result = json.loads(described["output"])
        for key in ("aws_request_id", "remaining_ms"):
            result["Payload"].pop(key)
        return json.dumps(result)  # key order included

    over_http = 0
    real_invoke = LambdaResponse.invoke

    def counting_invoke(self: Any) -> Any:
        nonlocal over_http
        over_http += 1
        return real_invoke(self)

    with mock.patch.object(LambdaResponse, "invoke", counting_invoke):
        results = {
            (function, qualified): volatile_free(
                run_execution(sfn, machine(function, qualified), {"run_id": "r-9"})
            )
            for function in ("echo", "validate")
            for qualified in (False, True)
        }

    assert over_http == 2  # the qualified ones only
    assert results["echo", False] == results["echo", True]
    assert json.loads(results["echo", False]) == {
        "ExecutedVersion": "$LATEST",
        "Payload": json.loads(results["echo", False])["Payload"],
        "StatusCode": 200,
    }
    assert json.loads(results["echo", False])["Payload"]["event"] == {
        "run_id": "r-9",
        "n": [1, 2.5, None],
    }
    assert results["validate", False] == results["validate", True]
    status, error, cause = results["validate", False]
    assert (status, error) == ("FAILED", "RequestInvalidError")
    assert json.loads(cause)["errorMessage"] == "variants missing in r-9"


def test_lambda_in_process_timeout_is_reported_as_sandbox_timedout(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    local_cloud.register_function("slow", code_dir=lambda_fixtures / "slow", timeout=0.3)

    started = time.monotonic()
    response = aws("lambda").invoke(FunctionName="slow", Payload=json.dumps({"sleep": 3}))

    assert time.monotonic() - started < 2
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 0.30 seconds" in error["errorMessage"]


def test_lambda_in_process_chain_lock_admits_one_chain_at_a_time() -> None:
    lock = moto_adapters._ChainLock()
    inside: list[str] = []
    overlaps: list[list[str]] = []

    def invocation(chain: str, nested: bool) -> None:
        lock.acquire(chain, priority=float(hash(chain) % 7))
        try:
            inside.append(chain)
            if len(set(inside)) > 1:
                overlaps.append(list(inside))
            if nested:  # a handler's synchronous invoke: same chain, re-entered at once
                lock.acquire(chain)
                lock.release()
            time.sleep(0.002)
            inside.remove(chain)
        finally:
            lock.release()

    threads = [
        threading.Thread(target=invocation, args=(f"run-{n}", n % 2 == 0)) for n in range(40)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert not any(thread.is_alive() for thread in threads)
    assert overlaps == []  # one chain at a time
    assert (lock._owner, lock._depth, lock._queue) == (None, 0, [])


def test_lambda_in_process_chain_lock_serves_the_earliest_started_first() -> None:
    # Priority is the start time of the waiter's execution: earlier first, then arrival.
    lock = moto_adapters._ChainLock()
    lock.acquire("holder")
    order: list[str] = []

    def invocation(chain: str, priority: float) -> None:
        lock.acquire(chain, priority)
        order.append(chain)
        lock.release()

    threads = []
    for chain, priority in (("late", 5.0), ("early-1", 1.0), ("middle", 3.0), ("early-2", 1.0)):
        threads.append(threading.Thread(target=invocation, args=(chain, priority)))
        threads[-1].start()
        deadline = time.monotonic() + 5
        while len(lock._queue) < len(threads):  # queued in this arrival order
            assert time.monotonic() < deadline
            time.sleep(0.001)
    lock.release()
    for thread in threads:
        thread.join(10)

    assert order == ["early-1", "early-2", "middle", "late"]


def test_lambda_in_process_chain_lock_admits_every_waiter_of_the_chain_it_hands_over_to() -> None:
    lock = moto_adapters._ChainLock()
    lock.acquire("a")
    both_inside = threading.Barrier(2, timeout=5)
    results: list[str] = []

    def invocation(name: str) -> None:
        lock.acquire("b", priority=1.0)
        try:
            both_inside.wait()  # breaks (BrokenBarrierError) unless both are inside at once
            results.append(name)
        finally:
            lock.release()

    threads = [threading.Thread(target=invocation, args=(n,)) for n in ("b1", "b2")]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(lock._queue) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    lock.release()
    for thread in threads:
        thread.join(10)

    assert sorted(results) == ["b1", "b2"]
    assert (lock._owner, lock._depth) == (None, 0)


def test_lambda_in_process_tasks_wait_for_the_lock_in_their_executions_start_order(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    local_cloud.register_function("echo", code_dir=lambda_fixtures / "echo")
    sfn = aws("stepfunctions")
    definition = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "echo", "Payload.$": "$"},
                "End": True,
            }
        },
    }
    arn = create_state_machine(sfn, "ordered", definition)
    priorities: list[float] = []
    acquire = moto_adapters._LAMBDA_LOCK.acquire

    def recording_acquire(chain: str, priority: float = 0.0) -> None:
        priorities.append(priority)
        acquire(chain, priority)

    with mock.patch.object(moto_adapters._LAMBDA_LOCK, "acquire", recording_acquire):
        described = run_execution(sfn, arn, {"n": 1})
        aws("lambda").invoke(FunctionName="echo", Payload=b"{}")  # from outside: by arrival
        arrived = time.time()

    assert described["status"] == "SUCCEEDED"
    assert priorities[0] == pytest.approx(described["startDate"].timestamp(), abs=0.001)
    assert priorities[1] == pytest.approx(arrived, abs=5)
    assert priorities[1] > priorities[0]


def test_lambda_in_process_concurrent_invokes_each_see_their_own_env(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    for name in ("echo-a", "echo-b"):
        local_cloud.register_function(
            name, code_dir=lambda_fixtures / "echo", environment={"GREETING": name}
        )
    lam = aws("lambda")
    results: list[tuple[str, str]] = []

    def call(name: str) -> None:
        payload = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
        results.append((name, payload["greeting"]))

    threads = [threading.Thread(target=call, args=(n,)) for n in ["echo-a", "echo-b"] * 5]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(results) == 10
    assert all(name == greeting for name, greeting in results)


def test_lambda_in_process_leaves_unregistered_functions_to_moto(local_cloud: LocalCloud) -> None:
    import io
    import zipfile

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return 1\n")
    role = aws("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = aws("lambda")
    lam.create_function(
        FunctionName="moto-only",
        Runtime="python3.13",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )

    response = lam.invoke(FunctionName="moto-only", Payload=b'{"echoed": true}')

    # moto's Docker-less backend echoes the payload: the handler did not run here.
    assert json.loads(response["Payload"].read()) == {"echoed": True}


# ------------------------------------------------------------------------------ jsonata
def test_jsonata_workflow_with_assign_choice_map_retry_and_catch(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    for name, folder in (("echo", "echo"), ("flaky", "flaky"), ("fail", "fail")):
        local_cloud.register_function(name, code_dir=lambda_fixtures / folder)
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    ddb.put_item(
        TableName="runs",
        Item={"pk": {"S": "RUN#r-7"}, "sk": {"S": "REQUEST"}, "status": {"S": "REQUESTED"}},
    )
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "jsonata-workflow", "jsonata_workflow.asl.json")
    request = {"run_id": "r-7", "variants": [{"name": "od-1vcpu"}, {"name": "spot-2vcpu"}]}

    started = time.monotonic()
    first = run_execution(sfn, arn, request)
    duplicate = run_execution(sfn, arn, request)
    elapsed = time.monotonic() - started

    result = output(first)
    assert result["runId"] == "r-7"
    assert result["note"] == 'quote " backslash \\ newline \n end'
    assert result["startedBy"] == first["executionArn"]
    assert abs(result["startMillis"] - first["startDate"].timestamp() * 1000) < 5
    assert result["prepared"] == [
        {"variant": {"name": "od-1vcpu"}, "index": 0, "tags": ["r-7", {"nested": "OD-1VCPU"}]},
        {"variant": {"name": "spot-2vcpu"}, "index": 1, "tags": ["r-7", {"nested": "SPOT-2VCPU"}]},
    ]
    assert result["validation"] == {
        "error": "RequestInvalidError",
        "message": "variants missing in r-7",
    }
    item = ddb.get_item(TableName="runs", Key={"pk": {"S": "RUN#r-7"}, "sk": {"S": "REQUEST"}})
    assert item["Item"]["status"] == {"S": "RUNNING"}

    events = history(sfn, first["executionArn"])
    assert entered_states(events) == [
        "Init", "HasVariants", "ClaimRun", "Variants", "Prepare", "Prepare", "Flaky",
        "Validate", "Summarize",
    ]  # fmt: skip
    flaky_attempts = [
        e["type"]
        for e in events
        if e["type"].startswith("Task") and _state_of(events, e) == "Flaky"
    ]
    assert Counter(flaky_attempts)["TaskScheduled"] == 3
    assert Counter(flaky_attempts)["TaskFailed"] == 2
    assert elapsed < 10  # 30 s + 60 s of backoff were not slept (retry_sleep_scale=0)

    assert output(duplicate) == {
        "duplicate": True,
        "error": "DynamoDB.ConditionalCheckFailedException",
    }
    assert entered_states(history(sfn, duplicate["executionArn"]))[-1] == "AlreadyClaimed"


def _state_of(events: list[dict[str, Any]], event: dict[str, Any]) -> str | None:
    """Name of the state an event belongs to (the last state entered before it)."""
    name = None
    for candidate in events:
        if "stateEnteredEventDetails" in candidate:
            name = candidate["stateEnteredEventDetails"]["name"]
        if candidate is event:
            return name
    return None


def test_jsonata_step_functions_functions(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "functions",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Compute",
            "States": {
                "Compute": {
                    "Type": "Pass",
                    "Output": {
                        "partition": "{% $partition([1, 2, 3, 4, 5], 2) %}",
                        "range": "{% $range(0, 10, 5) %}",
                        "hash": "{% $hash('abc', 'SHA-256') %}",
                        "seeded": "{% $random(42) = $random(42) %}",
                        "random": "{% $random() %}",
                        "uuid": "{% $uuid() %}",
                        "parsed": "{% $parse($states.input.json).k %}",
                        "arithmetic": "{% $states.input.n * 2 %}",
                    },
                    "End": True,
                }
            },
        },
    )

    result = output(run_execution(sfn, arn, {"json": '{"k": [1, "two"]}', "n": 21}))

    assert result["partition"] == [[1, 2], [3, 4], [5]]
    assert result["range"] == [0, 5, 10]
    assert result["hash"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert result["seeded"] is True
    assert 0 <= result["random"] < 1
    assert len(result["uuid"]) == 36
    assert result["parsed"] == [1, "two"]
    assert result["arithmetic"] == 42


def test_jsonata_bindings_and_results_are_what_a_json_round_trip_gives() -> None:
    # Bindings and results are converted directly, not through JSON text; the values must
    # be exactly what the text round trip (moto's encoder for bindings) would give.
    import datetime as dt
    import enum

    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    class Colour(enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    class Tagged(dict[str, Any]):
        pass

    class Items(list[Any]):
        pass

    value = {
        "context": {"StartTime": dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)},
        "day": dt.date(2026, 11, 23),
        "nested": [1, 2.5, ("t", None), {"b": True, "nan": float("inf")}],
        "enum": Colour.RED,
        "level": Level.HIGH,
        "keys": {1: "one", None: "none", 2.5: "x"},
        "tagged": Tagged(k=Items([1, {"d": "e"}])),
    }
    converted = moto_adapters._as_json(value, to_json_str)
    assert converted == json.loads(to_json_str(value))
    assert type(converted["tagged"]) is dict
    assert type(converted["tagged"]["k"]) is list
    converted["nested"][3]["b"] = False  # a new tree: the original is untouched
    assert value["nested"][3] == {"b": True, "nan": float("inf")}
    results = [Items([1, "a", {"x": None}]), 3.0, "s", None, {"k": Level.HIGH}]
    assert [moto_adapters._as_json(r) for r in results] == json.loads(json.dumps(results))
    with pytest.raises(TypeError):  # what json.dumps does with a non-JSON result
        moto_adapters._as_json({"f": object()})


def _workflow_jsonata_expressions() -> list[str]:
    definition = (Path(__file__).parents[2] / "statemachines" / "run_workflow.asl.json").read_text()
    found = (match.strip() for match in re.findall(r"\{%(.*?)%\}", definition))
    return [expression for expression in found if "${" not in expression]  # not SAM's


def test_jsonata_bindings_hold_only_what_the_expression_reads() -> None:
    # Only the parts of $states and the variables an expression reads are converted; every
    # expression must still give exactly what it gives with everything converted.
    import datetime as dt

    import jsonata as jsonata_python
    from moto.stepfunctions.parser.asl.jsonata.jsonata import (
        extract_jsonata_variable_references as references_of,
    )
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    started = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    run_input = {
        "name": "run-1",
        "variants": [{"name": "a", "cost": 1}, {"name": "b", "cost": 2}],
        "attributes": {"summary": {"ok": 2}, "cost": {"usd": 0.5}},
        "error": "E", "cause": "C", "Error": "E2", "Cause": "C2", "reason": "r",
        "valid": True, "timeout_seconds": 60, "summary": "s", "status": "RUNNING",
        "job_name": "j", "cost": 0.1, "container_overrides": {"Environment": []},
        "0": "zero",
    }  # fmt: skip
    values = {
        "states": {
            "input": run_input,
            "context": {
                "Execution": {"Id": "arn:x", "Input": run_input, "StartTime": started},
                "State": {"EnteredTime": started, "Name": "Prepare", "RetryCount": 0},
            },
            "result": {
                "Payload": {"request": run_input, "valid": True},
                "JobId": "job-1",
                "Status": "SUCCEEDED",
                "StartedAt": 1,
                "StoppedAt": 2,
                "Attempts": [{"StartedAt": 1, "StoppedAt": 2, "Container": {"ExitCode": 0}}],
            },
            "errorOutput": {"Error": "States.TaskFailed", "Cause": "boom"},
        },
        "run": {"id": "run-1", "variants": ["a", "b"], "tags": {"team": "x"}},
        "unused": {"big": list(range(50))},
    }
    expressions = [
        *_workflow_jsonata_expressions(),
        "$states.input.variants.name",
        "$states.input.variants[0].name",
        "$states.input.variants[cost > 1].name",
        "$keys($states.input)",
        "$states.input.*",
        "$states.input.**.name",
        "$states.input.`name`",
        "$lookup($states.input, 'name')",
        "$states.input.attributes.$keys()",
        "$states.input.attributes.(summary.ok + cost.usd)",
        "$states.input.variants.%.name",
        "$states.input.0",
        "($x := $states.input; $x.name)",
        "$each($states.context.State, function($v, $k) {$k})",
        "$states.context.Execution.StartTime & ' ' & $run.id",
        "$run.variants[1] & $string($run.tags)",
        "$states",
        "$states.input.variants.{'n': name, 'all': $states.context.Execution.Input.name}",
    ]
    assert len(expressions) > 30  # the workflow's own expressions are in the list

    def evaluate(expression: str, bindings: dict[str, Any]) -> Any:
        try:
            result = moto_adapters._evaluate_jsonata(jsonata_python, expression, bindings)
        except Exception as exc:  # both ways must fail alike
            return ("error", str(exc))
        return None if result is None else moto_adapters._plain(result)

    everything = moto_adapters._as_json(values, to_json_str)
    for expression in expressions:
        bindings = moto_adapters._jsonata_bindings(
            values, expression, references_of(expression), to_json_str
        )
        assert evaluate(expression, bindings) == evaluate(expression, everything), expression

    def bindings_for(expression: str) -> dict[str, Any]:
        references = references_of(expression)
        return moto_adapters._jsonata_bindings(values, expression, references, to_json_str)

    # ... and only that was converted.
    assert bindings_for("$states.input.name & $run.id") == {
        "states": {"input": {"name": "run-1"}},
        "run": {"id": "run-1"},
    }
    assert bindings_for("$states.context.State.EnteredTime") == {
        "states": {"context": {"State": {"EnteredTime": started.isoformat()}}}
    }
    assert bindings_for("$states.input.variants.name") == {
        "states": {"input": {"variants": run_input["variants"]}}
    }
    assert bindings_for("$states.input.variants.%.name") == everything


def test_jsonata_outer_variables_are_read_only_inside_a_map(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    inner = {"Type": "Pass", "Assign": {"total": "{% $total + $states.input %}"}, "End": True}
    arn = create_state_machine(
        sfn,
        "scopes",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Init",
            "States": {
                "Init": {"Type": "Pass", "Assign": {"total": 0}, "Next": "Add"},
                "Add": {
                    "Type": "Map",
                    "Items": [1, 2],
                    "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": inner}},
                    "End": True,
                },
            },
        },
    )

    assert run_execution(sfn, arn, {})["status"] == "FAILED"


def test_jsonata_evaluation_error_is_a_catchable_query_evaluation_error(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "bad-expression",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Divide",
            "States": {
                "Divide": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:getItem",
                    "Arguments": {"TableName": "{% 'runs-' & $number($states.input.size) %}"},
                    "Catch": [
                        {
                            "ErrorEquals": ["States.QueryEvaluationError"],
                            "Output": {"caught": "{% $states.errorOutput.Error %}"},
                            "Next": "Caught",
                        }
                    ],
                    "End": True,
                },
                "Caught": {"Type": "Succeed"},
            },
        },
    )

    described = run_execution(sfn, arn, {"size": "large"})

    assert output(described) == {"caught": "States.QueryEvaluationError"}
    types = [e["type"] for e in history(sfn, described["executionArn"])]
    assert "EvaluationFailed" in types


def test_jsonata_timeout_seconds_from_an_expression_times_the_task_out(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    local_cloud.register_function("slow", code_dir=lambda_fixtures / "slow", timeout=10)
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "timeout",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Slow",
            "States": {
                "Slow": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": {"FunctionName": "slow", "Payload": {"sleep": 3}},
                    "TimeoutSeconds": "{% $states.input.limit %}",
                    "End": True,
                }
            },
        },
    )

    described = run_execution(sfn, arn, {"limit": 1})

    assert (described["status"], described["error"]) == ("FAILED", "States.Timeout")


# -------------------------------------------------------------------------- retry_sleep
def test_retry_sleep_scale_shortens_waits_but_history_keeps_every_attempt(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    local_cloud.register_function("flaky", code_dir=lambda_fixtures / "flaky")
    local_cloud.retry_sleep_scale = 0.01  # IntervalSeconds 20 -> 0.2 s, then 0.4 s
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "retry",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Flaky",
            "States": {
                "Flaky": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": {"FunctionName": "flaky", "Payload": {"succeed_on": 3}},
                    "Retry": [
                        {
                            "ErrorEquals": ["TransientError"],
                            "IntervalSeconds": 20,
                            "BackoffRate": 2.0,
                            "MaxAttempts": 5,
                        }
                    ],
                    "Output": "{% $states.result.Payload %}",
                    "End": True,
                }
            },
        },
    )

    started = time.monotonic()
    described = run_execution(sfn, arn, {})
    elapsed = time.monotonic() - started

    assert output(described) == {"calls": 3}
    assert 0.5 < elapsed < 5
    types = Counter(e["type"] for e in history(sfn, described["executionArn"]))
    assert (types["TaskScheduled"], types["TaskFailed"], types["TaskSucceeded"]) == (3, 2, 1)


# -------------------------------------------------------------------------- batch_local
def test_batch_local_sync_runs_each_job_as_a_process_and_returns_the_job_detail(
    local_cloud: LocalCloud, job_program: Path, tmp_path: Path
) -> None:
    batch = aws("batch")
    create_batch_environment(batch, job_program)
    local_cloud.batch_env["LOCAL_ONLY"] = "1"
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "batch-variants", "batch_variants.asl.json")
    variants = [
        {"name": "od-1vcpu", "queue": "spot", "exit_code": 0},
        {"name": "spot-2vcpu", "queue": "spot", "exit_code": 7},
    ]

    before_ms = int(time.time() * 1000)
    succeeded, failed = output(run_execution(sfn, arn, {"variants": variants}))
    after_ms = int(time.time() * 1000)

    # The .sync result is DescribeJobs' job detail in PascalCase, as on AWS.
    assert succeeded["Status"] == "SUCCEEDED"
    assert succeeded["JobName"] == "variant-od-1vcpu"
    assert succeeded["JobQueue"].endswith(":job-queue/spot")
    assert succeeded["Container"]["ExitCode"] == 0
    assert succeeded["Tags"] == {"run-id": "run-1", "variant": "od-1vcpu"}
    assert succeeded["PropagateTags"] is True
    assert before_ms <= succeeded["CreatedAt"] <= succeeded["StartedAt"] <= succeeded["StoppedAt"]
    assert succeeded["StoppedAt"] <= after_ms
    (attempt,) = succeeded["Attempts"]
    assert attempt["Container"]["ExitCode"] == 0
    assert attempt["Container"]["LogStreamName"].startswith("variant-job/default/")
    assert attempt["StartedAt"] <= attempt["StoppedAt"]
    environment = {e["Name"]: e["Value"] for e in succeeded["Container"]["Environment"]}
    assert environment["WORKLOAD"] == "kmer"  # job definition
    assert environment["VARIANT"] == "od-1vcpu"  # ContainerOverrides
    assert environment["MANAGED_BY_AWS"] == "STARTED_BY_STEP_FUNCTIONS"

    # A FAILED job fails the task with States.TaskFailed and the job detail as Cause.
    assert failed["error"] == "States.TaskFailed"
    assert failed["job"]["Status"] == "FAILED"
    assert failed["job"]["Container"]["ExitCode"] == 7
    assert failed["job"]["Tags"]["variant"] == "spot-2vcpu"

    # The process ran in the configured directory with the merged environment.
    record = json.loads((tmp_path / "od-1vcpu.jsonl").read_text().splitlines()[0])
    assert record["cwd"] == str(tmp_path)
    assert record["env"]["AWS_BATCH_JOB_ID"] == succeeded["JobId"]
    assert record["env"]["AWS_BATCH_JQ_NAME"] == "spot"
    assert record["env"]["AWS_BATCH_CE_NAME"] == "fargate-spot"

    # DescribeJobs reports the same jobs.
    described = {j["jobName"]: j for j in batch.describe_jobs(jobs=[succeeded["JobId"]])["jobs"]}
    assert described["variant-od-1vcpu"]["status"] == "SUCCEEDED"
    assert described["variant-od-1vcpu"]["tags"] == {"run-id": "run-1", "variant": "od-1vcpu"}
    logs = aws("logs").get_log_events(
        logGroupName="/aws/batch/job", logStreamName=attempt["Container"]["LogStreamName"]
    )
    assert logs["events"][0]["message"] == f"job {succeeded['JobId']} attempt 1"


@pytest.mark.parametrize(
    ("fail_code", "expected_status", "expected_attempts"),
    [
        pytest.param("3", "SUCCEEDED", 2, id="exit-3-matches-RETRY"),
        pytest.param("99", "FAILED", 1, id="exit-99-matches-EXIT-glob"),
        pytest.param("4", "FAILED", 3, id="exit-4-matches-nothing-so-retried"),
    ],
)
def test_batch_local_retry_strategy_follows_evaluate_on_exit(
    local_cloud: LocalCloud,
    job_program: Path,
    fail_code: str,
    expected_status: str,
    expected_attempts: int,
) -> None:
    batch = aws("batch")
    strategy = {
        "attempts": 3,
        "evaluateOnExit": [
            {"onExitCode": "9*", "action": "EXIT"},
            {"onExitCode": "3", "action": "RETRY"},
            {"onReason": "CannotStart*", "action": "EXIT"},
        ],
    }
    create_batch_environment(batch, job_program, retry_strategy=strategy)
    fail_attempts = "1" if fail_code == "3" else "10"

    job_id = batch.submit_job(
        jobName="retry-me",
        jobQueue="spot",
        jobDefinition="variant-job",
        containerOverrides={
            "environment": [
                {"name": "FAIL_ATTEMPTS", "value": fail_attempts},
                {"name": "FAIL_CODE", "value": fail_code},
            ]
        },
        tags={"run-id": "run-2"},
    )["jobId"]
    job = wait_for_job(batch, job_id)

    assert job["status"] == expected_status
    assert len(job["attempts"]) == expected_attempts
    codes = [a["container"]["exitCode"] for a in job["attempts"]]
    assert codes[0] == int(fail_code)
    assert job["tags"] == {"run-id": "run-2"}


def test_batch_local_runs_at_most_max_running_jobs_and_the_rest_wait_runnable(
    local_cloud: LocalCloud, job_program: Path
) -> None:
    local_cloud.max_running_jobs = 1
    batch = aws("batch")
    create_batch_environment(batch, job_program)
    sleep = {"environment": [{"name": "SLEEP_SECONDS", "value": "0.3"}]}
    job_ids = [
        batch.submit_job(
            jobName=f"queued-{n}",
            jobQueue="spot",
            jobDefinition="variant-job",
            containerOverrides=sleep,
        )["jobId"]
        for n in range(3)
    ]
    time.sleep(0.15)  # the first job is running by now
    waiting = [j["status"] for j in batch.describe_jobs(jobs=job_ids)["jobs"]]
    assert sorted(waiting) == ["RUNNABLE", "RUNNABLE", "RUNNING"]

    jobs = [wait_for_job(batch, job_id) for job_id in job_ids]
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 3
    spans = sorted((job["startedAt"], job["stoppedAt"]) for job in jobs)
    for (_, first_stopped), (second_started, _) in itertools.pairwise(spans):
        assert second_started >= first_stopped  # one at a time


def test_batch_local_sync_describes_each_job_once_when_it_ends(
    local_cloud: LocalCloud, job_program: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.batch.models import BatchBackend

    local_cloud.max_running_jobs = 1  # the second and third jobs wait RUNNABLE
    local_cloud.batch_env["SLEEP_SECONDS"] = "0.3"
    create_batch_environment(aws("batch"), job_program)
    described: list[str] = []
    describe_jobs = BatchBackend.describe_jobs

    def counting(self: Any, jobs: list[str] | None) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = describe_jobs(self, jobs)
        described.extend(job["status"] for job in answer)
        return answer

    monkeypatch.setattr(BatchBackend, "describe_jobs", counting)
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "batch-described", "batch_variants.asl.json")
    variants = [{"name": f"v{n}", "queue": "spot", "exit_code": 0} for n in range(3)]

    results = output(run_execution(sfn, arn, {"variants": variants}))

    assert [result["Status"] for result in results] == ["SUCCEEDED"] * 3
    assert described == ["SUCCEEDED"] * 3  # never while queued or running


def test_batch_local_injected_exit_codes_replace_matching_attempts_only(
    local_cloud: LocalCloud, job_program: Path
) -> None:
    batch = aws("batch")
    strategy = {"attempts": 3, "evaluateOnExit": [{"onExitCode": "75", "action": "RETRY"}]}
    create_batch_environment(batch, job_program, retry_strategy=strategy)
    local_cloud.inject_job_exit({"variant": "flaky"}, [75, 75])

    def submit(variant: str) -> dict[str, Any]:
        job_id = batch.submit_job(
            jobName=variant,
            jobQueue="spot",
            jobDefinition="variant-job",
            tags={"run-id": "run-3", "variant": variant},
        )["jobId"]
        return wait_for_job(batch, job_id)

    flaky, steady = submit("flaky"), submit("steady")
    # Attempts 1 and 2 exit 75 (RETRY); attempt 3 runs the real command, which succeeds.
    assert [a["container"]["exitCode"] for a in flaky["attempts"]] == [75, 75, 0]
    assert flaky["status"] == "SUCCEEDED"
    # A job whose tags do not match is untouched.
    assert [a["container"]["exitCode"] for a in steady["attempts"]] == [0]


def test_batch_local_attempt_timeout_kills_the_process_and_is_not_retried(
    local_cloud: LocalCloud, job_program: Path
) -> None:
    batch = aws("batch")
    create_batch_environment(batch, job_program, retry_strategy={"attempts": 3}, timeout_seconds=1)

    started = time.monotonic()
    job_id = batch.submit_job(
        jobName="too-slow",
        jobQueue="spot",
        jobDefinition="variant-job",
        containerOverrides={"environment": [{"name": "SLEEP_SECONDS", "value": "60"}]},
    )["jobId"]
    job = wait_for_job(batch, job_id)

    assert time.monotonic() - started < 10
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "Job attempt duration exceeded timeout"
    assert len(job["attempts"]) == 1


# -------------------------------------------------------------------------- mock_config
def test_mock_config_runs_test_cases_from_the_sfn_mock_config_file(
    aws_credentials: None, mock_config_file: Path
) -> None:
    with mock_aws(), local_aws(mock_config_file=mock_config_file):
        assert os.environ["SFN_MOCK_CONFIG"] == str(mock_config_file)
        sfn = aws("stepfunctions")
        arn = create_state_machine(sfn, "MockedRun", "mocked_run.asl.json")
        request = {"variants": ["a", "b"]}

        happy = run_execution(sfn, f"{arn}#HappyPath", request)
        throttled = run_execution(sfn, f"{arn}#ThrottledThenOk", request)
        job_fails = run_execution(sfn, f"{arn}#JobFails", request)
        with pytest.raises(sfn.exceptions.InvalidName, match="NoSuchCase"):
            sfn.start_execution(stateMachineArn=f"{arn}#NoSuchCase", input="{}")
        throttled_events = history(sfn, throttled["executionArn"])

    assert output(happy) == {"variants": 2, "job": "mock-job-1", "exit": 0}
    assert output(throttled) == {"variants": 3, "job": "mock-job-1", "exit": 0}
    assert Counter(e["type"] for e in throttled_events)["TaskFailed"] == 2
    assert (job_fails["status"], job_fails["error"], job_fails["cause"]) == (
        "FAILED",
        "JobFailed",
        "mock-job-2",
    )


def test_mock_config_numbers_responses_across_map_iterations_and_retries(
    aws_credentials: None, mock_config_file: Path
) -> None:
    # As on Step Functions Local, the Nth invocation of a state in an execution gets
    # response N; moto alone numbers by retry count, so every iteration would get "0".
    with mock_aws(), local_aws(mock_config_file=mock_config_file):
        sfn = aws("stepfunctions")
        arn = create_state_machine(sfn, "MockedMap", "mocked_map.asl.json")
        done = run_execution(sfn, f"{arn}#ThreeItems", {"items": [1, 2, 3]})
        events = history(sfn, done["executionArn"])

    assert output(done) == ["first", "second", "third"]
    failed = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failed == ["Lambda.TooManyRequestsException"]  # item 2, retried once


# ------------------------------------------------------------------------- server mode
def test_the_local_server_looks_for_a_stop_request_every_50_ms_not_every_half_second() -> None:
    # In a fresh interpreter: moto's state is process-wide, and this module's server is up.
    script = (
        "import json, socketserver\n"
        "seen = []\n"
        "serve = socketserver.BaseServer.serve_forever\n"
        "def spy(self, poll_interval=0.5):\n"
        "    seen.append(poll_interval)\n"
        "    serve(self, poll_interval)\n"
        "socketserver.BaseServer.serve_forever = spy\n"
        "from runledger_local.moto_adapters import moto_server\n"
        "with moto_server() as url:\n"
        "    pass\n"
        "print(json.dumps(seen))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    # werkzeug's default, 0.5 s, was how long every stop of the local cloud waited.
    assert json.loads(done.stdout) == [moto_adapters.SERVER_POLL_SECONDS]
    assert moto_adapters.SERVER_POLL_SECONDS <= 0.05


def test_server_mode_runs_lambda_and_batch_tasks_against_a_threaded_moto_server(
    server_cloud: LocalCloud, moto_endpoint: str, lambda_fixtures: Path, job_program: Path
) -> None:
    server_cloud.register_function("echo", code_dir=lambda_fixtures / "echo")
    s3 = aws("s3", moto_endpoint)
    s3.create_bucket(Bucket="results")
    batch = aws("batch", moto_endpoint)
    create_batch_environment(batch, job_program, endpoint_url=moto_endpoint)
    server_cloud.batch_env["S3_BUCKET"] = "results"
    sfn = aws("stepfunctions", moto_endpoint)
    arn = create_state_machine(
        sfn,
        "server-mode",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Prepare",
            "States": {
                "Prepare": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": {"FunctionName": "echo", "Payload": "{% $states.input %}"},
                    "Output": {
                        "variant": "{% $states.result.Payload.event.variant %}",
                        "endpoint": "{% $states.result.Payload.endpoint_url %}",
                    },
                    "Next": "RunJob",
                },
                "RunJob": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::batch:submitJob.sync",
                    "Arguments": {
                        "JobName": "server-job",
                        "JobQueue": "spot",
                        "JobDefinition": "variant-job",
                        "ContainerOverrides": {
                            "Environment": [
                                {"Name": "VARIANT", "Value": "{% $states.input.variant %}"}
                            ]
                        },
                    },
                    "Output": {
                        "status": "{% $states.result.Status %}",
                        "endpoint": "{% $states.input.endpoint %}",
                    },
                    "End": True,
                },
            },
        },
    )

    result = output(run_execution(sfn, arn, {"variant": "od-2vcpu"}))

    assert result == {"status": "SUCCEEDED", "endpoint": moto_endpoint}  # the handler's env
    body = json.loads(s3.get_object(Bucket="results", Key="od-2vcpu.json")["Body"].read())
    assert body == {"variant": "od-2vcpu", "attempt": 1}


# ---------------------------------------------------------------------- asl_parse_cache
def test_asl_parse_cache_builds_a_definition_once_with_every_heap_key_set(
    local_cloud: LocalCloud,
) -> None:
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.parse.asl_parser import (
        AmazonStateLanguageParser,
        ASLParserException,
    )

    definition = (STATEMACHINES / "jsonata_workflow.asl.json").read_text()
    first_program, first_tree = AmazonStateLanguageParser.parse(definition)
    second_program, second_tree = AmazonStateLanguageParser.parse(definition)
    assert second_tree is first_tree
    assert second_program is first_program
    components = _components(first_program, EvalComponent)
    assert len(components) > 50  # the walk reached the Map's inner states too
    assert all(c._EvalComponent__heap_key is not None for c in components)
    with pytest.raises(ASLParserException):
        AmazonStateLanguageParser.parse('{"StartAt": "P", "States": {"P": {"Type": "Nope"}}}')


def test_asl_parse_cache_parses_each_jsonpath_once(local_cloud: LocalCloud) -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    # The parse ResultPath and extract_json use is a cache that answers one object per path.
    assert result_path.parse("$.result") is result_path.parse("$.result")
    assert json_path.parse("$.items[*].id") is json_path.parse("$.items[*].id")
    # ... and the shared parsed paths still read and write each execution's own data.
    assert json_path.extract_json("$.items[*].id", {"items": [{"id": 1}, {"id": 2}]}) == [1, 2]
    assert json_path.extract_json("$.items[*].id", {"items": [{"id": 3}]}) == [3]
    sfn = aws("stepfunctions")
    definition = {
        "StartAt": "Keep",
        "States": {
            "Keep": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.kept", "End": True}
        },
    }
    arn = create_state_machine(sfn, "result-path", definition)
    for tag in ("a", "b"):
        assert output(run_execution(sfn, arn, {"tag": tag})) == {"tag": tag, "kept": {"n": 1}}


def test_asl_parse_cache_fails_loudly_when_the_engine_stops_importing_parse(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    monkeypatch.setattr(result_path, "parse", lambda string: None)

    with pytest.raises(AdaptationBrokenError, match="'asl_parse_cache'"), local_aws():
        pass


def test_asl_parse_cache_concurrent_executions_of_one_program_stay_independent(
    local_cloud: LocalCloud,
) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Map",
                "Items": "{% $states.input.values %}",
                "MaxConcurrency": 2,
                "ItemProcessor": {
                    "StartAt": "Times",
                    "States": {
                        "Times": {
                            "Type": "Pass",
                            "Output": "{% $states.input * 2 %}",
                            "Next": "Wait",
                        },
                        "Wait": {"Type": "Wait", "Seconds": 0, "End": True},
                    },
                },
                "Assign": {"tag": "{% $states.input.tag %}"},
                "Output": "{% {'tag': $tag, 'doubled': $states.result} %}",
                "End": True,
            }
        },
    }
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "shared-program", definition)
    inputs = [{"tag": f"t{n}", "values": list(range(n, n + 5))} for n in range(12)]
    arns = [
        sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
        for payload in inputs
    ]
    outputs = []
    for execution_arn in arns:
        deadline = time.monotonic() + 20
        while (described := sfn.describe_execution(executionArn=execution_arn))[
            "status"
        ] == "RUNNING":
            assert time.monotonic() < deadline, execution_arn
            time.sleep(0.02)
        outputs.append(output(described))
    assert outputs == [
        {"tag": payload["tag"], "doubled": [2 * v for v in payload["values"]]} for payload in inputs
    ]


def _components(root: Any, component_class: type) -> list[Any]:
    found, seen, stack = [], set(), [root]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, component_class):
            found.append(value)
        if type(value).__module__.startswith("moto.stepfunctions") and hasattr(value, "__dict__"):
            stack.extend(vars(value).values())
        elif isinstance(value, list | tuple | dict):
            stack.extend(value.values() if isinstance(value, dict) else value)
    return found


# ---------------------------------------------------------------------- fast_responses
def test_fast_responses_answer_exactly_what_motos_serializer_would(
    server_cloud: LocalCloud, moto_endpoint: str
) -> None:
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.stepfunctions.responses import StepFunctionResponse

    compared: list[tuple[str, Any, Any]] = []

    def spy(handler: type) -> Any:
        fast = handler.serialized

        def serialized(self: Any, result: Any) -> Any:
            answer = fast(self, result)
            _, _, reference = BaseResponse.serialized(self, result)  # moto's own serializer
            compared.append((self._get_action(), json.loads(answer[2]), json.loads(reference)))
            return answer

        return serialized

    with pytest.MonkeyPatch.context() as patch:
        for handler in (DynamoHandler, DynamoDBStreamsHandler, StepFunctionResponse):
            patch.setattr(handler, "serialized", spy(handler))
        dynamodb = aws("dynamodb", moto_endpoint)
        table = dynamodb.create_table(TableName="wire", **table_schema())["TableDescription"]
        item = {
            "pk": {"S": "RUN#1"},
            "sk": {"S": "REQUEST"},
            "n": {"N": "1.5"},
            "blob": {"B": b"\x00\xffbytes"},
            "list": {"L": [{"NULL": True}, {"BOOL": False}, {"NS": ["1", "2"]}]},
            "map": {"M": {"ss": {"SS": ["a", "b"]}, "bs": {"BS": [b"x"]}}},
        }
        key = {"pk": item["pk"], "sk": item["sk"]}
        dynamodb.put_item(TableName="wire", Item=item)
        dynamodb.update_item(
            TableName="wire",
            Key=key,
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "2"}},
            ReturnValues="ALL_NEW",
        )
        dynamodb.get_item(TableName="wire", Key=key)
        dynamodb.query(
            TableName="wire",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": item["pk"]},
            ReturnConsumedCapacity="TOTAL",
        )
        dynamodb.scan(TableName="wire", Limit=1)
        dynamodb.batch_get_item(RequestItems={"wire": {"Keys": [key]}})
        dynamodb.delete_item(TableName="wire", Key=key, ReturnValues="ALL_OLD")
        streams = aws("dynamodbstreams", moto_endpoint)
        arn = table["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        sfn = aws("stepfunctions", moto_endpoint)
        machine = create_state_machine(
            sfn,
            "wire",
            {
                "QueryLanguage": "JSONata",
                "StartAt": "Each",
                "States": {
                    "Each": {
                        "Type": "Map",
                        "Items": "{% $states.input.items %}",
                        "ItemProcessor": {
                            "StartAt": "Double",
                            "States": {
                                "Double": {
                                    "Type": "Pass",
                                    "Output": "{% $states.input * 2 %}",
                                    "End": True,
                                }
                            },
                        },
                        "Next": "Stop",
                    },
                    "Stop": {"Type": "Fail", "Error": "Wire.Error", "Cause": "to compare"},
                },
            },
        )
        failed = run_execution(sfn, machine, {"items": [1, 2, 3]})
        events = history(sfn, failed["executionArn"])

    assert failed["status"] == "FAILED"
    assert events[-1]["executionFailedEventDetails"]["error"] == "Wire.Error"
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert records[0]["dynamodb"]["NewImage"]["blob"] == {"B": b"\x00\xffbytes"}
    fast_paths = {op for ops in moto_adapters._WIRE_SHAPED.values() for op in ops}
    assert {action for action, _, _ in compared} >= fast_paths  # each one exercised
    for action, fast, reference in compared:
        assert fast == reference, action


def test_fast_responses_build_a_rest_router_once_for_concurrent_first_requests(
    local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core import routing

    routing.get_service_router.cache_clear()  # as if no Lambda request was routed yet
    built = Counter[str]()
    original_init = routing.RestRouter.__init__

    def counting_init(self: Any, service: Any) -> None:
        built[service.service_name] += 1
        original_init(self, service)

    monkeypatch.setattr(routing.RestRouter, "__init__", counting_init)
    clients = [aws("lambda") for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    answers: list[Any] = []

    def first_request(client: Any) -> None:
        barrier.wait()
        answers.append(client.list_functions()["Functions"])

    threads = [threading.Thread(target=first_request, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [[]] * len(clients)
    assert built == {"lambda": 1}


def test_fast_responses_list_a_response_classs_methods_once(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto.core.responses as responses

    listed: Counter[str] = Counter()
    original = responses.method_names_from_class

    def method_names_from_class(clazz: type) -> list[str]:
        listed[clazz.__name__] += 1
        return original(clazz)

    monkeypatch.setattr(responses, "method_names_from_class", method_names_from_class)
    with mock_aws(), local_aws(adapters=["fast_responses"]):
        dynamodb = aws("dynamodb")
        dynamodb.create_table(TableName="names", **table_schema())
        for n in range(5):
            dynamodb.put_item(TableName="names", Item={"pk": {"S": f"{n}"}, "sk": {"S": "x"}})
        assert len(dynamodb.scan(TableName="names")["Items"]) == 5

    assert listed == {"DynamoHandler": 1}


def test_fast_responses_projection_returns_only_the_projected_paths(
    local_cloud: LocalCloud,
) -> None:
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    key = {"pk": {"S": "RUN#p"}, "sk": {"S": "REQUEST"}}
    ddb.put_item(
        TableName="runs",
        Item={
            **key,
            "status": {"S": "RUNNING"},
            "cost": {"M": {"total": {"N": "1.5"}, "by_service": {"M": {"batch": {"N": "1"}}}}},
            "variants": {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]},
            "big": {"S": "x" * 1000},
        },
    )

    def projected(expression: str, names: dict[str, str] | None = None) -> dict[str, Any]:
        extra = {"ExpressionAttributeNames": names} if names else {}
        answer = ddb.get_item(TableName="runs", Key=key, ProjectionExpression=expression, **extra)
        return dict(answer["Item"])

    assert projected("pk, #s", {"#s": "status"}) == {"pk": key["pk"], "status": {"S": "RUNNING"}}
    assert projected("cost.by_service.batch") == {
        "cost": {"M": {"by_service": {"M": {"batch": {"N": "1"}}}}}
    }
    assert projected("variants[1], #c.total", {"#c": "cost"}) == {
        "variants": {"L": [{"S": "b"}]},
        "cost": {"M": {"total": {"N": "1.5"}}},
    }
    assert projected("absent") == {}
    statuses = ddb.batch_get_item(
        RequestItems={
            "runs": {
                "Keys": [key],
                "ProjectionExpression": "#s",
                "ExpressionAttributeNames": {"#s": "status"},
            }
        }
    )["Responses"]["runs"]
    assert statuses == [{"status": {"S": "RUNNING"}}]


# ----------------------------------------------------------------------- dynamodb_atomic
def test_dynamodb_atomic_reads_never_see_an_item_another_thread_is_writing(
    local_cloud: LocalCloud,
) -> None:
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    key = {"pk": {"S": "RUN#w"}, "sk": {"S": "REQUEST"}}
    base = {f"a{n}": {"S": "x"} for n in range(60)}
    ddb.put_item(TableName="runs", Item={**key, **base})
    stop = threading.Event()

    def write() -> None:
        writer, n = aws("dynamodb"), 0
        while not stop.is_set():
            n += 1
            names = {"#b": f"b{n % 20}", "#c": f"c{n % 20}"}
            for expression in ("SET #b = :v, #c = :v", "REMOVE #b, #c"):
                writer.update_item(
                    TableName="runs",
                    Key=key,
                    UpdateExpression=expression,
                    ExpressionAttributeNames=names,
                    **(
                        {"ExpressionAttributeValues": {":v": {"S": "y"}}}
                        if ":v" in expression
                        else {}
                    ),
                )

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    writer = threading.Thread(target=write)
    writer.start()
    seen = []
    try:
        for _ in range(250):  # without the adaptation: dozens fail (RuntimeError)
            item = ddb.get_item(TableName="runs", Key=key)["Item"]
            seen.append(len(item) - len(base) - 2)
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(previous)
    assert set(seen) <= {0, 2}  # both new attributes or neither: never one of them


# ---------------------------------------------------------------------------------- leaks
def test_leaks_finished_threads_and_reset_backends_are_let_go(aws_credentials: None) -> None:
    from moto.ec2 import ec2_backends
    from moto.ec2.models.subnets import Subnet
    from moto.stepfunctions.parser.utils import TMP_THREADS

    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    with mock_aws(), local_aws():
        sfn = aws("stepfunctions")
        arn = create_state_machine(sfn, "leaks", definition)
        for n in range(10):
            output(run_execution(sfn, arn, {"n": n}))
        # moto registered the last execution's threads and never drops them ...
        finished = [thread for thread in TMP_THREADS if not thread.is_alive()]
        registered = len(TMP_THREADS)
        output(run_execution(sfn, arn, {"n": "last"}))
        ec2 = aws("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet_id)
        backend = ec2_backends["123456789012"][REGION]
        cloud_subnet = weakref.ref(backend.get_subnet(subnet_id))
        del backend
        assert Subnet._base_avail_ip_iterator.cache_info().currsize > 0  # the IP was cached
    # ... but each start (and the end) forgot the finished ones: not one per execution.
    assert finished
    assert registered < 10
    assert TMP_THREADS == []
    gc.collect()
    assert cloud_subnet() is None  # moto's method cache no longer holds the reset subnet


def test_fast_responses_check_an_items_size_once_and_still_refuse_a_large_item(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    checks = Counter[str]()
    original = LimitedSizeDict.__setitem__

    def counted(self: LimitedSizeDict, key: str, value: Any) -> None:
        checks[key] += 1
        original(self, key, value)

    monkeypatch.setattr(LimitedSizeDict, "__setitem__", counted)
    attrs = {f"a{n:02d}": {"M": {"n": {"N": str(n)}, "s": {"SS": ["x", "y"]}}} for n in range(40)}
    with mock_aws(), local_aws(adapters=["fast_responses"]):
        item = Item(DynamoType({"S": "RUN#1"}), DynamoType({"S": "REQUEST"}), attrs)
        # one size check, made as the last attribute is set, instead of one per attribute
        assert checks == {"a39": 1}
        assert list(item.attrs) == list(attrs)
        assert item.to_json()["Attributes"] == attrs

        ddb = aws("dynamodb")
        create_runs_table(ddb)
        key = {"pk": {"S": "RUN#1"}, "sk": {"S": "REQUEST"}}
        ddb.put_item(TableName="runs", Item={**key, **attrs})
        assert ddb.get_item(TableName="runs", Key=key)["Item"] == {**key, **attrs}
        # moto's limit, 405,000 bytes, still holds for the item as a whole
        chunk = "x" * 100_000
        ddb.put_item(TableName="runs", Item={**key, **{f"c{n}": {"S": chunk} for n in range(4)}})
        with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
            ddb.put_item(
                TableName="runs", Item={**key, **{f"c{n}": {"S": chunk} for n in range(5)}}
            )


def test_fast_responses_parse_an_update_expression_once_and_apply_it_to_each_item(
    local_cloud: LocalCloud,
) -> None:
    from botocore.exceptions import ClientError
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    expression = "SET #s = :s, n = if_not_exists(n, :zero) + :one REMOVE gone"
    assert UpdateExpressionParser.make(expression) is UpdateExpressionParser.make(expression)
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    for pk in ("RUN#a", "RUN#b"):
        ddb.put_item(
            TableName="runs", Item={"pk": {"S": pk}, "sk": {"S": "REQUEST"}, "gone": {"S": "x"}}
        )
    for pk, status, times in (("RUN#a", "one", 1), ("RUN#b", "two", 2), ("RUN#a", "three", 1)):
        for _ in range(times):
            ddb.update_item(
                TableName="runs",
                Key={"pk": {"S": pk}, "sk": {"S": "REQUEST"}},
                UpdateExpression=expression,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":s": {"S": status},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                },
            )
    items = {
        item["pk"]["S"]: item
        for item in ddb.scan(TableName="runs")["Items"]  # the shared tree kept no values
    }
    assert items["RUN#a"] == {
        "pk": {"S": "RUN#a"},
        "sk": {"S": "REQUEST"},
        "status": {"S": "three"},
        "n": {"N": "2"},
    }
    assert items["RUN#b"]["status"] == {"S": "two"}
    assert items["RUN#b"]["n"] == {"N": "2"}
    for _ in range(2):  # a bad expression is not cached: it fails every time
        with pytest.raises(ClientError, match="ValidationException"):
            ddb.update_item(
                TableName="runs",
                Key={"pk": {"S": "RUN#a"}, "sk": {"S": "REQUEST"}},
                UpdateExpression="SET = :s",
                ExpressionAttributeValues={":s": {"S": "x"}},
            )


def test_fast_responses_projection_reads_an_item_another_thread_is_updating(
    local_cloud: LocalCloud,
) -> None:
    # A status poll projects the REQUEST item while the workflow's UpdateItem adds
    # attributes to it: the projection must not iterate the live attribute dict.
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    item = Item(
        DynamoType({"S": "RUN#p"}),
        DynamoType({"S": "REQUEST"}),
        {f"a{n}": {"S": "x"} for n in range(50)} | {"status": {"S": "RUNNING"}},
    )
    stop = threading.Event()

    def update() -> None:
        while not stop.is_set():
            item.attrs["extra"] = DynamoType({"S": "y"})
            item.attrs.pop("extra", None)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    writer = threading.Thread(target=update)
    writer.start()
    try:
        for _ in range(3000):
            assert item.project([["status"]]).attrs == {"status": DynamoType({"S": "RUNNING"})}
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(previous)


# ------------------------------------------------------------------------- json_copies
def test_json_copies_copy_json_trees_independently_and_leave_the_rest_to_deepcopy() -> None:
    import datetime as dt

    from moto.stepfunctions.parser.api import HistoryEventType

    class Tagged(dict[str, Any]):
        pass

    moment = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    tagged = Tagged(k=[1])
    value = {
        "a": [1, 2.5, {"b": "x", "c": None, "d": True}],
        "when": moment,
        "type": HistoryEventType.TaskStateEntered,
        "tagged": tagged,
    }

    copied = moto_adapters._json_copy(value)
    copied["a"][2]["b"] = "changed"
    copied["a"].append(3)
    copied["tagged"]["k"].append(2)

    assert value["a"] == [1, 2.5, {"b": "x", "c": None, "d": True}]
    assert copied["when"] == moment
    assert copied["type"] is HistoryEventType.TaskStateEntered
    assert type(copied["tagged"]) is Tagged
    assert tagged == {"k": [1]}


def test_json_copies_fail_loudly_when_an_engine_module_stops_importing_copy(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.eval import states

    monkeypatch.setattr(states, "copy", object())

    with pytest.raises(AdaptationBrokenError, match="'json_copies'"), local_aws():
        pass


# ---------------------------------------------------------------------------- loopback
def test_loopback_serves_this_processs_requests_to_the_server_without_a_socket(
    aws_credentials: None,
) -> None:
    from botocore.config import Config
    from botocore.exceptions import ClientError, EndpointConnectionError

    # Nothing listens on this port: only an in-process answer can succeed.
    silent = f"http://127.0.0.1:{moto_adapters._free_port('127.0.0.1')}"
    elsewhere = f"http://127.0.0.1:{moto_adapters._free_port('127.0.0.1')}"
    with mock_aws(), local_aws(adapters=["loopback"], endpoint_url=silent):
        dynamodb = aws("dynamodb", silent)
        dynamodb.create_table(TableName="loop", **table_schema())
        key = {"pk": {"S": "RUN#1"}, "sk": {"S": "REQUEST"}}
        dynamodb.put_item(TableName="loop", Item={**key, "n": {"N": "1"}})
        # The ASL engine calls http://localhost:$MOTO_PORT: the same server.
        same_server = aws("dynamodb", silent.replace("127.0.0.1", "localhost"))
        item = same_server.get_item(TableName="loop", Key=key)["Item"]
        with pytest.raises(ClientError) as missing:
            dynamodb.get_item(TableName="absent", Key=key)
        s3 = aws("s3", silent)  # REST, path-style, a streamed answer
        s3.create_bucket(Bucket="loop")
        odd_key = "a/b c+d%2F é.txt"  # moto must see the undecoded path, as from a socket
        s3.put_object(Bucket="loop", Key=odd_key, Body=b"\x00bytes")
        body = s3.get_object(Bucket="loop", Key=odd_key)["Body"].read()
        head = s3.head_object(Bucket="loop", Key=odd_key)
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="loop", Prefix="a/")["Contents"]]
        once = Config(retries={"total_max_attempts": 1})
        misrouted = boto3.client("dynamodb", endpoint_url=f"{silent}/no/such/route", config=once)
        with pytest.raises(ClientError) as unrouted:  # answered by the server's own app
            misrouted.list_tables()
        with pytest.raises(EndpointConnectionError):  # another port goes over the network
            boto3.client("dynamodb", endpoint_url=elsewhere, config=once).list_tables()
    with pytest.raises(EndpointConnectionError):  # undone: the socket again
        boto3.client("dynamodb", endpoint_url=silent, config=once).list_tables()

    assert item["n"] == {"N": "1"}
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert unrouted.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert body == b"\x00bytes"
    assert head["ContentLength"] == len(b"\x00bytes")
    assert listed == [odd_key]


def test_loopback_sends_the_user_agent_botocore_would_build_per_call_features(
    moto_endpoint: str,
) -> None:
    def agents_seen() -> list[str]:
        seen: list[str] = []
        dynamodb = aws("dynamodb", moto_endpoint)
        dynamodb.meta.events.register_first(
            "before-send.dynamodb",
            lambda request, **_: seen.append(request.headers["User-Agent"]),
        )
        for _ in range(2):
            dynamodb.list_tables()
            list(dynamodb.get_paginator("list_tables").paginate())  # a feature: paginator
        return [agent if isinstance(agent, str) else agent.decode() for agent in seen]

    with local_aws(adapters=["loopback"], endpoint_url=moto_endpoint):
        memoised = agents_seen()
    built = agents_seen()

    assert memoised == built
    assert built[0] != built[1]  # the paginated call says so in its User-Agent


def test_loopback_requests_carry_an_unchecked_signature_with_their_scope_but_s3s(
    moto_endpoint: str,
) -> None:
    def sent(service: str, region: str, endpoint: str) -> str:
        seen: list[str] = []
        client = boto3.client(service, region_name=region, endpoint_url=endpoint)
        client.meta.events.register_first(
            f"before-send.{service}",
            lambda request, **_: seen.append(request.headers["Authorization"]),
        )
        if service == "s3":
            client.list_buckets()
        else:
            client.create_table(TableName=f"signed-{region}", **table_schema())
        auth = seen[0]
        return auth if isinstance(auth, str) else auth.decode()

    unchecked = moto_adapters._UNCHECKED_SIGNATURE
    with local_aws(adapters=["loopback"], endpoint_url=moto_endpoint):
        local = sent("dynamodb", "eu-west-1", moto_endpoint)
        s3 = sent("s3", "eu-west-1", moto_endpoint)
        tables = aws("dynamodb", moto_endpoint)  # us-east-1
        in_us = tables.list_tables()["TableNames"]
        in_eu = boto3.client(
            "dynamodb", region_name="eu-west-1", endpoint_url=moto_endpoint
        ).list_tables()["TableNames"]
    signed = sent("dynamodb", "eu-west-2", moto_endpoint)  # undone: signed again

    assert local.endswith(f"Signature={unchecked}")
    assert "/eu-west-1/dynamodb/aws4_request" in local
    assert in_eu == ["signed-eu-west-1"]  # moto read the region from it
    assert "signed-eu-west-1" not in in_us
    assert unchecked not in s3
    assert "/s3/aws4_request" in s3
    assert unchecked not in signed
    assert "/eu-west-2/dynamodb/aws4_request" in signed


# ----------------------------------------------------------------------- undo / broken
def test_adaptations_undo_cleanly(aws_credentials: None) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.batch.models import Job
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )
    from moto.stepfunctions.parser.asl.eval import states
    from moto.stepfunctions.parser.asl.jsonata import jsonata
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    seams = {
        "invoke": (LambdaSimpleBackend, "invoke"),
        "describe": (Job, "describe"),
        "start": (StepFunctionsParserBackend, "start_execution"),
        "client": (boto_client, "boto_client_for"),
        "jsonata": (jsonata, "_eval_jsonata"),
        "copies": (states, "copy"),
        "loopback": (BotocoreStubber, "__call__"),
        "stop": (StateMap, "_eval_state"),
        "stop_wait": (callback.StateTaskServiceCallback, "_eval_wait_for_task_token"),
    }
    before = {key: getattr(owner, attr) for key, (owner, attr) in seams.items()}
    environ = dict(os.environ)

    with mock_aws(), local_aws(endpoint_url="http://127.0.0.1:9") as cloud:
        assert cloud.retry_sleep_scale == 0.0
        assert all(getattr(o, a) is not before[k] for k, (o, a) in seams.items())
        with pytest.raises(RuntimeError, match="already active"), local_aws():
            pass

    assert {key: getattr(owner, attr) for key, (owner, attr) in seams.items()} == before
    assert dict(os.environ) == environ


def test_a_moved_moto_seam_fails_loudly_naming_the_adaptation(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self: object, function_name: str) -> None:  # a "new moto" signature
        del self, function_name

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)

    with pytest.raises(AdaptationBrokenError, match="'lambda_in_process'"), local_aws():
        pass
    assert set(ADAPTATIONS) == set(moto_adapters._ADAPTERS)


# ----------------------------------------------------------------------------- stop_execution
def test_stop_execution_inside_a_map_ends_the_execution_aborted(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "stop-in-map",
        {
            "StartAt": "EachItem",
            "States": {
                "EachItem": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "StartAt": "Long",
                        "States": {"Long": {"Type": "Wait", "Seconds": 60, "End": True}},
                    },
                    "End": True,
                }
            },
        },
    )
    execution = sfn.start_execution(stateMachineArn=arn, input='{"items": [1, 2]}')["executionArn"]
    deadline = time.monotonic() + 10
    while "MapIterationStarted" not in {e["type"] for e in history(sfn, execution)}:
        assert time.monotonic() < deadline, "no Map iteration started"
        time.sleep(0.02)

    sfn.stop_execution(executionArn=execution, error="Stopped", cause="by the test")

    deadline = time.monotonic() + 10
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the stopped execution still runs"
        time.sleep(0.02)
    assert described["status"] == "ABORTED", (described.get("error"), described.get("cause"))
    assert "MapIterationAborted" in {e["type"] for e in history(sfn, execution)}


def test_stop_execution_keeps_the_callers_error_and_cause(local_cloud: LocalCloud) -> None:
    """moto stopped the execution with an empty error and cause; AWS records the ones the
    caller gave in ExecutionAborted and DescribeExecution (StopExecution API reference)."""
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "stop-cause",
        {"StartAt": "Long", "States": {"Long": {"Type": "Wait", "Seconds": 60, "End": True}}},
    )
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    deadline = time.monotonic() + 10
    while "WaitStateEntered" not in {e["type"] for e in history(sfn, execution)}:
        assert time.monotonic() < deadline, "the wait never started"
        time.sleep(0.02)

    stopped = sfn.stop_execution(executionArn=execution, error="Operator.Stop", cause="by hand")

    assert stopped["stopDate"] is not None
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the stopped execution still runs"
        time.sleep(0.02)
    (aborted,) = [e for e in history(sfn, execution) if e["type"] == "ExecutionAborted"]
    assert aborted["executionAbortedEventDetails"] == {"error": "Operator.Stop", "cause": "by hand"}


def test_stop_execution_fails_loudly_when_the_map_state_moves(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map

    def eval_state(self: object, env: object, frame: object) -> None:  # a "new moto" signature
        del self, env, frame

    monkeypatch.setattr(state_map.StateMap, "_eval_state", eval_state)

    with pytest.raises(AdaptationBrokenError, match="'stop_execution'"), local_aws():
        pass


def test_stop_execution_a_sync_task_stopped_early_ends_its_token_wait_quietly(
    local_cloud: LocalCloud,
) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_module,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackEndpoint,
        CallbackOutcomeTimedOut,
    )

    class Stopped:  # an execution stopped before its task evaluated its timeout
        def is_running(self) -> bool:
            return False

    service = callback_module.StateTaskServiceCallback

    class Task:  # the part of a .sync task the wait uses
        _wait_for_task_token_timeout = service._wait_for_task_token_timeout

    endpoint = CallbackEndpoint(callback_id="token-1")
    task_output = {"JobId": "j-1"}  # what the task popped instead of its timeout
    outcome = service._eval_wait_for_task_token(Task(), Stopped(), task_output, endpoint, None)

    assert isinstance(outcome, CallbackOutcomeTimedOut)
    assert outcome.callback_id == "token-1"


def test_fast_responses_query_reads_one_partition_and_answers_as_moto(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models.table import Table

    def queries() -> tuple[list[Any], int]:
        ddb = aws("dynamodb")
        ddb.create_table(
            TableName="runs",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-status",
                    "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for run in range(4):
            for sk in ("REQUEST", "VARIANT#b", "VARIANT#a", "VARIANT#c"):
                ddb.put_item(
                    TableName="runs",
                    Item={
                        "pk": {"S": f"RUN#{run}"},
                        "sk": {"S": sk},
                        "status": {"S": "FAILED" if sk == "VARIANT#b" else "SUCCEEDED"},
                        "n": {"N": str(run)},
                    },
                )
        visited = Counter[str]()
        all_items = Table.all_items

        def counted(self: Any) -> Any:
            visited["all_items"] += 1
            return all_items(self)

        monkeypatch.setattr(Table, "all_items", counted)
        one = {":pk": {"S": "RUN#2"}}
        asked: list[dict[str, Any]] = [
            {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": one},
            {
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :v)",
                "ExpressionAttributeValues": {**one, ":v": {"S": "VARIANT#"}},
                "ScanIndexForward": False,
            },
            {
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {**one, ":s": {"S": "FAILED"}},
                "FilterExpression": "#s = :s",
                "ExpressionAttributeNames": {"#s": "status"},
                "ProjectionExpression": "sk, n",
            },
            {
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "RUN#none"}},
            },
        ]
        answers: list[Any] = []
        for arguments in asked:
            answer = ddb.query(TableName="runs", **arguments)
            answers.append((answer["Items"], answer["Count"], answer["ScannedCount"]))
        pages = ddb.get_paginator("query").paginate(
            TableName="runs",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=one,
            PaginationConfig={"PageSize": 3},
        )
        answers.append([page["Items"] for page in pages])
        base_visits = visited["all_items"]
        index = ddb.query(
            TableName="runs",
            IndexName="by-status",
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "FAILED"}},
        )
        answers.append(sorted(item["pk"]["S"] for item in index["Items"]))
        monkeypatch.setattr(Table, "all_items", all_items)
        return answers, base_visits

    with mock_aws():
        motos, moto_visits = queries()
    with mock_aws(), local_aws():
        ours, our_visits = queries()

    assert ours == motos
    assert [item["sk"]["S"] for item in ours[0][0]] == [
        "REQUEST",
        "VARIANT#a",
        "VARIANT#b",
        "VARIANT#c",
    ]
    assert [len(page) for page in ours[4]] == [3, 1]
    assert ours[5] == ["RUN#0", "RUN#1", "RUN#2", "RUN#3"]
    assert moto_visits > 0  # moto lists the whole table for each of them
    assert our_visits == 0  # the adaptation reads the one partition
