"""The lambda_invoke patch, proved through boto3 against moto."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from patch_helpers import (
    aws,
    create_state_machine,
    lambda_priorities,
    run_execution,
)

from runledger_local.patches import LocalCloud
from runledger_local.runtime.lambdas import ChainLock


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
    lock = ChainLock()
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
    lock = ChainLock()
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
    lock = ChainLock()
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
    with lambda_priorities() as priorities:
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


def test_lambda_in_process_an_invoke_of_a_function_nobody_created_is_resource_not_found(
    local_cloud: LocalCloud,
) -> None:
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as raised:
        aws("lambda").invoke(FunctionName="no-such-function", Payload=b"{}")

    # AWS: 404 ResourceNotFoundException "Function not found: <arn>" (moto's Docker-less
    # backend answered 200 and echoed the payload).
    error = raised.value.response["Error"]
    assert error["Code"] == "ResourceNotFoundException"
    arn = "arn:aws:lambda:us-east-1:123456789012:function:no-such-function"
    assert error["Message"] == f"Function not found: {arn}:$LATEST"


def test_lambda_in_process_a_task_naming_an_unknown_function_fails_with_lambda_not_found(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "no-such-function",
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "no-such-function", "Payload": {}},
                    "End": True,
                }
            },
        },
    )

    described = run_execution(sfn, arn, {})

    # AWS (recorded in LocalStack's AWS-validated snapshot error_handling/
    # test_task_service_lambda::test_no_such_function): the task fails with
    # Lambda.ResourceNotFoundException and a cause naming the function.
    assert described["status"] == "FAILED"
    assert described["error"] == "Lambda.ResourceNotFoundException"
    arn = "arn:aws:lambda:us-east-1:123456789012:function:no-such-function"
    assert described["cause"].startswith(f"Function not found: {arn}:$LATEST (Service: AWSLambda;")


def test_lambda_in_process_a_task_result_carries_the_sdk_http_metadata(
    local_cloud: LocalCloud, lambda_fixtures: Path
) -> None:
    local_cloud.register_function("echo", code_dir=lambda_fixtures / "echo")
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "whole-result",
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "echo", "Payload": {"x": 1}},
                    "End": True,
                }
            },
        },
    )

    result = json.loads(run_execution(sfn, arn, {})["output"])

    # What AWS adds (recorded in LocalStack's AWS-validated snapshots, e.g.
    # query_language/test_mixed_query_language::test_lambda_task_resource_data_flow).
    metadata = result["SdkHttpMetadata"]
    headers = metadata["HttpHeaders"]
    assert metadata["HttpStatusCode"] == result["StatusCode"] == 200
    assert headers["Content-Length"] == str(len(json.dumps(result["Payload"]).encode()))
    assert headers["x-amzn-RequestId"] == result["SdkResponseMetadata"]["RequestId"]
    assert headers["X-Amz-Executed-Version"] == result["ExecutedVersion"] == "$LATEST"
    assert metadata["AllHttpHeaders"] == {name: [value] for name, value in headers.items()}
    assert result["Payload"]["event"] == {"x": 1}
