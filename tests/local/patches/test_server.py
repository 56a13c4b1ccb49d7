"""The server patch, proved through boto3 against moto."""

from __future__ import annotations

import json
import socket
import socketserver
import urllib.request
from pathlib import Path
from typing import Any
from unittest import mock

from patch_helpers import (
    aws,
    create_batch_environment,
    create_state_machine,
    output,
    run_execution,
)

from runledger_local import server
from runledger_local.patches import LocalCloud


# ------------------------------------------------------------------------- server mode
def test_the_local_server_looks_for_a_stop_request_every_50_ms_not_every_half_second() -> None:
    seen: list[float] = []
    serve = socketserver.BaseServer.serve_forever

    def spy(self: Any, poll_interval: float = 0.5) -> None:
        seen.append(poll_interval)
        serve(self, poll_interval)

    with mock.patch.object(socketserver.BaseServer, "serve_forever", spy), server.moto_server():
        pass
    # werkzeug's default, 0.5 s, was how long every stop of the local cloud waited.
    assert seen == [server.SERVER_POLL_SECONDS]
    assert server.SERVER_POLL_SECONDS <= 0.05


def test_the_local_server_binds_its_free_port_itself_and_answers_where_it_says() -> None:
    # A free port looked up first and bound later can be taken meanwhile by another
    # process: the server's thread then dies and start() waits for ever.
    binds: list[Any] = []
    bind = socket.socket.bind

    def spy(self: socket.socket, address: Any) -> None:
        binds.append(address)
        bind(self, address)

    with mock.patch.object(socket.socket, "bind", spy), server.moto_server() as url:
        request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            assert answer.status == 200
    assert binds == [("127.0.0.1", 0)]


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
