"""Fixtures shared by every test suite.

* Every test runs with fake AWS credentials, region us-east-1 and no AWS config files, so
  nothing can reach a real account.
* Tests under tests/unit/ cannot connect anywhere but loopback.
* ``load_handler("start_run")`` imports functions/start_run/app.py by path
  under a unique module name (every handler file is called app.py: never ``import app``).
* ``lambda_context`` is a stand-in for the Lambda context object.
* ``pipeline`` is the whole local cloud (a LocalPipeline of template.yaml), one per test
  worker: see ``SharedCloud``.
* Locations are S3 objects only, as on AWS; the ``local_paths`` fixture lets local files
  be locations, as the local cloud does for the functions it runs.
* Every botocore session of a test process reads its models through one loader
  (``SharedModels``), as the sessions of one local cloud do (the shared_models patch).
* Tests read template.yaml through ``load_both`` (its on-disk cache, filled before the
  workers start); only the tests of reading it call ``load_sam``/``load_cfn``.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from shared_clouds import SHARED_CLOUDS, GroupedFileScheduling, slow_first
from worker_exit import end_worker_at_once, is_worker
from worker_gc import collect_less_often

from runledger.storage import LOCAL_PATHS_ENV
from runledger_cli.sam_template import load_both

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
EVENTS_DIR = REPO_ROOT / "events"
UNIT_TESTS_DIR = REPO_ROOT / "tests" / "unit"

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "POWERTOOLS_SERVICE_NAME": "runledger",
    "POWERTOOLS_METRICS_NAMESPACE": "runledger",
}


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region for every test; a real profile can never be picked up."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        LOCAL_PATHS_ENV,  # as on AWS: only S3 locations, unless a test asks (local_paths)
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection


def _check_address(address: object) -> None:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and host not in _LOOPBACK_HOSTS:
        raise RuntimeError(
            f"unit tests never open a network connection (tried {address!r}); "
            "use moto's in-process mock_aws"
        )


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(address)
    return _real_connect_ex(self, address)


def _guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    _check_address(address)
    return _real_create_connection(address, *args, **kwargs)


@pytest.fixture(autouse=True)
def _no_network_in_unit_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Make any connection from a tests/unit test to a non-loopback address fail loudly.

    Loopback stays allowed: a job test points a client at a closed local port on purpose.
    """
    if not request.path.is_relative_to(UNIT_TESTS_DIR):
        return
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "create_connection", _guarded_create_connection)


class SharedModels:
    """One botocore model loader per data path for every session a test process makes.

    ``mock_aws`` gives each test a new boto3 default session, and its first client read
    the service's model, the endpoints and the partitions again from JSON: 60-100 ms of
    CPU a session, about 20 CPU-s of ``make test`` over some 500 sessions. A loader only
    reads and caches those files, which botocore never changes once read
    (runledger_local/patches/speed/shared_models.py shares one between the sessions of a
    local cloud on the same grounds), so the sessions of every test share one; each
    ``mock_aws`` still starts from empty backends. Installed once and never undone, so
    patches that replace ``create_loader`` for a while (that one) undo onto it; the tests
    of ``OWN_LOADERS`` check that sharing itself, and get a loader per session.

    Measured: ``make test``'s pytest command took 0.81x the wall time with it (two
    alternated pairs of runs on 2 CPUs, 2026-12-07: 0.81x with both bytecode caches warm,
    0.75x when the run without it also wrote its caches).
    """

    #: Test files that watch sessions read models (each session its own loader).
    OWN_LOADERS = frozenset({REPO_ROOT / "tests/local/patches/test_shared_models.py"})

    def __init__(self) -> None:
        self.enabled = True
        self._loaders: dict[str | None, Any] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        import botocore.session

        create_loader = botocore.session.create_loader

        def shared_loader(search_path_string: str | None = None) -> Any:
            if not self.enabled:
                return create_loader(search_path_string)
            with self._lock:
                if search_path_string not in self._loaders:
                    self._loaders[search_path_string] = create_loader(search_path_string)
                return self._loaders[search_path_string]

        botocore.session.create_loader = shared_loader


SHARED_MODELS = SharedModels()
SHARED_MODELS.install()


