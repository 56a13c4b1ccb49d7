"""What the tests of the Batch job programs (jobs/<folder>/<program>.py) share.

The programs import ``runledger_job`` (jobs/common/runledger_job.py), which an image has
beside the program and the local cloud puts on the job's import path; here it is put on
``sys.path`` (loaded in-process) and on PYTHONPATH (run as a process). What the programs
share is patched on that one module: ``shared``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

ROOT = Path(__file__).resolve().parents[1]
#: The ``common`` build context of every job image (Metadata.DockerBuildContexts).
COMMON = ROOT / "jobs" / "common"
SAMPLE_FASTQ = ROOT / "events" / "data" / "sample.fastq"

if str(COMMON) not in sys.path:
    sys.path.insert(0, str(COMMON))
#: The module the job programs share (jobs/common/runledger_job.py).
shared = importlib.import_module("runledger_job")


def load_job(path: Path, name: str) -> ModuleType:
    """The job program at ``path``, imported as module ``name`` (its __main__ not run)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, us-east-1, and no endpoint override leaking in from the shell."""
    for var in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def failure_log(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The job's last stderr line, which must be its ``failed`` record."""
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected a structured failure line on stderr"
    record: dict[str, Any] = json.loads(err[-1])
    assert record["phase"] == "failed"
    return record


def patch_s3_client(monkeypatch: pytest.MonkeyPatch, factory: Any) -> None:
    """Every S3 client the job makes is ``factory(config=None)``'s."""
    monkeypatch.setattr(shared, "s3_client", factory)


def stubbed_s3(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    """A Stubber on the one S3 client the job will use."""
    client = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(client)
    patch_s3_client(monkeypatch, lambda config=None: client)
    return stubber


def subprocess_env(**runledger: str) -> dict[str, str]:
    """This environment without RUNLEDGER_* and endpoint overrides, plus ``runledger``;
    the shared module importable, as in the image and the local cloud."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RUNLEDGER_", "AWS_ENDPOINT_URL"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(COMMON), env.get("PYTHONPATH")]))
    env.update(runledger)
    return env


def run_job_process(job_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python <job_path>`` from the repository's root with exactly ``env``, to its end."""
    return subprocess.run(
        [sys.executable, str(job_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def sigterm_mid_read(
    job_path: Path, fifo: Path, env: dict[str, str], until: Callable[[float], None]
) -> tuple[int, str]:
    """Run the job on the FIFO ``fifo``; once it reads, write part of a FASTQ record and
    stall (a hung download), wait for ``until(deadline)``, then SIGTERM the job (a Spot
    reclaim): its exit status and stderr."""
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, str(job_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # wait until the job has opened the FIFO for reading
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "job never opened its input"
                time.sleep(0.02)
        os.write(fd, b"@r1\nACGT\n+\nIIII\n@r2\nAC")
        until(deadline)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
        os.close(fd)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stderr
