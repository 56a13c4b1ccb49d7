"""Measure N executions of a 3-state machine on moto, with and without the adaptations.

    python bench/bench_executions.py --executions 50 \
        --adapters none|all|all-but-client_cache [--jsonata] [--batch] [--sequential] [--server]

Prints wall time, per-execution time, peak RSS and boto3 clients the engine created.
Not a test (pytest does not collect it): the numbers go in reports, not assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")  # noqa: S106 (fake)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from runledger_local.patches import ADAPTATIONS, local_aws  # noqa: E402
from runledger_local.server import moto_server  # noqa: E402

HERE = Path(__file__).resolve().parent.parent / "tests" / "local" / "fixtures" / "patches"
CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "batch": {"use_docker": False},
}


def definition(jsonata: bool, batch: bool) -> dict[str, Any]:
    last: dict[str, Any]
    if batch:
        last = {
            "Type": "Task",
            "Resource": "arn:aws:states:::batch:submitJob.sync",
            "End": True,
        }
        args = {"JobName": "bench", "JobQueue": "q", "JobDefinition": "jd"}
        last["Arguments" if jsonata else "Parameters"] = args
    else:
        last = {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "End": True,
        }
        if jsonata:
            last["Arguments"] = {"FunctionName": "echo", "Payload": "{% $states.input %}"}
        else:
            last["Parameters"] = {"FunctionName": "echo", "Payload.$": "$"}
    put: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:putItem",
        "Next": "Last",
    }
    if jsonata:
        put["Arguments"] = {"TableName": "t", "Item": {"pk": {"S": "{% $states.input.id %}"}}}
        put["Output"] = "{% $states.input %}"
    else:
        put["Parameters"] = {"TableName": "t", "Item": {"pk": {"S.$": "$.id"}}}
        put["ResultPath"] = None
    machine: dict[str, Any] = {
        "StartAt": "First",
        "States": {"First": {"Type": "Pass", "Next": "Put"}, "Put": put, "Last": last},
    }
    if jsonata:
        machine["QueryLanguage"] = "JSONata"
    return machine


@contextlib.contextmanager
def environment(server: bool) -> Iterator[str | None]:
    if server:
        with moto_server() as url:
            import requests

            requests.post(f"{url}/moto-api/config", json=CONFIG, timeout=5)
            os.environ["MOTO_PORT"] = url.rsplit(":", 1)[1]
            yield url
    else:
        with mock_aws(config=CONFIG):  # type: ignore[arg-type]
            yield None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=50)
    parser.add_argument("--adapters", default="all")
    parser.add_argument("--jsonata", action="store_true")
    parser.add_argument("--batch", action="store_true")
    parser.add_argument("--sequential", action="store_true")
    parser.add_argument("--server", action="store_true")
    args = parser.parse_args()

    created = {"clients": 0}
    original_client = boto3.client

    def counting_client(*a: Any, **k: Any) -> Any:
        created["clients"] += 1
        return original_client(*a, **k)

    with environment(args.server) as url:
        adapters: list[str]
        if args.adapters == "none":
            adapters = []
        elif args.adapters.startswith("all-but-"):
            left_out = args.adapters.removeprefix("all-but-")
            if left_out not in ADAPTATIONS:  # a renamed patch would leave nothing out
                parser.error(f"--adapters: no patch {left_out!r}; known: {', '.join(ADAPTATIONS)}")
            adapters = [a for a in ADAPTATIONS if a != left_out]
        else:
            adapters = list(ADAPTATIONS)
        stack = contextlib.ExitStack()
        if adapters:
            cloud = stack.enter_context(local_aws(adapters=adapters, endpoint_url=url))
            if "lambda_in_process" in adapters:
                cloud.register_function("echo", code_dir=HERE / "functions" / "echo")
        with stack:
            aws = lambda service: original_client(service, endpoint_url=url)  # noqa: E731
            ddb = aws("dynamodb")
            ddb.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            role = aws("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]
            if args.batch:
                batch = aws("batch")
                ce = batch.create_compute_environment(
                    computeEnvironmentName="bench-ce",
                    type="UNMANAGED",
                    state="ENABLED",
                    serviceRole=role["Arn"],
                )["computeEnvironmentArn"]
                batch.create_job_queue(
                    jobQueueName="q",
                    state="ENABLED",
                    priority=1,
                    computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
                )
                batch.register_job_definition(
                    jobDefinitionName="jd",
                    type="container",
                    containerProperties={
                        "image": "x",
                        "command": ["true"],
                        "vcpus": 1,
                        "memory": 512,
                    },
                )
            else:
                import io
                import zipfile

                code = io.BytesIO()
                with zipfile.ZipFile(code, "w") as archive:
                    archive.writestr("app.py", "def lambda_handler(e, c):\n    return e\n")
                aws("lambda").create_function(
                    FunctionName="echo",
                    Runtime="python3.13",
                    Role=role["Arn"],
                    Handler="app.lambda_handler",
                    Code={"ZipFile": code.getvalue()},
                )
            sfn = aws("stepfunctions")
            arn = sfn.create_state_machine(
                name="bench",
                definition=json.dumps(definition(args.jsonata, args.batch)),
                roleArn=role["Arn"],
            )["stateMachineArn"]

            boto3.client = counting_client  # type: ignore[assignment]
            started = time.perf_counter()
            statuses: dict[str, int] = {}
            pending: list[str] = []

            def wait(execution_arn: str) -> None:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    status = sfn.describe_execution(executionArn=execution_arn)["status"]
                    if status != "RUNNING":
                        statuses[status] = statuses.get(status, 0) + 1
                        return
                    time.sleep(0.005)
                statuses["STILL_RUNNING"] = statuses.get("STILL_RUNNING", 0) + 1

            for i in range(args.executions):
                execution_arn = sfn.start_execution(
                    stateMachineArn=arn, name=f"e{i}", input=json.dumps({"id": f"i{i}"})
                )["executionArn"]
                if args.sequential:
                    wait(execution_arn)
                else:
                    pending.append(execution_arn)
            for execution_arn in pending:
                wait(execution_arn)
            elapsed = time.perf_counter() - started
            boto3.client = original_client  # type: ignore[assignment]

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mode = "server" if args.server else "in-process"
    print(
        f"{mode} adapters={args.adapters} jsonata={args.jsonata} batch={args.batch} "
        f"sequential={args.sequential} executions={args.executions}: "
        f"{elapsed:.2f} s ({elapsed / args.executions * 1000:.0f} ms/execution), "
        f"peak RSS {peak_mb:.0f} MB, engine clients created {created['clients']}, "
        f"statuses {statuses}",
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