@pytest.fixture(autouse=True)
def _models_read_once(request: pytest.FixtureRequest) -> Iterator[None]:
    """Sessions share ``SHARED_MODELS``'s loader, but in ``SharedModels.OWN_LOADERS``."""
    SHARED_MODELS.enabled = request.path not in SharedModels.OWN_LOADERS
    yield
    SHARED_MODELS.enabled = True


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object that Powertools and the handlers read."""

    function_name: str = "runledger-test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:runledger-test-function"
    )
    aws_request_id: str = "3f0c1a52-7c1e-4c4b-9a40-0c6d3c7b9e11"
    log_group_name: str = "/aws/lambda/runledger-test-function"
    log_stream_name: str = "2026/11/23/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """A Lambda context with 256 MB of memory."""
    return FakeLambdaContext()


_loaded_handlers: dict[str, ModuleType] = {}


def load_handler_module(name: str) -> ModuleType:
    """Import functions/<name>/app.py as module ``functions_<name>_app`` (cached)."""
    if name in _loaded_handlers:
        return _loaded_handlers[name]
    path = FUNCTIONS_DIR / name / "app.py"
    if not path.is_file():
        raise FileNotFoundError(f"no handler at {path}")
    module_name = f"functions_{name}_app"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    _loaded_handlers[name] = module
    return module


@pytest.fixture
def load_handler() -> Callable[[str], ModuleType]:
    """``load_handler("collect_metrics").lambda_handler(event, context)``."""
    return load_handler_module


def read_event(relative_path: str) -> Any:
    """The JSON document at events/<relative_path>."""
    return json.loads((EVENTS_DIR / relative_path).read_text(encoding="utf-8"))


@pytest.fixture
def load_event() -> Callable[[str], Any]:
    """``load_event("start_run.json")`` -> the parsed events/ file."""
    return read_event


@pytest.fixture
def local_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local files are locations, as in the functions the local cloud runs (runledger.storage)."""
    monkeypatch.setenv(LOCAL_PATHS_ENV, "1")


@pytest.fixture
def results_bucket(monkeypatch: pytest.MonkeyPatch) -> str:
    """Sets RESULTS_BUCKET (as template.yaml does for start_run and collect_metrics)."""
    monkeypatch.setenv("RESULTS_BUCKET", "runledger-results-test")
    return "runledger-results-test"


@pytest.fixture
def s3() -> Iterator[Any]:
    """An in-process moto S3 client; runledger's cached S3 client is reset around the test."""
    from moto import mock_aws

    from runledger import clients

    clients._client.cache_clear()
    with mock_aws():
        import boto3

        yield boto3.client("s3", region_name="us-east-1")
    clients._client.cache_clear()


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A DynamoDB client (moto) with the template's runs table, named ``runs-test``."""
    from moto import mock_aws

    from runledger_cli.sam_template import table_schema

    with mock_aws():
        import boto3

        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="runs-test", **table_schema())
        yield client


@pytest.fixture
def runs_table(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``dynamodb``'s runs table as RUNS_TABLE_NAME, as the functions that read it are
    given it; runledger's cached clients are reset around the test."""
    from runledger import clients

    monkeypatch.setenv("RUNS_TABLE_NAME", "runs-test")
    clients._client.cache_clear()
    yield dynamodb
    clients._client.cache_clear()


def pytest_configure(config: pytest.Config) -> None:
    collect_less_often(config)  # a worker's heap is large: fewer walks of it
    if not is_worker(config):
        # Tests read the template as the local cloud does (load_both: its on-disk cache, or
        # a child that fills it). Filled here once, before the workers start, they read it
        # instead of each starting a child; cfn-lint and the translator stay out of them.
        # Measured 2026-12-07, `pytest --collect-only -p no:xdist`, five alternated pairs,
        # bytecode caches warm on both sides: collecting takes 0.6x the CPU it took
        # (medians 3.0 and 4.9 CPU-s), paid by every worker at once while they start.
        load_both()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for shared in SHARED_CLOUDS.values():
        shared.check(items)
    slow_first(items)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: -p no:xdist has none
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` (make test), with the files of a shared cloud on one worker."""
    if config.getvalue("dist") == "loadfile":
        return GroupedFileScheduling(config, log)
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for shared in SHARED_CLOUDS.values():
        if item.path not in shared.files:
            shared.stop()


def pytest_sessionfinish() -> None:
    for shared in SHARED_CLOUDS.values():
        shared.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    end_worker_at_once(config)  # the controller has every report: skip freeing the heap


@pytest.fixture(scope="module")
def pipeline() -> Any:
    """The whole local cloud of template.yaml (stack runledger-test), shared by every test
    of this worker that asks for it (``SharedCloud``); give each test its own run ids."""
    return SHARED_CLOUDS["pipeline"].get()
