"""Fixtures for the local cloud tests: moto in-process or behind a ThreadedMotoServer.

Nothing here is autouse: every fixture that touches AWS APIs first sets fake credentials
and a region, so no test can reach a real account.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from runledger_cli.sam_template import REPO_ROOT
from runledger_local.local_paths import localize_request
from runledger_local.patches import LocalCloud, local_aws
from runledger_local.server import moto_server

REGION = "us-east-1"
FIXTURES = Path(__file__).parent / "fixtures" / "patches"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region for every client a test creates."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def local_cloud(aws_credentials: None, tmp_path: Path) -> Iterator[LocalCloud]:
    """All adaptations on, in-process under mock_aws; Batch jobs run in tmp_path."""
    with mock_aws(), local_aws(batch_workdir=tmp_path) as cloud:
        yield cloud


@pytest.fixture
def moto_endpoint(aws_credentials: None) -> Iterator[str]:
    """A ThreadedMotoServer on 127.0.0.1 and a free port (an empty cloud), stopped after."""
    with moto_server() as url:
        yield url


@pytest.fixture
def server_cloud(moto_endpoint: str, tmp_path: Path) -> Iterator[LocalCloud]:
    """All adaptations on, against the ThreadedMotoServer (server mode)."""
    with local_aws(endpoint_url=moto_endpoint, batch_workdir=tmp_path) as cloud:
        yield cloud


@pytest.fixture
def lambda_fixtures() -> Path:
    """Folder of small handler folders (each with an app.py)."""
    return FIXTURES / "functions"


@pytest.fixture
def job_program() -> Path:
    """A stand-in Batch job program driven by its environment."""
    return FIXTURES / "jobs" / "job.py"


@pytest.fixture
def mock_config_file() -> Path:
    """A Step Functions Local MockConfigFile."""
    return FIXTURES / "mock_config.json"


@pytest.fixture(scope="session")
def sample_request() -> Callable[[str, str], dict[str, Any]]:
    """``sample_request("kmer-valid-local.json", "e2e-x")``: that request file of
    events/requests, its input path made absolute, as run RUN#e2e-x."""

    def load(name: str, run_id: str) -> dict[str, Any]:
        path = REPO_ROOT / "events" / "requests" / name
        item = localize_request(json.loads(path.read_text()), REPO_ROOT)
        item["pk"] = f"RUN#{run_id}"
        return item

    return load
