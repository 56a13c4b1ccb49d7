"""``runledger local serve``: the local cloud as an endpoint, driven only through boto3."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from runledger_process import in_process

from runledger_cli.sam_template import REPO_ROOT
from runledger_local.local_paths import localize_request

RUNLEDGER = Path(sys.executable).with_name("runledger")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.Popen(
        [str(RUNLEDGER), "local", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[subprocess.Popen[str], str, dict[str, str]]]:
    port = free_port()
    process = start(port)
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, f"serve exited early ({process.wait()}): {process.stderr}"
        lines.append(line)
        if line.startswith("  export "):
            break
    info = {
        label: line.split(label, 1)[1].strip()
        for line in lines
        for label in ("runs table", "state machine")
        if line.strip().startswith(label)
    }
    yield process, f"http://127.0.0.1:{port}", info
    if process.poll() is None:
        process.kill()
        process.wait()


def client(endpoint: str, service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_request_written_through_the_endpoint_runs_to_success(
    served: tuple[subprocess.Popen[str], str, dict[str, str]],
) -> None:
    _, endpoint, info = served
    item = localize_request(
        json.loads((REPO_ROOT / "events/requests/kmer-valid-local.json").read_text()), REPO_ROOT
    )
    item["pk"] = "RUN#served-1"
    dynamodb = client(endpoint, "dynamodb")
    table = info["runs table"]
    dynamodb.put_item(
        TableName=table,
        Item=TypeSerializer().serialize(json.loads(json.dumps(item), parse_float=Decimal))["M"],
    )
    status = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and status not in {"SUCCEEDED", "FAILED", "INVALID"}:
        time.sleep(0.2)
        key = {"pk": {"S": "RUN#served-1"}, "sk": {"S": "REQUEST"}}
        status = dynamodb.get_item(TableName=table, Key=key)["Item"]["status"]["S"]
    assert status == "SUCCEEDED"
    executions = client(endpoint, "stepfunctions").list_executions(
        stateMachineArn=info["state machine"]
    )["executions"]
    assert [e["status"] for e in executions] == ["SUCCEEDED"]


def test_ctrl_c_stops_the_server_cleanly_and_frees_the_port(
    served: tuple[subprocess.Popen[str], str, dict[str, str]],
) -> None:
    process, endpoint, _ = served
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert process.stdout is not None
    assert "stopped" in process.stdout.read()
    port = int(endpoint.rsplit(":", 1)[1])
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))  # free again


def test_a_taken_port_is_a_clear_error() -> None:
    # Through the command's main() in this process: refused before the local cloud starts,
    # which here is a stand-in that would raise CloudStarted.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, stdout, stderr = in_process("local", "serve", "--port", str(taken.getsockname()[1]))
    assert code == 1
    assert "cannot listen on" in stderr
    assert "already in use" in stderr
    assert "starting the local cloud" not in stdout  # refused before the cloud's start
