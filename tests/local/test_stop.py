"""Stopping the local cloud while a run is in flight: its execution is stopped first."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runledger_cli.errors import ExitStatus
from runledger_local.cloud import LocalPipeline


def test_leaving_the_cloud_with_a_run_in_flight_aborts_its_execution(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sample_request: Callable[[str, str], dict[str, Any]],
) -> None:
    never_written = tmp_path / "never-written.fastq"
    os.mkfifo(never_written)  # its jobs block opening it, so the run cannot end by itself
    item = sample_request("kmer-valid-local.json", "in-flight")
    item["input"]["uri"] = str(never_written)
    stopped: dict[str, str] = {}
    original = LocalPipeline.stop_executions

    def stop_and_look(self: LocalPipeline, timeout: float = 10.0) -> list[str]:
        arns = original(self, timeout)
        sfn = self.client("stepfunctions")
        stopped.update({a: sfn.describe_execution(executionArn=a)["status"] for a in arns})
        return arns

    monkeypatch.setattr(LocalPipeline, "stop_executions", stop_and_look)
    died: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", died.append)

    with LocalPipeline(stack_name="runledger-stop") as local:
        pk = local.put_request(item)
        deadline = time.monotonic() + 60
        while local.read_run(pk).status != "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert local.read_run(pk).status == "RUNNING"
        arn = local.read_run(pk).request["execution"]
        started = time.monotonic()

    assert stopped == {arn: "ABORTED"}
    assert time.monotonic() - started < 10  # the Batch waits notice the stop in 0.5 s
    assert died == []  # no engine thread went on into the cloud being taken apart


def test_ctrl_c_in_local_run_shows_where_runs_stand_and_exits_130(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sample_request: Callable[[str, str], dict[str, Any]],
) -> None:
    from runledger_cli.commands import local

    def interrupted(self: LocalPipeline, pks: list[str], **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while waiting

    monkeypatch.setattr(LocalPipeline, "wait_for", interrupted)
    path = tmp_path / "run.json"
    path.write_text(
        json.dumps(
            {
                **sample_request("kmer-valid-local.json", "ctrl-c"),
                "input": {"uri": "/dev/null", "k": 5},
            }
        )
    )

    code = local.local_run([path], timeout=60, reports=tmp_path / "reports")

    out, err = capsys.readouterr()
    assert code == ExitStatus.INTERRUPTED == 130
    assert err == "runledger: interrupted; not final: ctrl-c\n"
    assert [line.split()[0] for line in out.splitlines() if " ok " in line] == ["ctrl-c"]


def test_a_cloud_that_cannot_stop_its_executions_still_stops_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unreachable(self: LocalPipeline, timeout: float = 10.0) -> list[str]:
        raise ConnectionError("the endpoint went away")

    monkeypatch.setattr(LocalPipeline, "stop_executions", unreachable)
    with LocalPipeline(stack_name="runledger-stop-fails"):
        pass  # leaving it raises nothing

    warnings = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    assert [(w["level"], w["message"]) for w in warnings] == [
        ("WARNING", "running executions not stopped")
    ]
    assert "the endpoint went away" in warnings[0]["error"]
