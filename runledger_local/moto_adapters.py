"""Moto adaptations that let the whole runledger pipeline run offline, on one machine.

moto (pinned 5.2.5) emulates DynamoDB, Step Functions (with execution), Batch and Lambda,
but leaves holes that stop our pipeline. This module fills them, each with one small,
reversible patch, so the same code runs in-process under ``mock_aws`` and behind a
``ThreadedMotoServer`` (server mode):

=====================  ===============================================================
adaptation             what it does
=====================  ===============================================================
``endpoint_mode``      sets ``AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`` (DESIGN: account-
                       based DynamoDB Streams hosts 404 on moto; not reproduced with
                       botocore 1.43.127, kept as cheap insurance).
``shared_models``      botocore sessions made while the cloud is up (one per moto
                       backend family, the engine's, the pipe runner's) share one
                       model loader, so each service's model is read and kept once,
                       not once per session; moto's EC2 instance type offerings are
                       read per region when first asked, not all at import (together
                       about 90 MB less).
``client_cache``       the ASL engine builds a boto3 client for every task; reuse one
                       per (service, region, endpoint).
``execution_names``    ``StartExecution`` without a name gets a UUID name, as on AWS
                       (moto names it ``None``, so the second unnamed start fails).
``lambda_in_process``  invokes of registered functions (``lambda:invoke`` tasks and
                       ``lambda_client.invoke``) run the real Python handler in-process;
                       a task's plain invoke calls the handler directly, not through
                       botocore and the server (same result, error and cause).
``batch_local``        ``batch:submitJob.sync`` works: parameters and results are
                       normalised to the botocore shape (PascalCase output as AWS Step
                       Functions returns it; PropagateTags passes through), every job
                       runs its job definition's command as a local process (retry
                       strategy, timeout, logs in ``/aws/batch/job``; Python scripts are
                       forked warm: runledger_local.processes), the ``.sync`` wait
                       wakes when the job ends, and DescribeJobs reports the local jobs.
``jsonata``            ``QueryLanguage: JSONata`` through jsonata-python, plus the
                       functions Step Functions adds ($partition, $range, $hash, $random,
                       $uuid, $parse); variables holding quotes/backslashes are encoded
                       correctly; evaluation errors are ``States.QueryEvaluationError``;
                       an expression's bindings hold only the parts of $states and the
                       variables it reads.
``retry_sleep``        Retry intervals are scaled by ``LocalCloud.retry_sleep_scale``
                       (default 0: no waiting); the history still shows every attempt.
``mock_config``        Step Functions Local's MockConfigFile (``SFN_MOCK_CONFIG``) with
                       ``start_execution(stateMachineArn=arn + "#TestCase")``; a mock may
                       Throw ``States.*`` errors (``States.TaskFailed``) too.
``asl_parse_cache``    the definition's ANTLR syntax tree and evaluation components
                       are built once per definition, not once per execution (nor once
                       per execution started before the first build ends); a JSONPath
                       (ResultPath, InputPath, ...) is parsed once per path, not at
                       every use.
``fast_responses``     the server finds a request's service once per host, not by trying
                       every service's URL patterns under a lock; a REST service's
                       operation router is built once, not by every request that
                       arrives before the first build ends; a response class's
                       method names are listed once, not per request; a projection
                       converts only the projected attributes, not the whole item;
                       an UpdateExpression is parsed once per text, not twice per
                       UpdateItem; an item's size is checked once when it is built,
                       not once per attribute; a Query of the base table reads its
                       partition, not every item of the table, sorted;
                       DynamoDB item and Streams record answers and Step Functions
                       execution histories, already in wire shape, go out through
                       ``json.dumps`` instead of moto's shape-walking serializer.
``leaks``              finished threads are dropped from moto's TMP_THREADS list, which
                       moto fills (about 30 a run) and never empties; method caches that
                       keep a reset cloud's EC2 backend alive are cleared at the end.
``loopback``           in server mode, this process's own requests to the server (the
                       engine's tasks, the handlers, the pipe runner) are served in the
                       calling thread by the server's routes and handlers, without a
                       socket; other processes (jobs, the AWS CLI) still use HTTP.
                       botocore builds a client's User-Agent once per feature set;
                       those requests (but S3's) carry an unchecked signature.
``json_copies``        the engine's defensive deep copies of state data (JSON trees)
                       copy dicts and lists directly instead of through
                       ``copy.deepcopy``'s generic walk.
``dynamodb_atomic``    DynamoDB requests run one at a time, each with its answer: moto
                       changes items in place, so a read during another thread's write
                       saw a half-written item or failed.
``stop_execution``     ``StopExecution`` of an execution inside a Map state ends it
                       ABORTED, as on AWS (moto's Map state read the stop's error, a
                       string, as a dict, and ended the execution FAILED); a ``.sync``
                       task stopped early no longer kills its token-waiting thread with
                       a TypeError; its ``error`` and ``cause`` reach the execution's
                       ``ExecutionAborted`` event (moto stopped it with empty ones) and
                       its answer has the ``stopDate`` moto left out.
=====================  ===============================================================

Public API::

    local_aws(*, adapters=ADAPTATIONS, endpoint_url=None, batch_workdir=None,
              batch_env=None, lambda_env=None, retry_sleep_scale=0.0,
              mock_config_file=None, configure_moto=True) -> ContextManager[LocalCloud]
    LocalCloud.register_function(name_or_arn, *, code_dir, handler="app.lambda_handler",
              environment=None, timeout=3.0, memory_mb=128, extra_paths=()) -> LambdaSpec
    LocalCloud.inject_job_exit(tags, exit_codes)   # failure injection for tests and demos
    LocalCloud.inject_lambda_error(name_or_arn, times, code="TooManyRequestsException")
    LocalCloud.batch_workdir / .batch_env / .lambda_env / .retry_sleep_scale  (settable)
    moto_server(host="127.0.0.1", port=0) -> ContextManager[str]   # yields the endpoint URL
    ADAPTATIONS, AdaptationBrokenError, LambdaSpec, LocalLambdaContext

In-process::

    with mock_aws(), local_aws() as cloud:
        cloud.register_function("validate-request", code_dir=Path("functions/validate"))
        ...  # boto3 clients, executions, jobs

Server mode: start the server, then pass its URL so the engine reaches its own services
(``MOTO_PORT``) and handlers and jobs reach moto (``AWS_ENDPOINT_URL`` in their env)::

    with moto_server() as url, local_aws(endpoint_url=url) as cloud:
        ...

Each adaptation is applied by one ``_adapt_*`` context manager that checks the moto seam
it needs first and raises ``AdaptationBrokenError`` naming the adaptation when a moto
upgrade moved it. Only one ``local_aws`` may be active per process (the patches are
process-wide).

Lambda concurrency: a handler runs with its environment variables set in ``os.environ``
(process-wide), so invocations are serialised by one lock, held from environment set-up
to handler return, and served in the order their executions started (an invoke from
outside an execution: in the order it arrived). A nested synchronous invoke from a
handler (in-process) re-enters the lock. Map iterations therefore run their Lambda
steps one at a time; Batch jobs (separate processes) still run concurrently. A handler
that exceeds its timeout is reported as ``Sandbox.Timedout``, its environment is restored
and the lock released, but its Python thread cannot be killed: it finishes in the
background and its result is discarded.
While a handler runs, its ``code_dir`` and ``extra_paths`` are at the front of
``sys.path``; sibling modules it imports are cached under their plain names, so give
them names unique across functions (shared code belongs in the layer anyway).

Batch jobs: at most ``LocalCloud.max_running_jobs`` job processes run at once (two per
core by default, the local compute capacity); the others wait RUNNABLE, as jobs wait for
a compute environment's MaxvCpus on AWS. A job's process gets the host environment
without credentials, fake credentials, ``LocalCloud.batch_env``, the job definition's
environment, the ContainerOverrides environment and the ``AWS_BATCH_*`` variables (later
wins); ``python`` as the command's first word is this interpreter. In-process there is
no endpoint a job process could reach, so jobs that call AWS need server mode. Not
emulated: dependsOn, multi-node jobs, terminating the job when its execution is stopped.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import copy
import datetime as dt
import functools
import hashlib
import heapq
import importlib.util
import inspect
import io
import itertools
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
import urllib.parse
import urllib.request
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final
from unittest import mock

from runledger_local import processes
from runledger_local.logs import get_logger

LOG = get_logger(__name__)

ADAPTATIONS: Final[tuple[str, ...]] = (
    "endpoint_mode",
    "shared_models",
    "client_cache",
    "execution_names",
    "lambda_in_process",
    "batch_local",
    "jsonata",
    "retry_sleep",
    "mock_config",
    "asl_parse_cache",
    "fast_responses",
    "leaks",
    "loopback",
    "json_copies",
    "dynamodb_atomic",
    "stop_execution",
)

#: Fake credentials given to handlers and jobs, so nothing local can sign a real request.
_FAKE_CREDENTIALS: Final[dict[str, str]] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
#: Host variables never passed to a local Batch job (real credentials, profiles).
_STRIPPED_HOST_ENV: Final[frozenset[str]] = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    }
)

#: Seconds a ``.sync`` poll waits for the local job to end before handing back to moto's
#: polling loop (which then sleeps 0.5 s): long jobs cost one describe per this interval.
BATCH_SYNC_WAIT_SECONDS: Final[float] = 10.0
#: Seconds the local server waits for a connection before it looks for a stop request
#: again (werkzeug's default: 0.5 s, which every stop of the local cloud waited).
SERVER_POLL_SECONDS: Final[float] = 0.05
#: Seconds between SIGTERM and SIGKILL when a job attempt times out (AWS waits 30 s).
BATCH_KILL_GRACE_SECONDS: Final[float] = 2.0
_BATCH_LOG_GROUP: Final[str] = "/aws/batch/job"
_PYTHON_COMMANDS: Final[frozenset[str]] = frozenset(
    {"python", "python3", f"python3.{sys.version_info.minor}"}
)


class AdaptationBrokenError(RuntimeError):
    """A moto seam an adaptation patches is missing or changed (moto upgrade?)."""

    def __init__(self, adaptation: str, detail: str) -> None:
        super().__init__(f"moto adaptation '{adaptation}' cannot be applied: {detail}")
        self.adaptation = adaptation


class MockConfigError(ValueError):
    """The file named by SFN_MOCK_CONFIG does not follow Step Functions Local's format."""


# --------------------------------------------------------------------------------------
# Seams: every moto internal we touch is looked up (and checked) here.
# --------------------------------------------------------------------------------------


def _import(adaptation: str, module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AdaptationBrokenError(adaptation, f"cannot import {module}: {exc}") from exc


def _seam(
    adaptation: str, module: str, qualname: str, params: Sequence[str] | None = None
) -> tuple[Any, str, Any]:
    """Return (owner, attribute, current value) for ``module:qualname``, checked.

    ``params`` are the parameter names the callable must have (in order), so a changed
    signature fails here, loudly, instead of deep inside an execution.
    """
    owner: Any = _import(adaptation, module)
    *path, attribute = qualname.split(".")
    for part in path:
        owner = getattr(owner, part, None)
        if owner is None:
            raise AdaptationBrokenError(adaptation, f"{module}.{qualname} not found")
    if not hasattr(owner, attribute):
        raise AdaptationBrokenError(adaptation, f"{module}.{qualname} not found")
    value = getattr(owner, attribute)
    if params is not None:
        actual = list(inspect.signature(value).parameters)
        if actual != list(params):
            raise AdaptationBrokenError(
                adaptation,
                f"{module}.{qualname} has parameters {actual}, expected {list(params)}",
            )
    return owner, attribute, value


class _OncePerKey:
    """A bounded cache whose misses are computed once, however many threads ask at once.

    ``functools.lru_cache`` lets every thread that misses compute the value: with 100
    runs started together, each parse or router build ran up to 100 times (the REST
    routers alone cost 13 CPU-s of an 80 s benchmark). Here a miss is computed under a
    lock and the others wait for it; hits take no lock.
    """

    def __init__(self, compute: Callable[..., Any], maxsize: int) -> None:
        self._compute = compute
        self._maxsize = maxsize
        self._values: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self.misses = 0

    def __call__(self, *key: Any) -> Any:
        try:
            return self._values[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._values:
                self.misses += 1
                value = self._compute(*key)  # an exception leaves nothing cached
                if len(self._values) >= self._maxsize:
                    self._values.clear()
                self._values[key] = value
            return self._values[key]


# --------------------------------------------------------------------------------------
# The local cloud: settings and registries shared by the adaptations.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaSpec:
    """A Lambda function served in-process (from the template, or a test)."""

    name: str
    code_dir: Path
    handler: str = "app.lambda_handler"
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 3.0
    memory_mb: int = 128
    extra_paths: tuple[Path, ...] = ()

    @property
    def module_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def function_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


class LocalLambdaContext:
    """The context object the Python Lambda runtime passes to a handler.

    ``memory_limit_in_mb`` is a string, as in the real runtime (it reads an env var).
    """

    def __init__(
        self, spec: LambdaSpec, invoked_function_arn: str, request_id: str, deadline: float
    ) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = str(spec.memory_mb)
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"{dt.datetime.now(dt.UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _ChainLock:
    """Held by one invocation chain at a time; re-entrant within the chain.

    Waiters are served earliest ``priority`` first (then first come): a Lambda step of
    an execution started earlier goes before one of an execution started later, so runs
    started together move through their Lambda steps one after another instead of all
    at once. A release hands the lock to that one waiter (and wakes waiters of its
    chain, which may enter too), not to whoever asks next.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: str | None = None
        self._depth = 0
        self._queue: list[tuple[float, int, str, threading.Event]] = []
        self._tickets = itertools.count()

    def acquire(self, chain: str, priority: float = 0.0) -> None:
        with self._lock:
            if self._owner in (None, chain) and not (self._owner is None and self._queue):
                self._owner = chain
                self._depth += 1
                return
            turn = threading.Event()
            heapq.heappush(self._queue, (priority, next(self._tickets), chain, turn))
        turn.wait()
        with self._lock:
            self._depth += 1

    def release(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth or not self._queue:
                if not self._depth:
                    self._owner = None
                return
            _, _, chain, turn = heapq.heappop(self._queue)
            self._owner = chain
            turn.set()
            # Waiters of the chain that now holds the lock may enter at once.
            same = [entry for entry in self._queue if entry[2] == chain]
            if same:
                self._queue = [entry for entry in self._queue if entry[2] != chain]
                heapq.heapify(self._queue)
                for entry in same:
                    entry[3].set()


_LAMBDA_LOCK = _ChainLock()
_INVOCATION = threading.local()


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextlib.contextmanager
def _sys_path(paths: Sequence[Path]) -> Iterator[None]:
    added = [str(path) for path in paths]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def _json_default(value: Any) -> Any:
    # What the Python Lambda runtime's marshaller accepts beyond plain JSON.
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error_payload(error_type: str, message: str, request_id: str, stack: list[str]) -> bytes:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": stack,
        }
    ).encode()


class _RuntimeInitError(Exception):
    """A handler that cannot be loaded, named as the Lambda Python runtime names it."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class _InProcessFunction:
    def __init__(self, spec: LambdaSpec) -> None:
        self.spec = spec
        digest = hashlib.sha256(str(spec.module_file.resolve()).encode()).hexdigest()[:10]
        safe = re.sub(r"\W", "_", spec.name)
        self.module_name = f"_runledger_lambda_{safe}_{digest}"
        self._handler: Callable[[Any, Any], Any] | None = None

    def handler(self) -> Callable[[Any, Any], Any]:
        """Import the handler module on first use (the cold start)."""
        if self._handler is None:
            path = self.spec.module_file
            module_spec = importlib.util.spec_from_file_location(self.module_name, path)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot load handler module {path}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[self.module_name] = module
            try:
                module_spec.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(self.module_name, None)
                raise _RuntimeInitError(
                    "Runtime.ImportModuleError", f"Unable to import module '{path.stem}': {exc}"
                ) from exc
            function = getattr(module, self.spec.function_attribute, None)
            if not callable(function):
                raise _RuntimeInitError(
                    "Runtime.HandlerNotFound",
                    f"Handler '{self.spec.function_attribute}' missing on module '{path.stem}'",
                )
            self._handler = function
        return self._handler


def _default_job_slots() -> int:
    """Two job processes per core: enough to keep the cores busy while jobs wait on I/O."""
    return 2 * (os.cpu_count() or 1)


def _job_tags(job: Any) -> dict[str, str]:
    return dict(job.backend.list_tags_for_resource(job.arn) or {})


def _tags_match(tags: Mapping[str, str], match: Mapping[str, str]) -> bool:
    """Whether ``tags`` include every tag of ``match`` (how injected faults pick jobs)."""
    return all(tags.get(k) == v for k, v in match.items())


@dataclass
class _LocalJob:
    """A Batch job run as a local process (one per submitted job)."""

    job: Any  # moto.batch.models.Job
    command: list[str]
    environment: dict[str, str]  # job definition + overrides, as describe_jobs shows
    retry_strategy: dict[str, Any]
    propagate_tags: bool
    done: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    reason: str | None = None
    process: processes.JobProcess | None = None


class LocalCloud:
    """Settings and registries of the active local cloud (see the module docstring)."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        batch_workdir: Path | None = None,
        batch_env: Mapping[str, str] | None = None,
        lambda_env: Mapping[str, str] | None = None,
        retry_sleep_scale: float = 0.0,
    ) -> None:
        #: Server mode: the moto server URL (given to handlers and jobs as AWS_ENDPOINT_URL).
        self.endpoint_url = endpoint_url
        #: Working directory of Batch job processes.
        self.batch_workdir = batch_workdir or Path.cwd()
        #: Extra environment for every Batch job (the job definition's own env wins).
        self.batch_env: dict[str, str] = dict(batch_env or {})
        #: Extra environment for every Lambda handler (the function's own env wins).
        self.lambda_env: dict[str, str] = dict(lambda_env or {})
        #: Factor applied to Retry intervals (0 = retry at once, 1 = real waiting).
        self.retry_sleep_scale = retry_sleep_scale
        #: Injected job failures: (tags to match, exit code per attempt); see inject_job_exit.
        self.job_faults: list[tuple[dict[str, str], tuple[int, ...]]] = []
        #: Held jobs: (tags to match, release); see hold_next_job.
        self.job_holds: list[tuple[dict[str, str], threading.Event]] = []
        #: Injected Lambda service errors: function name -> [code, HTTP status, times left].
        self.lambda_faults: dict[str, list[Any]] = {}
        self._faults_lock = threading.Lock()
        self._functions: dict[str, _InProcessFunction] = {}
        self._jobs: dict[str, _LocalJob] = {}
        self._jobs_lock = threading.Lock()
        #: Batch job processes running at once: the local compute capacity. Other jobs
        #: wait RUNNABLE, as on AWS when a compute environment is at its MaxvCpus; each
        #: running job holds 25-40 MB of its own. Settable.
        self.max_running_jobs = _default_job_slots()
        self._job_slots = threading.Condition()
        self._running_jobs = 0

    # ---- Batch -------------------------------------------------------------------
    def _acquire_job_slot(self, job: Any) -> bool:
        """Wait (RUNNABLE) for a free slot; False if the job was cancelled meanwhile."""
        with self._job_slots:
            while self._running_jobs >= max(1, self.max_running_jobs):
                if job.stop:
                    return False
                self._job_slots.wait(1.0)  # a cancelled job leaves the queue within 1 s
            self._running_jobs += 1
            return True

    def _release_job_slot(self) -> None:
        with self._job_slots:
            self._running_jobs -= 1
            self._job_slots.notify()

    def inject_job_exit(self, tags: Mapping[str, str], exit_codes: Sequence[int]) -> None:
        """Make jobs whose tags include ``tags`` exit with ``exit_codes[n-1]`` on attempt n.

        The attempt runs a stand-in process instead of the job's command, so retry
        strategies, ``.sync`` failures and write-backs are exercised with the real exit
        code; attempts beyond the list run the real command.
        """
        self.job_faults.append((dict(tags), tuple(exit_codes)))

    def hold_next_job(self, tags: Mapping[str, str]) -> threading.Event:
        """Hold the next job whose tags include ``tags`` RUNNING, before its command
        starts, until the returned event is set (or the job is terminated).

        A run can so be kept in flight at a known point: to re-run it meanwhile, or to
        time it out. Only that one job waits; later jobs with the same tags do not.
        """
        release = threading.Event()
        with self._faults_lock:
            self.job_holds.append((dict(tags), release))
        return release

    def _take_hold(self, job: Any) -> threading.Event | None:
        if not self.job_holds:
            return None
        tags = _job_tags(job)
        with self._faults_lock:
            for index, (match, release) in enumerate(self.job_holds):
                if _tags_match(tags, match):
                    del self.job_holds[index]
                    return release
        return None

    def _injected_exit(self, job: Any, attempt: int) -> int | None:
        if not self.job_faults:
            return None
        tags = _job_tags(job)
        for match, codes in self.job_faults:
            if attempt <= len(codes) and _tags_match(tags, match):
                return codes[attempt - 1]
        return None

    # ---- Lambda ------------------------------------------------------------------
    def inject_lambda_error(
        self,
        name_or_arn: str,
        times: int,
        code: str = "TooManyRequestsException",
        status: int = 429,
    ) -> None:
        """Answer the next ``times`` invokes of a function with a Lambda service error.

        The error comes from the Lambda API (throttling by default: 429
        ``TooManyRequestsException``), before the handler runs, so a Step Functions task
        sees ``Lambda.<code>`` and its Retry applies, as on AWS.
        """
        with self._faults_lock:
            self.lambda_faults[_function_name(name_or_arn)] = [code, status, times]

    def _lambda_fault_pending(self, name: str) -> bool:
        with self._faults_lock:
            fault = self.lambda_faults.get(name)
            return bool(fault and fault[2] > 0)

    def _injected_lambda_error(self, name: str) -> tuple[str, int] | None:
        with self._faults_lock:
            fault = self.lambda_faults.get(name)
            if not fault or fault[2] <= 0:
                return None
            fault[2] -= 1
            return str(fault[0]), int(fault[1])

    def register_function(
        self,
        name_or_arn: str,
        *,
        code_dir: Path,
        handler: str = "app.lambda_handler",
        environment: Mapping[str, str] | None = None,
        timeout: float = 3.0,
        memory_mb: int = 128,
        extra_paths: Iterable[Path] = (),
    ) -> LambdaSpec:
        """Serve invokes of ``name_or_arn`` with ``handler`` from ``code_dir``.

        The handler module is imported by file path under a unique module name on the
        first invoke; ``code_dir`` and ``extra_paths`` (e.g. a layer's ``python/``) are on
        ``sys.path`` while it is imported and runs. Defaults are Lambda's (3 s, 128 MB).
        """
        name = _function_name(name_or_arn)
        spec = LambdaSpec(
            name=name,
            code_dir=Path(code_dir),
            handler=handler,
            environment=dict(environment or {}),
            timeout=float(timeout),
            memory_mb=int(memory_mb),
            extra_paths=tuple(Path(p) for p in extra_paths),
        )
        if not spec.module_file.is_file():
            raise FileNotFoundError(f"handler module {spec.module_file} does not exist")
        old = self._functions.get(name)
        if old is not None:
            sys.modules.pop(old.module_name, None)
        self._functions[name] = _InProcessFunction(spec)
        return spec

    def registered_function(self, name_or_arn: str) -> LambdaSpec | None:
        function = self._functions.get(_function_name(name_or_arn))
        return None if function is None else function.spec

    def _lambda_environment(self, spec: LambdaSpec, region: str, context: Any) -> dict[str, str]:
        env = {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": context.log_stream_name,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python3.{sys.version_info.minor}",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            **_FAKE_CREDENTIALS,
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        env.update(self.lambda_env)
        env.update(spec.environment)
        return env

    def _invoke(self, name: str, event: Any, region: str, account: str) -> tuple[bytes, bool]:
        """Run a registered handler; returns (payload, is_function_error)."""
        function = self._functions[name]
        spec = function.spec
        request_id = str(uuid.uuid4())
        chain: str = getattr(_INVOCATION, "chain", None) or request_id
        arn = f"arn:aws:lambda:{region}:{account}:function:{spec.name}"
        context = LocalLambdaContext(spec, arn, request_id, time.monotonic() + spec.timeout)
        outcome: dict[str, Any] = {}
        finished = threading.Event()

        def run() -> None:
            _INVOCATION.chain = chain
            try:
                outcome["result"] = function.handler()(event, context)
            except BaseException as exc:  # the runtime reports every exception
                outcome["error"] = exc
            finally:
                finished.set()

        _LAMBDA_LOCK.acquire(chain, getattr(_INVOCATION, "priority", None) or time.time())
        try:
            env = self._lambda_environment(spec, region, context)
            with _environ(env), _sys_path((spec.code_dir, *spec.extra_paths)):
                worker = threading.Thread(target=run, name=f"lambda-{spec.name}", daemon=True)
                worker.start()
                on_time = finished.wait(spec.timeout)
        finally:
            _LAMBDA_LOCK.release()

        if not on_time:
            LOG.warning("Lambda %s timed out after %.2f s", spec.name, spec.timeout)
            message = (
                f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
            )
            return _error_payload("Sandbox.Timedout", message, request_id, []), True
        if "error" in outcome:
            exc: BaseException = outcome["error"]
            frames = [
                frame
                for frame in traceback.extract_tb(exc.__traceback__)
                if frame.filename != __file__
            ]
            error_type = getattr(exc, "error_type", None) or type(exc).__name__
            LOG.info("Lambda %s raised %s: %s", spec.name, error_type, exc)
            stack = traceback.format_list(frames)
            return _error_payload(error_type, str(exc), request_id, stack), True
        try:
            return json.dumps(outcome["result"], default=_json_default).encode(), False
        except (TypeError, ValueError) as exc:
            message = f"Unable to marshal response: {exc}"
            return _error_payload("Runtime.MarshalError", message, request_id, []), True

    # ---- Batch -------------------------------------------------------------------
    def _register_job(self, local: _LocalJob) -> None:
        with self._jobs_lock:
            self._jobs[local.job.job_id] = local

    def _local_job(self, job_id: str | None) -> _LocalJob | None:
        if job_id is None:
            return None
        with self._jobs_lock:
            return self._jobs.get(job_id)

    def _stop_jobs(self) -> None:
        with self._jobs_lock:
            running = [job for job in self._jobs.values() if not job.done.is_set()]
        for local in running:
            local.job.stop = True
            if local.process is not None and local.process.poll() is None:
                _kill(local.process, graceful=False)
        for local in running:
            local.done.wait(5)


def _lambda_service_error(code: str, status: int) -> Exception:
    """An error of the Lambda API itself (not of the function), as moto answers it."""
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError(code, "Rate exceeded" if status == 429 else code)
    error.code = status
    return error


def _function_name(name_or_arn: str) -> str:
    """``fn``, ``fn:alias``, ``123:function:fn`` and full ARNs all name ``fn``."""
    parts = name_or_arn.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


# --------------------------------------------------------------------------------------
# Adaptation: endpoint mode (and moto's own configuration).
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _adapt_endpoint_mode(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    with _environ({"AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}):
        yield


@contextlib.contextmanager
def _configure_moto() -> Iterator[None]:
    name = "configure_moto"
    _, _, config = _seam(name, "moto.core.config", "default_user_config")
    wanted = {
        "stepfunctions": {**config.get("stepfunctions", {}), "execute_state_machine": True},
        "lambda": {**config.get("lambda", {}), "use_docker": False},
        "batch": {**config.get("batch", {}), "use_docker": False},
    }
    with mock.patch.dict(config, wanted):
        yield


# --------------------------------------------------------------------------------------
# Adaptation: shared models.
# --------------------------------------------------------------------------------------

_OFFERINGS: Final[str] = "moto.ec2.models.instance_types"


class _OfferingsByRegion(Mapping[str, list[dict[str, Any]]]):
    """Region -> instance type offerings of one location type, each region's file read
    when first asked: moto reads every region's at import (about 60 MB kept)."""

    def __init__(self, location_type: str, files: Mapping[str, str], load: Any) -> None:
        self._location_type = location_type
        self._files = dict(files)  # region -> moto resource path
        self._load = load
        self._read: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, region: str) -> list[dict[str, Any]]:
        try:
            return self._read[region]
        except KeyError:
            path = self._files[region]  # KeyError for a region moto has no file of
        with self._lock:
            if region not in self._read:
                offerings = self._load(path)
                for offering in offerings:  # as moto's import does
                    offering["LocationType"] = self._location_type
                self._read[region] = offerings
            return self._read[region]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def _lazy_offerings(adaptation: str) -> None:
    module, _, offerings = _seam(adaptation, _OFFERINGS, "INSTANCE_TYPE_OFFERINGS")
    _, _, load = _seam(adaptation, "moto.utilities.utils", "load_resource", ["resource"])
    folder = "ec2/resources/instance_type_offerings"
    root = Path(module.__file__).parent.parent / "resources/instance_type_offerings"
    if not root.is_dir() or set(offerings) != {entry.name for entry in root.iterdir()}:
        raise AdaptationBrokenError(adaptation, f"{_OFFERINGS} no longer reads {folder}/*")
    for location_type, by_region in list(offerings.items()):
        if isinstance(by_region, _OfferingsByRegion):
            continue  # an earlier cloud of this process replaced it
        files = {
            name.split(".")[0]: f"{folder}/{location_type}/{name}"
            for name in sorted(os.listdir(root / location_type))
        }
        if set(files) != set(by_region):
            raise AdaptationBrokenError(adaptation, f"{folder}/{location_type}: other regions")
        offerings[location_type] = _OfferingsByRegion(location_type, files, load)


@contextlib.contextmanager
def _adapt_shared_models(cloud: LocalCloud) -> Iterator[None]:
    """One botocore model loader per data path for the sessions made meanwhile, and
    EC2's offerings read per region.

    A loader only reads and caches the model files, which botocore never changes once
    read, so sessions can share one as a session's clients do. The offerings stay lazy
    after the undo: they answer as the dicts did.
    """
    del cloud
    name = "shared_models"
    session_module, attribute, create_loader = _seam(
        name, "botocore.session", "create_loader", ["search_path_string"]
    )
    loaders: dict[str | None, Any] = {}
    lock = threading.Lock()

    def shared_loader(search_path_string: str | None = None) -> Any:
        with lock:
            if search_path_string not in loaders:
                loaders[search_path_string] = create_loader(search_path_string)
            return loaders[search_path_string]

    with mock.patch.object(session_module, attribute, shared_loader):
        _lazy_offerings(name)  # moto's EC2 import makes three sessions: they share too
        yield


# --------------------------------------------------------------------------------------
# Adaptation: client cache.
# --------------------------------------------------------------------------------------

_BOTO_CLIENT_MODULE: Final[str] = "moto.stepfunctions.parser.asl.utils.boto_client"
_BOTO_CLIENT_USERS: Final[tuple[str, ...]] = tuple(
    "moto.stepfunctions.parser.asl.component.state." + suffix
    for suffix in (
        "exec.state_task.lambda_eval_utils",
        "exec.state_task.service.state_task_service_aws_sdk",
        "exec.state_task.service.state_task_service_batch",
        "exec.state_task.service.state_task_service_dynamodb",
        "exec.state_task.service.state_task_service_ecs",
        "exec.state_task.service.state_task_service_events",
        "exec.state_task.service.state_task_service_glue",
        "exec.state_task.service.state_task_service_sfn",
        "exec.state_task.service.state_task_service_sns",
        "exec.state_task.service.state_task_service_sqs",
        "exec.state_task.service.state_task_service_unsupported",
        "exec.state_map.item_reader.eval.resource_eval_s3",
        "exec.state_map.result_writer.resource_eval.resource_eval_s3",
    )
)


@contextlib.contextmanager
def _adapt_client_cache(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    name = "client_cache"
    _, _, original = _seam(
        name, _BOTO_CLIENT_MODULE, "boto_client_for", ["region", "service", "state_credentials"]
    )
    _, _, stubber = _seam(name, "moto.core.models", "botocore_stubber")
    _, _, server_port = _seam(name, "moto.settings", "moto_server_port")
    cache: dict[tuple[str, str, str | None], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto ignores state_credentials (fixed fake keys), so it is not part of the key.
        endpoint = None if stubber.enabled else f"http://localhost:{server_port()}"
        key = (service, region, endpoint)
        client = cache.get(key)
        if client is None:
            with lock:
                client = cache.get(key)
                if client is None:
                    client = original(region, service, state_credentials)
                    cache[key] = client
        return client

    # Import every user before patching: a module imported while the patch is on would
    # keep the cached function after the undo.
    modules = [
        _import(name, module_name) for module_name in (_BOTO_CLIENT_MODULE, *_BOTO_CLIENT_USERS)
    ]
    for module in modules:
        if getattr(module, "boto_client_for", None) is not original:
            raise AdaptationBrokenError(name, f"{module.__name__} no longer uses boto_client_for")
    with contextlib.ExitStack() as stack:
        for module in modules:
            stack.enter_context(mock.patch.object(module, "boto_client_for", boto_client_for))
        try:
            yield
        finally:
            cache.clear()


# --------------------------------------------------------------------------------------
# Adaptation: execution names.
# --------------------------------------------------------------------------------------

_SFN_BACKEND: Final[str] = "moto.stepfunctions.parser.models"
_START_EXECUTION_PARAMS: Final[list[str]] = [
    "self",
    "state_machine_arn",
    "name",
    "execution_input",
    "trace_header",
]


@contextlib.contextmanager
def _adapt_execution_names(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    owner, attribute, original = _seam(
        "execution_names",
        _SFN_BACKEND,
        "StepFunctionsParserBackend.start_execution",
        _START_EXECUTION_PARAMS,
    )

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        return original(
            self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
        )

    with mock.patch.object(owner, attribute, start_execution):
        yield


# --------------------------------------------------------------------------------------
# Adaptation: stop_execution.
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _adapt_stop_execution(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    name = "stop_execution"
    map_owner, map_attr, original_map = _seam(
        name,
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map",
        "StateMap._eval_state",
        ["self", "env"],
    )
    task_owner, task_attr, original_wait = _seam(
        name,
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
        "state_task_service_callback",
        "StateTaskServiceCallback._eval_wait_for_task_token",
        ["self", "env", "timeout_seconds", "callback_endpoint", "heartbeat_endpoint"],
    )
    _, _, timed_out = _seam(
        name, "moto.stepfunctions.parser.asl.eval.callback.callback", "CallbackOutcomeTimedOut"
    )
    response_owner, response_attr, original_stop = _seam(
        name, "moto.stepfunctions.responses", "StepFunctionResponse.stop_execution", ["self"]
    )
    _, _, action_result = _seam(name, "moto.core.responses", "ActionResult")
    _, _, utcnow = _seam(name, "moto.core.utils", "utcnow")

    def eval_state(self: Any, env: Any) -> None:
        try:
            original_map(self, env)
        except Exception:
            # The iterations of a stopped execution end MapIterationAborted; moto's Map
            # state then fails on the stop's details. Stopped, the program ends ABORTED.
            if env.is_running():
                raise

    def eval_wait_for_task_token(
        self: Any, env: Any, timeout_seconds: Any, callback_endpoint: Any, heartbeat_endpoint: Any
    ) -> Any:
        # A .sync task also waits for a task token, in a thread of its own. Stopped before
        # the task read its timeout, the engine skips that evaluation and the task pops
        # its output instead (a dict), on which the wait died with a TypeError.
        if not env.is_running():
            return timed_out(callback_id=callback_endpoint.callback_id)
        return original_wait(self, env, timeout_seconds, callback_endpoint, heartbeat_endpoint)

    def stop_with_error_and_cause(self: Any) -> Any:
        # moto's StopExecution drops the request's error and cause (it stops the execution
        # with empty ones), so the ExecutionAborted event and the status-change event
        # rules react to lacked what the caller said. Executions of the ASL engine are
        # stopped with them; anything else goes the way it always did.
        arn = self._get_param("executionArn")
        execution = self.stepfunction_backend.describe_execution(arn)
        if getattr(execution, "exec_worker", None) is None:
            return original_stop(self)
        stopped = utcnow()
        execution.stop(
            stop_date=stopped, error=self._get_param("error"), cause=self._get_param("cause")
        )
        # The worker sets the execution's stop date later: answer with the one it was given
        # (moto answered without ``stopDate``, a required member of StopExecution's output).
        return action_result({"stopDate": execution.stop_date or stopped})

    with (
        mock.patch.object(map_owner, map_attr, eval_state),
        mock.patch.object(task_owner, task_attr, eval_wait_for_task_token),
        mock.patch.object(response_owner, response_attr, stop_with_error_and_cause),
    ):
        yield


# --------------------------------------------------------------------------------------
# Adaptation: leaks.
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _adapt_leaks(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    name = "leaks"
    utils = _import(name, "moto.stepfunctions.parser.utils")
    threads = getattr(utils, "TMP_THREADS", None)
    if not isinstance(threads, list):
        raise AdaptationBrokenError(name, "moto.stepfunctions.parser.utils.TMP_THREADS is gone")
    owner, attribute, original = _seam(
        name, _SFN_BACKEND, "StepFunctionsParserBackend.start_execution", _START_EXECUTION_PARAMS
    )

    def forget_finished() -> None:
        # moto appends every execution's, Map iteration's and .sync task's thread to this
        # list and never reads or empties it (LocalStack joins them at shutdown): about 30
        # Thread objects a run, kept for the life of the process.
        threads[:] = [thread for thread in threads if thread.is_alive()]

    # Method caches (functools on methods) that hold their instances: through them a reset
    # cloud's EC2 backend (1,300 AMIs with snapshots and volumes) outlives the reset.
    method_caches = [
        _seam(name, module, qualname)[2]
        for module, qualname in (
            ("moto.core.base_backend", "AccountSpecificBackend._generate_regions"),
            ("moto.ec2.models.subnets", "Subnet._base_avail_ip_iterator"),
        )
    ]
    for cached in method_caches:
        if not callable(getattr(cached, "cache_clear", None)):
            raise AdaptationBrokenError(name, f"{cached.__qualname__} is no longer cached")

    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        forget_finished()
        return original(self, *args, **kwargs)

    with mock.patch.object(owner, attribute, start_execution):
        try:
            yield
        finally:
            forget_finished()
            for cached in method_caches:
                cached.cache_clear()


# --------------------------------------------------------------------------------------
# Adaptation: Lambda in-process.
# --------------------------------------------------------------------------------------

_LAMBDA_EVAL_UTILS: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
)
_TASK_INVOKE_PARAMS: Final[list[str]] = ["parameters", "region", "state_credentials"]
#: What moto's Invoke answers in place of a payload over 6 MB.
_OVERSIZED_LAMBDA_RESPONSE: Final[bytes] = json.dumps(
    {
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
).encode("utf-8")
_INVOKE_PARAMS: Final[list[str]] = [
    "self",
    "function_name",
    "qualifier",
    "body",
    "headers",
    "response_headers",
]


@contextlib.contextmanager
def _adapt_lambda_in_process(cloud: LocalCloud) -> Iterator[None]:
    name = "lambda_in_process"
    targets = [
        _seam(name, "moto.awslambda.models", "LambdaBackend.invoke", _INVOKE_PARAMS),
        _seam(name, "moto.awslambda_simple.models", "LambdaSimpleBackend.invoke", _INVOKE_PARAMS),
    ]

    def make_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
        def invoke(
            self: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, str],
        ) -> Any:
            target = _function_name(function_name)
            if target not in cloud._functions:
                return original(self, function_name, qualifier, body, headers, response_headers)
            try:
                event = json.loads(body) if body else {}
            except (TypeError, ValueError):
                event = body
            invocation_type = (headers or {}).get("X-Amz-Invocation-Type") or "RequestResponse"
            region, account = self.region_name, self.account_id
            if invocation_type == "Event":
                threading.Thread(
                    target=cloud._invoke,
                    args=(target, event, region, account),
                    name=f"lambda-event-{target}",
                    daemon=True,
                ).start()
                return b""
            if invocation_type == "DryRun":
                return b""
            injected = cloud._injected_lambda_error(target)
            if injected is not None:
                raise _lambda_service_error(*injected)
            payload, failed = cloud._invoke(target, event, region, account)
            if failed:
                response_headers["x-amz-function-error"] = "Unhandled"
            response_headers["x-amz-executed-version"] = "$LATEST"
            response_headers["Content-Length"] = str(len(payload))
            return payload

        return invoke

    eval_utils, _, invoke_for_task = _seam(
        name, _LAMBDA_EVAL_UTILS, "_invoke_lambda_function", _TASK_INVOKE_PARAMS
    )
    _, _, from_payload = _seam(
        name, _LAMBDA_EVAL_UTILS, "_from_payload", ["payload_streaming_body"]
    )
    _, _, default_account = _seam(name, "moto.core", "DEFAULT_ACCOUNT_ID")

    def invoke_task_directly(
        parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> Any:
        # A lambda:invoke task of the engine calls the handler itself, as the server's
        # Invoke (above) would: the same event, payload and FunctionError, without
        # botocore's serialise, sign and parse and moto's request set-up (4 ms of the
        # engine's CPU per invoke, 8 invokes a run). Anything else (a qualifier, an
        # async or dry-run type, an injected error, an unknown function) goes the way
        # it always did.
        target = _function_name(str(parameters.get("FunctionName", "")))
        body = parameters.get("Payload")
        if (
            not parameters.keys() <= {"FunctionName", "Payload", "InvocationType"}
            or parameters.get("InvocationType", "RequestResponse") != "RequestResponse"
            or target not in cloud._functions
            or cloud._lambda_fault_pending(target)
            or not isinstance(body, bytes | str | None)
        ):
            return invoke_for_task(parameters, region, state_credentials)
        if isinstance(body, bytes):
            with contextlib.suppress(UnicodeDecodeError):
                body = body.decode("utf-8")  # as moto's request body
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            event = body
        payload, failed = cloud._invoke(target, event, region, default_account)
        if sys.getsizeof(payload) > 6_000_000:  # moto's LambdaResponse.invoke
            failed, payload = True, _OVERSIZED_LAMBDA_RESPONSE
        response: dict[str, Any] = {"StatusCode": 200}
        if failed:
            response["FunctionError"] = "Unhandled"
        response["ExecutedVersion"] = "$LATEST"
        response["Payload"] = from_payload(io.BytesIO(payload))
        return response

    _, _, integration = _seam(
        name,
        _LAMBDA_EVAL_UTILS,
        "execute_lambda_function_integration",
        ["env", "parameters", "region", "state_credentials"],
    )

    def integration_in_start_order(
        env: Any, parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> Any:
        # The execution's start time orders its Lambda steps against other executions'.
        try:
            started = env.states.context_object.context_object_data["Execution"]["StartTime"]
        except (AttributeError, KeyError, TypeError):
            started = None  # unordered: served by arrival
        _INVOCATION.priority = started.timestamp() if isinstance(started, dt.datetime) else None
        try:
            return integration(env, parameters, region, state_credentials)
        finally:
            _INVOCATION.priority = None

    with contextlib.ExitStack() as stack:
        for owner, attribute, original in targets:
            stack.enter_context(mock.patch.object(owner, attribute, make_invoke(original)))
        stack.enter_context(
            mock.patch.object(eval_utils, "_invoke_lambda_function", invoke_task_directly)
        )
        stack.enter_context(
            mock.patch.object(
                eval_utils, "execute_lambda_function_integration", integration_in_start_order
            )
        )
        try:
            yield
        finally:
            for function in cloud._functions.values():
                sys.modules.pop(function.module_name, None)


# --------------------------------------------------------------------------------------
# Adaptation: Batch jobs as local processes, and batch:submitJob.sync.
# --------------------------------------------------------------------------------------

_BATCH_TASK: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch"
)
_SUBMIT_EXTRAS = threading.local()


_OPERATION_MODELS: dict[tuple[str, str], Any] = {}
_OPERATION_MODELS_LOCK = threading.Lock()


def _operation_model(service: str, snake_action: str) -> Any:
    """botocore's model of an operation, loaded once (Map iterations ask concurrently)."""
    key = (service, snake_action)
    model = _OPERATION_MODELS.get(key)
    if model is None:
        with _OPERATION_MODELS_LOCK:
            model = _OPERATION_MODELS.get(key)
            if model is None:
                import botocore.session
                from botocore import xform_name

                service_model = botocore.session.get_session().get_service_model(service)
                for operation in service_model.operation_names:
                    if xform_name(operation) == snake_action:
                        model = service_model.operation_model(operation)
                        break
                else:
                    raise KeyError(f"{service} has no operation {snake_action}")
                _OPERATION_MODELS[key] = model
    return model


def _normalise_parameters(
    self: Any,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    # What upstream (LocalStack) does for every service: map the ASL's PascalCase
    # parameters onto the botocore input shape (JobName -> jobName, ...).
    model = _operation_model(
        self._get_boto_service_name(boto_service_name),
        self._get_boto_service_action(service_action_name),
    )
    if model.input_shape is not None:
        self._to_boto_request(parameters, model.input_shape)


def _normalise_response(
    self: Any,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    # ...and the botocore response back to the PascalCase Step Functions returns.
    model = _operation_model(
        self._get_boto_service_name(boto_service_name),
        self._get_boto_service_action(service_action_name),
    )
    if model.output_shape is not None:
        self._from_boto_response(response, model.output_shape)


def _epoch_ms(moment: dt.datetime | None = None) -> int:
    return int((moment or dt.datetime.now()).timestamp() * 1000)


def _glob_match(pattern: str, value: str) -> bool:
    # AWS Batch globs: exact match, or a prefix match when the pattern ends with '*'.
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def _retry_action(
    evaluate_on_exit: Sequence[Mapping[str, str]],
    exit_code: int | None,
    reason: str | None,
    status_reason: str | None,
) -> str:
    """RETRY or EXIT for a failed attempt, as AWS Batch's EvaluateOnExit decides."""
    for condition in evaluate_on_exit:
        checks = (
            ("onExitCode", "" if exit_code is None else str(exit_code)),
            ("onReason", reason or ""),
            ("onStatusReason", status_reason or ""),
        )
        if all(key not in condition or _glob_match(condition[key], value) for key, value in checks):
            return str(condition.get("action", "RETRY")).upper()
    return "RETRY"  # no condition matched: the job is retried


def _kill(process: processes.JobProcess, *, graceful: bool) -> None:
    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            try:
                os.killpg(process.pid, sig)  # the job's process group (its own session)
            except ProcessLookupError:  # not yet its own group leader
                os.kill(process.pid, sig)

    if graceful:
        send(signal.SIGTERM)
        try:
            process.wait(BATCH_KILL_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            pass
    send(signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def _env_list(values: Any) -> dict[str, str]:
    return {item["name"]: str(item.get("value", "")) for item in values or [] if "name" in item}


def _new_local_job(job: Any, extras: Mapping[str, Any]) -> _LocalJob:
    definition = job.job_definition
    container = definition.container_properties or {}
    overrides = copy.deepcopy(job.container_overrides or {})
    command = overrides.get("command") or container.get("command") or []
    environment = _env_list(container.get("environment"))
    environment.update(_env_list(overrides.get("environment")))
    retry_strategy = extras.get("retryStrategy") or definition.retry_strategy or {}
    propagate = extras.get("propagateTags")
    if propagate is None:
        propagate = bool(getattr(definition, "propagate_tags", False))
    return _LocalJob(
        job=job,
        command=list(job._add_parameters_to_command(command)),
        environment=environment,
        retry_strategy=dict(retry_strategy),
        propagate_tags=bool(propagate),
    )


def _job_process_env(cloud: LocalCloud, local: _LocalJob, attempt: int) -> dict[str, str]:
    job = local.job
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_HOST_ENV}
    region = job.job_definition._region
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region, **_FAKE_CREDENTIALS})
    if cloud.endpoint_url:
        env["AWS_ENDPOINT_URL"] = cloud.endpoint_url
    env.update(cloud.batch_env)
    env.update(local.environment)
    queue = job.job_queue
    env.update(
        {
            "AWS_BATCH_JOB_ID": job.job_id,
            "AWS_BATCH_JOB_ATTEMPT": str(attempt),
            "AWS_BATCH_JQ_NAME": queue.name,
            "AWS_BATCH_CE_NAME": _compute_environment_name(queue),
        }
    )
    index = (job.array_properties or {}).get("index")
    if index is not None:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    return env


def _compute_environment_name(queue: Any) -> str:
    order = getattr(queue, "env_order_json", None) or []
    if order:
        return str(order[0].get("computeEnvironment", "")).rsplit("/", 1)[-1]
    return "local"


def _resolve_command(command: Sequence[str]) -> list[str]:
    resolved = list(command)
    if resolved and resolved[0] in _PYTHON_COMMANDS:
        resolved[0] = sys.executable
    return resolved


def _put_job_logs(job: Any, stream: str, output: bytes, started_ms: int) -> None:
    lines = output.decode(errors="replace").splitlines()
    for line in lines:
        LOG.debug("batch %s: %s", job.job_name, line)
    try:
        logs = job._log_backend
        logs.ensure_log_group(_BATCH_LOG_GROUP)
        logs.ensure_log_stream(_BATCH_LOG_GROUP, stream)
        if lines:
            events = [{"timestamp": started_ms, "message": line} for line in lines]
            logs.put_log_events(_BATCH_LOG_GROUP, stream, events)
    except Exception:  # logs are a convenience; never fail the job for them
        LOG.debug("could not store logs for job %s", job.job_id, exc_info=True)


def _run_attempt(cloud: LocalCloud, local: _LocalJob, number: int) -> dict[str, Any]:
    """Run one attempt; returns the AWS-shaped attempt detail."""
    job = local.job
    stream = f"{job.job_definition.name}/default/{uuid.uuid4().hex}"
    job.log_stream_name = stream
    started = dt.datetime.now()
    job.job_started_at = started
    job.status = "RUNNING"
    duration = job._get_attempt_duration()
    exit_code: int | None = None
    reason: str | None = None
    status_reason = "Essential container in task exited"
    hold = cloud._take_hold(job) if number == 1 else None
    while hold is not None and not hold.wait(0.05) and not job.stop:
        pass  # held by hold_next_job; a terminated job is stopped below, as any other
    with tempfile.NamedTemporaryFile(prefix="runledger-job-") as output:
        command = _resolve_command(local.command)
        injected = cloud._injected_exit(job, number)
        if injected is not None:
            command = [sys.executable, "-c", f"print('injected exit {injected}'); exit({injected})"]
        try:
            if not command:
                raise FileNotFoundError("the job definition has no command")
            local.process = processes.start(
                command,
                cwd=cloud.batch_workdir,
                env=_job_process_env(cloud, local, number),
                output=output,
            )
        except OSError as exc:
            reason = f"CannotStartContainerError: {exc}"
            status_reason = "Task failed to start"
        else:
            deadline = None if duration is None else time.monotonic() + float(duration)
            while local.process.poll() is None:
                if job.stop:
                    status_reason = job.job_stopped_reason or "Job terminated"
                    _kill(local.process, graceful=True)
                    break
                if deadline is not None and time.monotonic() > deadline:
                    status_reason = "Job attempt duration exceeded timeout"
                    _kill(local.process, graceful=True)
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    local.process.wait(0.05)
            returncode = local.process.wait()
            exit_code = returncode if returncode >= 0 else 128 - returncode  # as Docker
        stopped = dt.datetime.now()
        output.seek(0)
        _put_job_logs(job, stream, output.read(), _epoch_ms(started))
    container: dict[str, Any] = {
        "containerInstanceArn": "local",
        "taskArn": f"arn:aws:ecs:{job.job_definition._region}:local:task/{uuid.uuid4().hex}",
        "logStreamName": stream,
        "networkInterfaces": [],
    }
    if exit_code is not None:
        container["exitCode"] = exit_code
    if reason is not None:
        container["reason"] = reason
    return {
        "container": container,
        "startedAt": _epoch_ms(started),
        "stoppedAt": _epoch_ms(stopped),
        "statusReason": status_reason,
    }


def _run_job(cloud: LocalCloud, local: _LocalJob) -> None:
    job = local.job
    try:
        strategy = local.retry_strategy
        allowed = min(10, max(1, int(strategy.get("attempts", 1) or 1)))
        succeeded = False
        status_reason = None
        for number in range(1, allowed + 1):
            job.status = "RUNNABLE"
            if not cloud._acquire_job_slot(job):
                status_reason = job.job_stopped_reason or "Job cancelled while RUNNABLE"
                break
            try:
                attempt = _run_attempt(cloud, local, number)
            finally:
                cloud._release_job_slot()
            job.attempts.append(attempt)
            container = attempt["container"]
            local.exit_code = container.get("exitCode")
            local.reason = container.get("reason")
            status_reason = attempt["statusReason"]
            if local.exit_code == 0 and not job.stop:
                succeeded = True
                break
            timed_out = status_reason == "Job attempt duration exceeded timeout"
            if job.stop or timed_out or number == allowed:
                break  # timeouts and cancellations are never retried
            action = _retry_action(
                strategy.get("evaluateOnExit") or [],
                local.exit_code,
                local.reason,
                status_reason,
            )
            if action == "EXIT":
                break
        job.exit_code = local.exit_code
        job.job_stopped_reason = status_reason
        job._mark_stopped(success=succeeded)
    except Exception as exc:
        LOG.exception("local Batch job %s crashed", job.job_id)
        job.job_stopped_reason = f"Local runner error: {exc}"
        job._mark_stopped(success=False)
    finally:
        local.process = None
        local.done.set()


def _run_array_parent(cloud: LocalCloud, local: _LocalJob) -> None:
    job = local.job
    prefix = f"{job.job_id}:"
    with cloud._jobs_lock:
        children = [j for key, j in cloud._jobs.items() if key.startswith(prefix)]
    for child in children:
        child.done.wait()
    job._mark_stopped(success=all(child.job.status == "SUCCEEDED" for child in children))
    local.done.set()


@contextlib.contextmanager
def _adapt_batch_local(cloud: LocalCloud) -> Iterator[None]:
    name = "batch_local"
    mark_owner, mark_attr, _ = _seam(
        name,
        "moto.batch_simple.models",
        "BatchSimpleBackend._mark_job_as_finished",
        ["self", "include_start_attempt", "job"],
    )
    submit_owner, submit_attr, original_submit = _seam(
        name, "moto.batch.responses", "BatchResponse.submitjob", ["self"]
    )
    describe_owner, describe_attr, original_describe = _seam(
        name, "moto.batch.models", "Job.describe", ["self"]
    )
    jobs_owner, jobs_attr, _ = _seam(
        name, "moto.batch.models", "BatchBackend.describe_jobs", ["self", "jobs"]
    )
    for helper in ("_add_parameters_to_command", "_get_attempt_duration", "_mark_stopped"):
        _seam(name, "moto.batch.models", f"Job.{helper}")
    _, _, task_class = _seam(name, _BATCH_TASK, "StateTaskServiceBatch")
    _, _, supported = _seam(name, _BATCH_TASK, "_SUPPORTED_API_PARAM_BINDINGS")
    if "submitjob" not in supported:
        raise AdaptationBrokenError(name, "moto no longer lists batch:submitJob parameters")
    for helper in ("_to_boto_request", "_from_boto_response", "_get_boto_service_action"):
        _seam(name, _BATCH_TASK, f"StateTaskServiceBatch.{helper}")
    _, build_attr, original_build = _seam(
        name,
        _BATCH_TASK,
        "StateTaskServiceBatch._build_sync_resolver",
        ["self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"],
    )

    def submitjob(self: Any) -> Any:
        # moto drops these SubmitJob parameters; the job runner needs them.
        _SUBMIT_EXTRAS.value = {
            "propagateTags": self._get_param("propagateTags"),
            "retryStrategy": self._get_param("retryStrategy"),
        }
        try:
            return original_submit(self)
        finally:
            _SUBMIT_EXTRAS.value = None

    def mark_job_as_finished(self: Any, include_start_attempt: bool, job: Any) -> None:
        # Instead of marking the job SUCCEEDED at once: run it.
        self.backend._jobs[job.job_id] = job
        local = _new_local_job(job, getattr(_SUBMIT_EXTRAS, "value", None) or {})
        cloud._register_job(local)
        target = _run_job if include_start_attempt else _run_array_parent
        threading.Thread(
            target=target, args=(cloud, local), name=f"batch-{job.job_id}", daemon=True
        ).start()

    def describe(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = original_describe(self)
        local = cloud._local_job(self.job_id)
        if local is None:
            return result
        container = result.get("container")
        if isinstance(container, dict):
            container["command"] = list(local.command)
            container["environment"] = [
                {"name": key, "value": value} for key, value in local.environment.items()
            ]
            if local.exit_code is not None:
                container["exitCode"] = local.exit_code
            if local.reason is not None:
                container["reason"] = local.reason
        result["attempts"] = copy.deepcopy(self.attempts)
        result["propagateTags"] = local.propagate_tags
        result["retryStrategy"] = copy.deepcopy(local.retry_strategy)
        result["platformCapabilities"] = list(self.job_definition.platform_capabilities or [])
        return result

    def describe_jobs(self: Any, jobs: list[str] | None) -> list[dict[str, Any]]:
        # moto iterates the live job dict, which concurrent SubmitJobs (Map iterations)
        # resize: "dictionary changed size during iteration". Iterate a snapshot.
        wanted = set(jobs or [])
        return [
            job.describe()
            for job_id, job in list(self._jobs.items())
            if not wanted or job_id in wanted or job.arn in wanted
        ]

    def build_sync_resolver(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: Any,
        state_credentials: Any,
    ) -> Any:
        submission = env.stack[-1] if env.stack else None
        job_id = submission.get("JobId") if isinstance(submission, dict) else None
        resolver = original_build(
            self, env, resource_runtime_part, normalised_parameters, state_credentials
        )
        local = cloud._local_job(job_id)
        if resolver is None or local is None:
            return resolver

        def resolve_or_wait() -> Any:
            # Instead of moto's fixed 0.5 s polling: wake up when the job ends (checking
            # that the execution still runs), then describe the job. A job still queued
            # or running is not described at all: its answer would be None anyway.
            deadline = time.monotonic() + BATCH_SYNC_WAIT_SECONDS
            while not local.done.is_set() and env.is_running():
                if time.monotonic() >= deadline:
                    return None  # moto calls again after its own short sleep
                local.done.wait(0.5)  # a stopped execution is noticed within 0.5 s
            return resolver()

        return resolve_or_wait

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(mark_owner, mark_attr, mark_job_as_finished))
        stack.enter_context(mock.patch.object(submit_owner, submit_attr, submitjob))
        stack.enter_context(mock.patch.object(describe_owner, describe_attr, describe))
        stack.enter_context(mock.patch.object(jobs_owner, jobs_attr, describe_jobs))
        stack.enter_context(
            mock.patch.object(task_class, "_normalise_parameters", _normalise_parameters)
        )
        stack.enter_context(
            mock.patch.object(task_class, "_normalise_response", _normalise_response)
        )
        stack.enter_context(mock.patch.object(task_class, build_attr, build_sync_resolver))
        # AWS accepts PropagateTags in the Batch integration (connect-batch docs); moto
        # silently drops parameters missing from its list, and PropagateTags is.
        stack.enter_context(
            mock.patch.dict(supported, {"submitjob": {*supported["submitjob"], "PropagateTags"}})
        )
        try:
            yield
        finally:
            cloud._stop_jobs()


# --------------------------------------------------------------------------------------
# Adaptation: JSONata.
# --------------------------------------------------------------------------------------

_JSONATA: Final[str] = "moto.stepfunctions.parser.asl.jsonata.jsonata"
_STRING_EXPRESSION: Final[str] = (
    "moto.stepfunctions.parser.asl.component.common.string.string_expression"
)
_HASH_ALGORITHMS: Final[dict[str, str]] = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
_RANGE_LIMIT: Final[int] = 1000


def _jsonata_partition(array: Any, chunk_size: Any) -> list[list[Any]]:
    size = int(chunk_size)
    if not isinstance(array, list) or size < 1:
        raise ValueError("$partition expects an array and a chunk size >= 1")
    return [list(array[i : i + size]) for i in range(0, len(array), size)]


def _jsonata_range(start: Any, end: Any, step: Any) -> list[Any]:
    if step == 0:
        raise ValueError("$range step must not be 0")
    values: list[Any] = []
    value = start
    while (step > 0 and value <= end) or (step < 0 and value >= end):
        values.append(value)
        if len(values) > _RANGE_LIMIT:
            raise ValueError(f"$range cannot return more than {_RANGE_LIMIT} items")
        value += step
    return values


def _jsonata_hash(data: Any, algorithm: Any) -> str:
    if not isinstance(data, str) or algorithm not in _HASH_ALGORITHMS:
        raise ValueError(f"$hash expects a string and one of {sorted(_HASH_ALGORITHMS)}")
    return hashlib.new(_HASH_ALGORITHMS[algorithm], data.encode()).hexdigest()


def _jsonata_random(seed: Any = None) -> float:
    if seed is None:
        return random.random()  # noqa: S311 - not for security
    return random.Random(int(seed)).random()  # noqa: S311


def _jsonata_uuid() -> str:
    return str(uuid.uuid4())


def _jsonata_parse(text: Any) -> Any:
    return json.loads(text)


#: The functions Step Functions adds to JSONata (jsonata-python has none of them, and its
#: $random takes no seed). Registered natively: moto's text declarations for them are
#: stubs ($hash, $uuid) or approximations, and are removed while the adaptation is on.
_AWS_JSONATA_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "partition": _jsonata_partition,
    "range": _jsonata_range,
    "hash": _jsonata_hash,
    "random": _jsonata_random,
    "uuid": _jsonata_uuid,
    "parse": _jsonata_parse,
}


def _compile_jsonata(jsonata_python: Any, text: str) -> Any:
    compiled = jsonata_python.Jsonata(text)
    for function_name, function in _AWS_JSONATA_FUNCTIONS.items():
        compiled.register_lambda(function_name, function)
    compiled.set_output_convert_nulls(False)  # tell JSON null from undefined
    return compiled


_compiled_jsonata = _OncePerKey(_compile_jsonata, maxsize=2048)


def _evaluate_jsonata(jsonata_python: Any, text: str, bindings: Mapping[str, Any]) -> Any:
    """``text`` evaluated with ``bindings``; None means undefined, JSON null is NULL_VALUE.

    The parsed expression is cached; each evaluation runs on a shallow copy of it, made
    the thread's current instance, because jsonata-python keeps evaluation state on the
    instance (``Jsonata.CURRENT``), so one instance cannot serve two threads at once.
    """
    instance = copy.copy(_compiled_jsonata(jsonata_python, text))
    jsonata_python.Jsonata.CURRENT.jsonata = instance
    return instance.evaluate(None, dict(bindings))


def _plain(value: Any) -> Any:
    """jsonata-python's results (JList sequences, NULL_VALUE, ...) as plain JSON values."""
    from jsonata.utils import Utils

    return _as_json(Utils.convert_nulls(value))


def _as_json(value: Any, encode: Callable[[Any], str] = json.dumps) -> Any:
    """``json.loads(encode(value))`` without the text in between.

    Dicts with string keys, lists, tuples and JSON atoms are rebuilt directly, into new
    containers; anything else (datetimes, enums, non-string keys, ...) takes the round
    trip through ``encode`` itself, so the result is the same either way.
    """
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, dict):
        plain = {}
        for key, item in value.items():
            if type(key) is not str:
                return json.loads(encode(value))
            plain[key] = _as_json(item, encode)
        return plain
    if isinstance(value, list | tuple):
        return [_as_json(item, encode) for item in value]
    return json.loads(encode(value))


def _binding_paths(references: Iterable[str]) -> dict[str, frozenset[tuple[str, ...]]]:
    """Per binding an expression reads (moto's references, ``$name.key.key``): its key paths.

    ``()`` stands for the whole value. A path ends before a step that is not a plain key
    (moto's references stop at ``[``, ``(``, ``*``, a ``$`` function, a backquote, ...).
    """
    paths: dict[str, set[tuple[str, ...]]] = {}
    for reference in references:
        name, *keys = reference[1:].split(".")
        plain: list[str] = []
        for key in keys:
            if not key or key[0].isdigit() or "$" in key:
                break
            plain.append(key)
        paths.setdefault(name, set()).add(tuple(plain))
    return {name: frozenset(found) for name, found in paths.items()}


def _pruned_json(
    value: Any, paths: frozenset[tuple[str, ...]], encode: Callable[[Any], str]
) -> Any:
    """``_as_json`` of only the parts of ``value`` that ``paths`` reach; the rest is left out.

    A path that meets anything but a plain dict (a list, an atom) takes it whole, so an
    expression mapping a path over an array sees every element.
    """
    if () in paths or type(value) is not dict:
        return _as_json(value, encode)
    below: dict[str, set[tuple[str, ...]]] = {}
    for head, *rest in paths:
        below.setdefault(head, set()).add(tuple(rest))
    return {
        key: _pruned_json(item, frozenset(below[key]), encode)
        for key, item in value.items()
        if key in below
    }


def _jsonata_bindings(
    values: Mapping[str, Any],
    expression: str,
    references: Iterable[str],
    encode: Callable[[Any], str],
) -> dict[str, Any]:
    """The bindings ``expression`` is evaluated with: the parts of ``values`` it reads.

    As JSON values (the context holds datetimes), the way moto encodes them (``encode``),
    and copies: an expression cannot change the execution's data. Only what the
    expression reads (its ``references``, moto's) is converted: converting all of $states
    (the input twice, with the context) for each of a state's expressions was a tenth of
    the engine's CPU. JSONata's parent operator (%) can climb out of a path: with a % in
    the expression, everything is converted.
    """
    if "%" in expression:
        return {binding: _as_json(value, encode) for binding, value in values.items()}
    return {
        binding: _pruned_json(values[binding], paths, encode)
        for binding, paths in _binding_paths(references).items()
        if binding in values
    }


def _jsonata_literal(value: Any) -> str:
    from moto.stepfunctions.parser.asl.utils.encoding import _DateTimeEncoder

    return json.dumps(value, cls=_DateTimeEncoder, separators=(",", ":"), ensure_ascii=False)


def _encode_declarations(bindings: dict[str, Any]) -> str:
    # moto writes string values as f'"{value}"', unescaped: a quote, backslash or newline
    # in any variable (a Batch Cause is JSON text) breaks every later expression.
    return "".join(f"{ref}:={_jsonata_literal(value)};" for ref, value in bindings.items())


@contextlib.contextmanager
def _adapt_jsonata(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    name = "jsonata"
    try:
        import jsonata as jsonata_python
    except ImportError as exc:
        raise AdaptationBrokenError(name, "jsonata-python is not installed") from exc
    jsonata_module, evaluator_attr, current = _seam(name, _JSONATA, "_eval_jsonata")
    _, _, jsonata_exception = _seam(name, _JSONATA, "JSONataException")
    _, _, declarations = _seam(
        name,
        "moto.stepfunctions.parser.asl.component.intrinsic.jsonata",
        "_DECLARATION_BY_VARIABLE_REFERENCE",
    )
    encoder_users = [
        _seam(name, module, "encode_jsonata_variable_declarations", ["bindings"])[0]
        for module in (
            _JSONATA,
            "moto.stepfunctions.parser.asl.eval.states",
            "moto.stepfunctions.parser.asl.eval.variable_store",
        )
    ]
    string_owner, _, _ = _seam(
        name, _STRING_EXPRESSION, "StringJSONata._eval_body", ["self", "env"]
    )
    _, _, to_json_str = _seam(name, "moto.stepfunctions.parser.asl.utils.encoding", "to_json_str")
    sample_owner, _, original_sample_body = _seam(
        name, _STRING_EXPRESSION, "StringVariableSample._eval_body", ["self", "env"]
    )
    _, _, extract_references = _seam(
        name, _JSONATA, "extract_jsonata_variable_references", ["jsonata_expression"]
    )
    if current is not None:
        raise AdaptationBrokenError(name, "moto now ships a JSONata evaluator; drop this patch")
    _, _, failure_exception = _seam(
        name,
        "moto.stepfunctions.parser.asl.component.common.error_name.failure_event",
        "FailureEventException",
    )
    swallowing = _error_swallowing_task_classes(name)

    def eval_jsonata(expression: str) -> Any:
        # moto's own entry point (expressions with declarations spliced in as text); our
        # StringJSONata/StringVariableSample bodies below bypass it with real bindings.
        try:
            return _plain(_evaluate_jsonata(jsonata_python, expression, {}))
        except Exception as exc:
            raise jsonata_exception("States.QueryEvaluationError", str(exc)) from exc

    def bindings_of(env: Any, expression: str, references: set[str]) -> dict[str, Any]:
        store = env.variable_store
        try:
            values = {**store._outer_scope, **store._inner_scope}
            values["states"] = env.states._states_data
        except AttributeError as exc:  # a moto upgrade renamed them
            raise AdaptationBrokenError(name, f"moto's variable stores changed: {exc}") from exc
        return _jsonata_bindings(values, expression, references, to_json_str)

    def function_declarations(references: set[str]) -> str:
        # moto's text declarations still in use (those not registered natively).
        return "".join(kept[ref] for ref in sorted(references) if ref in kept)

    def eval_body(self: Any, env: Any) -> None:
        # Parse each expression once and pass $states and the variables as bindings: moto
        # splices them into the expression text as JSON, so every evaluation re-parses
        # the whole state data (most of the engine's CPU time).
        references = extract_references(self.expression)
        text = function_declarations(references) + self.expression
        try:
            bindings = bindings_of(env, self.expression, references)
            result = _evaluate_jsonata(jsonata_python, text, bindings)
        except Exception as exc:
            raise _query_evaluation_failure(env, self.expression, str(exc)) from exc
        if result is None:  # undefined (JSON null is NULL_VALUE until converted)
            raise _query_evaluation_failure(
                env,
                self.expression,
                cause=f"The JSONata expression '{self.expression}' returned nothing (undefined).",
            )
        env.stack.append(_plain(result))

    def sample_body(self: Any, env: Any) -> None:
        if str(self.query_language_mode.name) != "JSONata":
            original_sample_body(self, env)
            return
        references = extract_references(self.expression)  # rejects $ and $$ as moto does
        try:
            bindings = bindings_of(env, self.expression, references)
            result = _evaluate_jsonata(jsonata_python, self.expression, bindings)
        except Exception as exc:
            raise _query_evaluation_failure(env, self.expression, str(exc)) from exc
        env.stack.append(None if result is None else _plain(result))

    def keep_failure_events(original: Callable[..., Any]) -> Callable[..., Any]:
        # Some service tasks turn every non-client exception into their own error
        # (DynamoDB.AmazonDynamoDBException, ...), so an Arguments expression that fails
        # would not surface as States.QueryEvaluationError as on AWS.
        def from_error(self: Any, env: Any, ex: Exception) -> Any:
            if isinstance(ex, failure_exception):
                return ex.failure_event
            return original(self, env, ex)

        return from_error

    kept = {
        key: value
        for key, value in declarations.items()
        if key.lstrip("$") not in _AWS_JSONATA_FUNCTIONS
    }
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(jsonata_module, evaluator_attr, eval_jsonata))
        stack.enter_context(mock.patch.dict(declarations, kept, clear=True))
        for module in encoder_users:
            stack.enter_context(
                mock.patch.object(
                    module, "encode_jsonata_variable_declarations", _encode_declarations
                )
            )
        stack.enter_context(mock.patch.object(string_owner, "_eval_body", eval_body))
        stack.enter_context(mock.patch.object(sample_owner, "_eval_body", sample_body))
        for task_class in swallowing:
            stack.enter_context(
                mock.patch.object(
                    task_class, "_from_error", keep_failure_events(task_class._from_error)
                )
            )
        yield


_TASK_SERVICES: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service"
)


def _error_swallowing_task_classes(adaptation: str) -> list[Any]:
    """Service task classes whose own ``_from_error`` never delegates FailureEventException."""
    _, _, base = _seam(adaptation, _TASK_SERVICES, "StateTaskService")
    classes: list[Any] = []
    for suffix in ("dynamodb", "sqs", "sns", "events", "glue", "sfn", "aws_sdk", "api_gateway"):
        module = _import(adaptation, f"{_TASK_SERVICES}_{suffix}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, base)
                and value.__module__ == module.__name__
                and "_from_error" in vars(value)
            ):
                classes.append(value)
    if not classes:
        raise AdaptationBrokenError(adaptation, "no service task defines _from_error any more")
    return classes


def _query_evaluation_failure(
    env: Any, expression: str, details: str | None = None, *, cause: str | None = None
) -> Exception:
    """An EvaluationFailed event and the States.QueryEvaluationError AWS reports."""
    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error_name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
    if cause is None:
        cause = f"The JSONata expression '{expression}' returned an error: {details}"
    failure = FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.EvaluationFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto builds it so too
                evaluationFailedEventDetails=EvaluationFailedEventDetails(
                    error=error_name.error_name, cause=cause
                )
            ),
        )
    )
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.EvaluationFailed,
        event_details=EventDetails(  # type: ignore[typeddict-item]  # moto builds it so too
            evaluationFailedEventDetails=failure.get_evaluation_failed_event_details()
        ),
    )
    return failure


# --------------------------------------------------------------------------------------
# Adaptation: retry sleeps.
# --------------------------------------------------------------------------------------


class _ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: scaled sleeps."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._cloud = cloud

    def sleep(self, seconds: float) -> None:
        scaled = seconds * self._cloud.retry_sleep_scale
        if scaled > 0:
            time.sleep(scaled)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(time, attribute)


@contextlib.contextmanager
def _adapt_retry_sleep(cloud: LocalCloud) -> Iterator[None]:
    name = "retry_sleep"
    module = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
    owner, attribute, current = _seam(name, module, "time")
    if current is not time:
        raise AdaptationBrokenError(name, f"{module} no longer sleeps through module 'time'")
    _seam(name, module, "RetrierDecl._eval_body", ["self", "env"])
    with mock.patch.object(owner, attribute, _ScaledTime(cloud)):
        yield


# --------------------------------------------------------------------------------------
# Adaptation: Step Functions Local mock config.
# --------------------------------------------------------------------------------------

_MOCK_CONFIG: Final[str] = "moto.stepfunctions.parser.mocking.mock_config"
_PENDING_TEST_CASE = threading.local()
_MOCK_INVOCATIONS_LOCK = threading.Lock()


def _parse_range(key: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", key)
    if match is None:
        raise MockConfigError(f"mocked response key '{key}' is not 'N' or 'N-M'")
    start = int(match.group(1))
    return start, int(match.group(2) or start)


@functools.lru_cache(maxsize=8)
def _read_mock_config(path: str, mtime_ns: int) -> dict[str, Any]:
    del mtime_ns  # part of the cache key: an edited file is read again
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise MockConfigError(f"cannot read mock config {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise MockConfigError(f"mock config {path} is not a JSON object")
    return config


def _load_mock_test_case(state_machine_name: str, test_case_name: str) -> Any:
    """The ``MockTestCase`` moto's engine consumes, from the file SFN_MOCK_CONFIG names.

    Returns None when no file is configured or it has no such state machine/test case.
    """
    from moto.stepfunctions.parser.mocking.mock_config import (
        MockedResponse,
        MockedResponseReturn,
        MockedResponseThrow,
        MockTestCase,
        StateMockedResponses,
    )

    path = os.environ.get("SFN_MOCK_CONFIG")
    if not path:
        return None
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError as exc:
        raise MockConfigError(f"SFN_MOCK_CONFIG names {path}: {exc}") from exc
    config = _read_mock_config(path, mtime)
    machine = (config.get("StateMachines") or {}).get(state_machine_name)
    test_case = ((machine or {}).get("TestCases") or {}).get(test_case_name)
    if test_case is None:
        return None
    states = []
    for state_name, response_name in test_case.items():
        raw = (config.get("MockedResponses") or {}).get(response_name)
        if not isinstance(raw, dict) or not raw:
            raise MockConfigError(f"no MockedResponses entry '{response_name}'")
        responses: list[MockedResponse] = []
        for key, outcome in raw.items():
            start, end = _parse_range(key)
            if not isinstance(outcome, dict) or len(outcome.keys() & {"Return", "Throw"}) != 1:
                raise MockConfigError(
                    f"mocked response '{response_name}' [{key}] needs exactly one of Return/Throw"
                )
            if "Return" in outcome:
                responses.append(MockedResponseReturn(start, end, outcome["Return"]))
            else:
                throw = outcome["Throw"]
                if not isinstance(throw, dict) or "Error" not in throw:
                    raise MockConfigError(f"mocked response '{response_name}' Throw needs Error")
                responses.append(
                    MockedResponseThrow(start, end, throw["Error"], throw.get("Cause", ""))
                )
        try:
            states.append(StateMockedResponses(state_name, response_name, responses))
        except (RuntimeError, ValueError) as exc:
            raise MockConfigError(str(exc)) from exc
    return MockTestCase(state_machine_name, test_case_name, states)


@contextlib.contextmanager
def _adapt_mock_config(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    name = "mock_config"
    loader_owner, loader_attr, _ = _seam(
        name, _MOCK_CONFIG, "load_mock_test_case_for", ["state_machine_name", "test_case_name"]
    )
    for attr in (
        "MockTestCase",
        "StateMockedResponses",
        "MockedResponseReturn",
        "MockedResponseThrow",
    ):
        _seam(name, _MOCK_CONFIG, attr)
    start_owner, start_attr, original_start = _seam(
        name, _SFN_BACKEND, "StepFunctionsParserBackend.start_execution", _START_EXECUTION_PARAMS
    )
    worker_owner, worker_attr, original_worker = _seam(
        name,
        "moto.stepfunctions.parser.backend.execution",
        "Execution._get_start_execution_worker",
        ["self"],
    )
    _, _, worker_class = _seam(
        name, "moto.stepfunctions.parser.backend.execution_worker", "ExecutionWorker"
    )
    if "mock_test_case" not in inspect.signature(worker_class.__init__).parameters:
        raise AdaptationBrokenError(name, "ExecutionWorker no longer takes a mock_test_case")
    _, _, invalid_name = _seam(name, "moto.stepfunctions.exceptions", "InvalidName")
    throw_owner, throw_attr, original_throw = _seam(
        name,
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.mock_eval_utils",
        "_eval_mocked_response_throw",
        ["env", "mocked_response"],
    )
    response_owner, response_attr, _ = _seam(
        name,
        "moto.stepfunctions.parser.asl.eval.environment",
        "Environment.get_current_mocked_response",
        ["self"],
    )

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        base_arn, _, test_case_name = state_machine_arn.partition("#")
        if not test_case_name:
            return original_start(self, state_machine_arn, name, execution_input, trace_header)
        machine = self.describe_state_machine(base_arn)
        try:
            test_case = _load_mock_test_case(machine.name, test_case_name)
        except MockConfigError as exc:
            raise invalid_name(f"Invalid mock test case '{test_case_name}': {exc}") from exc
        if test_case is None:
            raise invalid_name(
                f"Invalid mock test case name '{test_case_name}' for state machine "
                f"'{machine.name}': not in the file SFN_MOCK_CONFIG names "
                f"({os.environ.get('SFN_MOCK_CONFIG', 'unset')})."
            )
        _PENDING_TEST_CASE.value = test_case
        try:
            return original_start(self, base_arn, name, execution_input, trace_header)
        finally:
            _PENDING_TEST_CASE.value = None

    def get_start_execution_worker(self: Any) -> Any:
        worker = original_worker(self)
        test_case = getattr(_PENDING_TEST_CASE, "value", None)
        if test_case is not None:
            worker._mock_test_case = test_case
        return worker

    def get_current_mocked_response(env: Any) -> Any:
        # moto picks the response by the state's RetryCount, so every Map iteration gets
        # response "0". Step Functions Local numbers a state's invocations across the whole
        # execution (retries and Map iterations alike): the Nth call gets response N.
        state_name = env.next_state_name
        test_case = env.mock_test_case
        state = test_case.state_mocked_responses.get(state_name) if test_case else None
        if state is None:
            raise RuntimeError(f"state '{state_name}' is not mocked in this test case")
        with _MOCK_INVOCATIONS_LOCK:
            counts = test_case.__dict__.setdefault("_invocations", {})
            invocation = counts.get(state_name, 0)
            counts[state_name] = invocation + 1
        if invocation >= len(state.mocked_responses):
            raise RuntimeError(
                f"mocked response '{state.mocked_response_name}' has no response for "
                f"invocation {invocation} of state '{state_name}' (numbered from 0, "
                "counting retries and Map iterations)"
            )
        return state.mocked_responses[invocation]

    def eval_mocked_response_throw(env: Any, mocked_response: Any) -> None:
        # moto only accepts custom error names here; Step Functions Local also lets a
        # mock throw States.* errors (States.TaskFailed: a failed .sync job).
        if not mocked_response.error.startswith("States."):
            original_throw(env, mocked_response)
            return
        raise _states_task_failure(env, mocked_response.error, mocked_response.cause)

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(throw_owner, throw_attr, eval_mocked_response_throw))
        stack.enter_context(
            mock.patch.object(response_owner, response_attr, get_current_mocked_response)
        )
        stack.enter_context(mock.patch.object(loader_owner, loader_attr, _load_mock_test_case))
        stack.enter_context(mock.patch.object(start_owner, start_attr, start_execution))
        stack.enter_context(
            mock.patch.object(worker_owner, worker_attr, get_start_execution_worker)
        )
        yield


def _states_task_failure(env: Any, error: str, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    try:
        error_name = StatesErrorName.from_name(error)
    except ValueError as exc:
        raise MockConfigError(f"unknown Step Functions error name {error}") from exc
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto builds it so too
                taskFailedEventDetails=TaskFailedEventDetails(error=error, cause=cause)
            ),
        )
    )


# --------------------------------------------------------------------------------------
# Adaptation: ASL parse cache.
# --------------------------------------------------------------------------------------

_SFN_PARSER: Final[str] = "moto.stepfunctions.parser."
_ASL_PARSER: Final[str] = "moto.stepfunctions.parser.asl.parse.asl_parser"
_RESULT_PATH: Final[str] = "moto.stepfunctions.parser.asl.component.common.path.result_path"
_JSON_PATH: Final[str] = "moto.stepfunctions.parser.asl.utils.json_path"


def _assign_heap_keys(program: Any, eval_component: Any) -> None:
    """Give every component of ``program`` its heap key now, before executions share it.

    A component makes its key (under which evaluations keep values in their heap) on
    first use, unlocked: two threads using it first at once could each make one and one
    of them would look its value up under the other's key.
    """
    seen: set[int] = set()
    stack: list[Any] = [program]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, eval_component):
            value.heap_key  # noqa: B018  (the property assigns the key)
        if type(value).__module__.startswith(_SFN_PARSER) and hasattr(value, "__dict__"):
            stack.extend(vars(value).values())  # components, and declarations holding them
        elif isinstance(value, list | tuple | set | frozenset):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())


@contextlib.contextmanager
def _adapt_asl_parse_cache(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    name = "asl_parse_cache"
    owner, attribute, _ = _seam(
        name, _ASL_PARSER, "AmazonStateLanguageParser.parse", ["definition"]
    )
    module = _import(name, _ASL_PARSER)
    for needed in ("InputStream", "ASLLexer", "CommonTokenStream", "ASLParser"):
        if not hasattr(module, needed):
            raise AdaptationBrokenError(name, f"{_ASL_PARSER} no longer imports {needed}")
    _, _, preprocessor = _seam(
        name, "moto.stepfunctions.parser.asl.parse.preprocessor", "Preprocessor"
    )
    _, _, eval_component = _seam(
        name, "moto.stepfunctions.parser.asl.component.eval_component", "EvalComponent"
    )
    if not isinstance(getattr(eval_component, "heap_key", None), property):
        raise AdaptationBrokenError(name, "EvalComponent.heap_key is no longer a property")
    _, _, listener_class = _seam(name, _ASL_PARSER, "SyntaxErrorListener")
    _, _, parser_exception = _seam(name, _ASL_PARSER, "ASLParserException")

    def parse_tree(definition: str) -> Any:
        listener = listener_class()
        parser = module.ASLParser(
            module.CommonTokenStream(module.ASLLexer(module.InputStream(definition)))
        )
        parser.removeErrorListeners()
        parser.addErrorListener(listener)
        tree = parser.state_machine()
        if listener.errors:
            raise parser_exception(errors=listener.errors)
        return tree

    syntax_tree = _OncePerKey(parse_tree, maxsize=64)

    def build_program(definition: str) -> Any:
        program = preprocessor().visit(syntax_tree(definition))
        _assign_heap_keys(program, eval_component)
        return program

    programs = _OncePerKey(build_program, maxsize=64)

    def parse(definition: str) -> tuple[Any, Any]:
        # moto lexes and parses the whole definition with ANTLR, then builds the
        # evaluation components, for every execution: a third of the engine's CPU in a
        # 20-run profile, and a tenth once the tree was kept. Both are kept per
        # definition. The components hold no execution state (an execution's lives in
        # its Environment), which is why moto's own Map iterations already share them.
        return programs(definition), syntax_tree(definition)

    # Every Task state's ResultPath (default "$", JSONata states included) and every
    # JSONPath the engine reads builds a new jsonpath-ng parser (ply's tables) and parses
    # its path at each use: ~1 ms a use, 18 uses a run. A parsed path is not changed by
    # find or update_or_create, so one per path string serves every thread.
    path_users = [
        (_import(name, module_name), _OncePerKey(original, maxsize=1024))
        for module_name, original in (
            (_RESULT_PATH, _seam(name, "jsonpath_ng", "parse", ["string"])[2]),
            (_JSON_PATH, _seam(name, "jsonpath_ng.ext", "parse", ["path", "debug"])[2]),
        )
    ]
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(owner, attribute, staticmethod(parse)))
        for user, cached in path_users:
            if getattr(user, "parse", None) is not cached._compute:
                raise AdaptationBrokenError(name, f"{user.__name__} no longer imports parse")
            stack.enter_context(mock.patch.object(user, "parse", cached))
        yield


# --------------------------------------------------------------------------------------
# Adaptation: fast responses.
# --------------------------------------------------------------------------------------


def _epoch(value: dt.datetime) -> float | int:
    """As moto's serializer (and the Smithy spec): epoch seconds, truncated to ms."""
    seconds = calendar.timegm(value.utctimetuple())
    return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds


def _history_wire(value: dict[str, Any]) -> dict[str, Any]:
    """The engine keeps history timestamps as ISO strings; the wire has epoch seconds."""
    events = [
        {**event, "timestamp": _epoch(dt.datetime.fromisoformat(event["timestamp"]))}
        if isinstance(event.get("timestamp"), str)
        else event
        for event in value.get("events", [])
    ]
    return {**value, "events": events}


#: Operations whose moto result is already the wire JSON (items as AttributeValue maps),
#: so serializing by the output shape only converts bytes and datetimes (after the
#: operation's own fix-up, if it has one).
_WIRE_SHAPED: Final[dict[str, dict[str, Callable[[dict[str, Any]], dict[str, Any]] | None]]] = {
    "moto.dynamodb.responses.DynamoHandler": dict.fromkeys(
        ("GetItem", "PutItem", "UpdateItem", "Query", "Scan", "BatchGetItem")
    ),
    "moto.dynamodbstreams.responses.DynamoDBStreamsHandler": dict.fromkeys(
        ("GetRecords", "GetShardIterator")
    ),
    # The ASL engine's history events are the API's TypedDicts. SummarizeRun reads each
    # run's ~100 events: 80 ms a call through the shape walker, 8 CPU-s of 100 runs.
    "moto.stepfunctions.responses.StepFunctionResponse": {"GetExecutionHistory": _history_wire},
}


def _wire_default(value: Any) -> Any:
    """JSON for what moto's JSON serializer converts: blobs and timestamps."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime):
        return _epoch(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_LIST_INDEX: Final[re.Pattern[str]] = re.compile(r"(\[\d+\])+$")
_TABLE_QUERY_PARAMS: Final[tuple[str, ...]] = (
    "self",
    "hash_key",
    "range_comparison",
    "range_objs",
    "limit",
    "exclusive_start_key",
    "scan_index_forward",
    "projection_expressions",
    "index_name",
    "consistent_read",
    "filter_expression",
    "hash_key_conditions",
    "range_key_conditions",
    "filter_kwargs",
)


@contextlib.contextmanager
def _adapt_fast_responses(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    name = "fast_responses"
    dispatcher, lookup_attr, original_lookup = _seam(
        name,
        "moto.moto_server.werkzeug_app",
        "DomainDispatcherApplication.get_backend_for_host",
        ["self", "host"],
    )
    _, _, action_result = _seam(name, "moto.core.responses", "ActionResult")
    _, _, paginated_result = _seam(name, "moto.core.responses", "PaginatedResult")
    responses_module, _, service_router = _seam(
        name, "moto.core.responses", "get_service_router", ["service_name"]
    )
    router_class, _, get_router = _seam(
        name, "moto.core.routing", "ServiceOperationRouter._get_router", ["self", "protocol"]
    )
    backends_by_host: dict[str | None, Any] = {}
    # A REST service's operation router (a werkzeug Map of every operation, ~75 ms to
    # build) is built on the first request; runs started together all built it.
    routers = _OncePerKey(service_router, maxsize=64)
    protocol_routers = _OncePerKey(get_router, maxsize=256)

    def get_protocol_router(self: Any, protocol: str) -> Any:
        return protocol_routers(self, protocol)

    item_class, _, project = _seam(
        name, "moto.dynamodb.models.dynamo_type", "Item.project", ["self", "projection_expressions"]
    )
    # Every request lists its response class's methods with inspect.getmembers (~0.3 ms).
    _, _, method_names = _seam(name, "moto.core.responses", "method_names_from_class", ["clazz"])
    names_by_class = _OncePerKey(lambda clazz: tuple(method_names(clazz)), maxsize=256)

    def method_names_once(clazz: object) -> list[str]:
        return list(names_by_class(clazz))

    def project_named(self: Any, projection_expressions: list[list[str]]) -> Any:
        # moto converts the whole item to plain JSON (deep copies included) once per
        # projected path; status polls of 100 runs spent 6% of the CPU there. Only the
        # top-level attributes the paths start with can match, so only those are passed.
        tops = {path[0] for path in projection_expressions if path}
        tops |= {_LIST_INDEX.sub("", top) for top in tops}
        subset = copy.copy(self)
        # A snapshot first (one C call, so no other thread runs in between): a workflow's
        # UpdateItem may add attributes to this item while a status poll projects it.
        attrs = list(self.attrs.items())
        subset.attrs = {key: value for key, value in attrs if key in tops}
        return project(subset, projection_expressions)

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        # moto tries every service's URL regex for every request, under its dispatch lock
        # (the answer depends on the host alone). Called with that lock held.
        if host not in backends_by_host:
            backends_by_host[host] = original_lookup(self, host)
        return backends_by_host[host]

    def fast(
        original: Callable[..., Any],
        operations: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]] | None],
    ) -> Callable[..., Any]:
        def serialized(self: Any, result: Any) -> Any:
            value = result.result
            action = self._get_action()
            if (
                isinstance(value, dict)
                and isinstance(result, action_result)
                and not isinstance(result, paginated_result)
                and action in operations
            ):
                fix_up = operations[action]
                if fix_up is not None:
                    value = fix_up(value)
                body = json.dumps(value, default=_wire_default, separators=(",", ":"))
                headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
                return 200, headers, body
            return original(self, result)

        return serialized

    # moto tokenises and parses an UpdateExpression twice per UpdateItem (~1 ms each, for
    # the same few expressions every run). The tree is only read (find_clauses) or copied
    # (UpdateExpressionValidator works on a deep copy), so one per text serves them all.
    update_parser, _, _ = _seam(
        name, "moto.dynamodb.parsing.expressions", "UpdateExpressionParser.make"
    )
    make = update_parser.__dict__.get("make")
    if not isinstance(make, classmethod):
        raise AdaptationBrokenError(name, "UpdateExpressionParser.make is not a classmethod")
    update_trees = _OncePerKey(make.__func__, maxsize=1024)

    # An item's attributes live in moto's LimitedSizeDict, which sums the size of every
    # attribute already set each time one is set: building an item was quadratic in its
    # attributes (~0.7 ms for a run's request item, at every PutItem and projection). The
    # sum only grows, so one check, moto's own, made when the last attribute is set, fails
    # exactly when one of the n checks would.
    _, _, item_init = _seam(
        name,
        "moto.dynamodb.models.dynamo_type",
        "Item.__init__",
        ["self", "hash_key", "range_key", "attrs"],
    )
    _, _, dynamo_type = _seam(name, "moto.dynamodb.models.dynamo_type", "DynamoType")

    def item_checked_once(self: Any, hash_key: Any, range_key: Any, attrs: Any) -> None:
        item_init(self, hash_key, range_key, {})
        converted = [(key, dynamo_type(value)) for key, value in attrs.items()]
        if converted:
            dict.update(self.attrs, converted[:-1])
            last_key, last_value = converted[-1]
            self.attrs[last_key] = last_value  # the size check, over the whole item

    # A Query of the base table listed every item of the table, sorted, to keep those of
    # one partition (10 ms a Query once 100 runs are in the table; ``local run`` reads
    # each unfinished run at every progress poll). It is given the partition instead:
    # the same items, in the same order. Index queries are left as they are.
    table_class, _, original_query = _seam(
        name, "moto.dynamodb.models.table", "Table.query", _TABLE_QUERY_PARAMS
    )
    query_signature = inspect.signature(original_query)

    class _Partition:
        """The table, as Table.query sees it, holding only ``hash_key``'s items."""

        def __init__(self, table: Any, hash_key: Any) -> None:
            self._table, self._hash_key = table, hash_key

        def __getattr__(self, attribute: str) -> Any:
            return getattr(self._table, attribute)

        def all_items(self) -> list[Any]:
            found = self._table.items.get(self._hash_key)  # .get: a defaultdict
            if found is None:
                return []
            if not self._table.range_key_attr:
                return [found]
            return sorted(found.values(), key=lambda item: item.range_key)

    def query_partition(self: Any, *args: Any, **kwargs: Any) -> Any:
        called = query_signature.bind(self, *args, **kwargs).arguments
        if called.get("index_name") or called.get("hash_key") is None:
            return original_query(self, *args, **kwargs)
        return original_query(_Partition(self, called["hash_key"]), *args, **kwargs)

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(table_class, "query", query_partition))
        stack.enter_context(mock.patch.object(update_parser, "make", classmethod(update_trees)))
        stack.enter_context(mock.patch.object(item_class, "__init__", item_checked_once))
        stack.enter_context(mock.patch.object(dispatcher, lookup_attr, get_backend_for_host))
        stack.enter_context(mock.patch.object(responses_module, "get_service_router", routers))
        stack.enter_context(mock.patch.object(router_class, "_get_router", get_protocol_router))
        stack.enter_context(mock.patch.object(item_class, "project", project_named))
        stack.enter_context(
            mock.patch.object(responses_module, "method_names_from_class", method_names_once)
        )
        for path, operations in _WIRE_SHAPED.items():
            module, qualname = path.rsplit(".", 1)
            owner, _, original = _seam(
                name, module, f"{qualname}.serialized", ["self", "action_result"]
            )
            stack.enter_context(mock.patch.object(owner, "serialized", fast(original, operations)))
        yield


# --------------------------------------------------------------------------------------
# Adaptation: JSON copies.
# --------------------------------------------------------------------------------------

_JSON_ATOMS: Final[frozenset[type]] = frozenset({str, int, float, bool, type(None)})

#: ASL engine modules whose ``copy.deepcopy`` calls copy state data: JSON values (inputs,
#: results, the context object, parameters, history events) and a few small objects.
_JSON_COPY_USERS: Final[tuple[str, ...]] = tuple(
    "moto.stepfunctions.parser.asl." + suffix
    for suffix in (
        "eval.states",
        "eval.environment",
        "eval.event.event_manager",
        "component.common.path.result_path",
        "component.common.string.string_expression",
        "component.state.exec.execute_state",
        "component.state.exec.state_map.state_map",
        "component.state.exec.state_task.service.state_task_service",
    )
)


def _json_copy(value: Any) -> Any:
    """``copy.deepcopy`` for JSON trees: plain dicts, lists and atoms are copied directly.

    Anything else (enums, datetimes, engine objects, dict subclasses) goes to
    ``copy.deepcopy``. Unlike it, a sub-tree that appears twice is copied twice, which
    JSON values (trees, never graphs) cannot tell apart.
    """
    kind = type(value)
    if kind in _JSON_ATOMS:
        return value
    if kind is dict:
        return {key: _json_copy(item) for key, item in value.items()}
    if kind is list:
        return [_json_copy(item) for item in value]
    return copy.deepcopy(value)


@contextlib.contextmanager
def _adapt_json_copies(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    name = "json_copies"
    # The engine deep-copies a state's input, result and stack at nearly every step (a
    # defensive copy, so a state cannot change another's data); copy.deepcopy's generic
    # walk with its memo was a quarter of the engine's CPU time.
    shim = types.SimpleNamespace(deepcopy=_json_copy, copy=copy.copy)
    modules = [_import(name, module_name) for module_name in _JSON_COPY_USERS]
    for module in modules:
        if getattr(module, "copy", None) is not copy:
            raise AdaptationBrokenError(name, f"{module.__name__} no longer imports copy")
    with contextlib.ExitStack() as stack:
        for module in modules:
            stack.enter_context(mock.patch.object(module, "copy", shim))
        yield


# --------------------------------------------------------------------------------------
# Adaptation: DynamoDB requests one at a time.
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _adapt_dynamodb_atomic(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    name = "dynamodb_atomic"
    owner, attribute, original = _seam(
        name, "moto.dynamodb.responses", "DynamoHandler.call_action", ["self"]
    )
    lock = threading.RLock()

    def call_action(self: Any) -> Any:
        # moto changes an item in place, attribute by attribute, and reads it the same
        # way: a GetItem or Query of an item another thread was updating saw it half
        # written or failed ("dictionary changed size during iteration"). On AWS each
        # request on an item is atomic; here each runs alone, answer included.
        with lock:
            return original(self)

    with mock.patch.object(owner, attribute, call_action):
        yield


# --------------------------------------------------------------------------------------
# Adaptation: loopback.
# --------------------------------------------------------------------------------------


def _request_body(request: Any) -> bytes:
    body = request.body or b""
    if hasattr(body, "read"):  # a file or botocore's aws-chunked wrapper
        body = body.read()
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _wsgi_environ(request: Any, parts: urllib.parse.SplitResult, body: bytes) -> dict[str, Any]:
    """The WSGI environ werkzeug's server would build for a botocore request."""
    raw_uri = parts.path + (f"?{parts.query}" if parts.query else "")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote(parts.path, "latin-1"),
        "QUERY_STRING": parts.query,
        "RAW_URI": raw_uri,  # moto matches S3 keys on the undecoded path
        "REQUEST_URI": raw_uri,
        "SERVER_NAME": parts.hostname or "",
        "SERVER_PORT": str(parts.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": parts.netloc,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for key, value in request.headers.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        name = key.upper().replace("-", "_")
        if name == "CONTENT_TYPE":
            environ[name] = text
        elif name not in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):  # the body is whole
            environ["HTTP_" + name] = text
    return environ


#: The signature on requests to this process's own server, which moto does not check.
_UNCHECKED_SIGNATURE: Final[str] = "0" * 64


def _wire_body(content: Any) -> bytes:
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    return b"".join(_wire_body(chunk) for chunk in content)  # a streamed answer


@contextlib.contextmanager
def _adapt_loopback(cloud: LocalCloud) -> Iterator[None]:
    name = "loopback"
    stubber_class, call_attr, original_call = _seam(
        name,
        "moto.core.botocore_stubber",
        "BotocoreStubber.__call__",
        ["self", "event_name", "request", "kwargs"],
    )
    _, _, raw_response = _seam(name, "moto.core.botocore_stubber", "MockRawResponse")
    _, _, dispatcher = _seam(name, "moto.moto_server.werkzeug_app", "DomainDispatcherApplication")
    _seam(name, "moto.moto_server.werkzeug_app", "DomainDispatcherApplication.get_application")
    _, _, backend_app = _seam(name, "moto.moto_server.werkzeug_app", "create_backend_app")
    _, _, flask_view = _seam(name, "moto.core.utils", "convert_to_flask_response")
    recorder = _import(name, "moto.moto_api").recorder
    agent_class, agent_attr, agent_string = _seam(
        name, "botocore.useragent", "UserAgentString.to_string", ["self"]
    )
    _, _, botocore_context = _seam(name, "botocore.context", "get_context")
    sigv4_classes = [_seam(name, "botocore.auth", "SigV4Auth.add_auth", ["self", "request"])]
    if importlib.util.find_spec("awscrt") is not None:  # botocore signs with the CRT then
        sigv4_classes.append(
            _seam(name, "botocore.crt.auth", "CrtSigV4Auth.add_auth", ["self", "request"])
        )
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders
    from botocore.exceptions import ClientError
    from werkzeug.exceptions import HTTPException

    endpoint = urllib.parse.urlsplit(cloud.endpoint_url or "")
    if endpoint.port is None:  # in-process (mock_aws): nothing goes over a socket anyway
        yield
        return
    # The server this process runs: any loopback name for its port (the ASL engine
    # calls http://localhost:$MOTO_PORT; handlers get AWS_ENDPOINT_URL).
    local_hosts = {endpoint.hostname, "localhost", "127.0.0.1"}

    def ours(parts: urllib.parse.SplitResult) -> bool:
        return parts.port == endpoint.port and parts.hostname in local_hosts

    app = dispatcher(backend_app)  # same backends as the server: moto's state is global

    def through_wsgi(environ: dict[str, Any]) -> tuple[int, Any, bytes]:
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
            answer[:] = [int(status.split(" ", 1)[0]), headers]

        chunks = app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return answer[0], answer[1], body

    def serve(environ: dict[str, Any]) -> tuple[int, Any, bytes]:
        # What the server's Flask app does for a request, minus Flask: the service's URL
        # map picks moto's handler, which gets the request as the server would pass it.
        # Routes Flask alone knows (none, today) take the whole WSGI way.
        service_app = app.get_application(environ)
        try:
            route, _ = service_app.url_map.bind_to_environ(environ).match()
            view = service_app.view_functions[route]
        except (HTTPException, KeyError):
            return through_wsgi(environ)
        if not isinstance(view, flask_view):
            return through_wsgi(environ)
        moto_request = service_app.request_class(environ)
        recorder._record_request(moto_request)
        try:
            result = view.callback(moto_request, moto_request.raw_url, dict(moto_request.headers))
        except ClientError as exc:  # as moto's view does
            result = 400, {}, exc.response["Error"]["Message"]
        except HTTPException as exc:  # moto's service errors; Flask answers them so
            result = exc.code, exc.get_headers(), exc.get_body()
        if len(result) == 3:
            status, headers, content = result
        else:
            status, headers, content = 200, {}, result
        return int(status), headers, _wire_body(content)

    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        # moto's stubber sees every request of every botocore client made after moto was
        # imported. Requests for our own server are served in this thread, as the server
        # would serve them: no socket, no HTTP, no server thread per request (werkzeug's
        # dev server closes every connection). Anything else goes on as before.
        parts = urllib.parse.urlsplit(request.url)
        if not ours(parts):
            return original_call(self, event_name, request, **kwargs)
        status, headers, body = serve(_wsgi_environ(request, parts, _request_body(request)))
        wire_headers = HTTPHeaders()
        for key, value in dict(headers).items():
            wire_headers[key] = str(value)
        return AWSResponse(request.url, status, wire_headers, raw_response(body))

    def signer(original_add_auth: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def add_auth(self: Any, request: Any) -> None:
            # moto reads a request's Authorization for its region and access key and never
            # checks the signature, which costs 0.5 ms a request to compute (a twentieth
            # of the engine's CPU in the bench). Requests to this process's own server
            # carry the header with that scope and an unchecked signature. S3 is signed
            # as usual: its signer also sets the payload headers moto reads.
            local = ours(urllib.parse.urlsplit(request.url))
            if not local or self._service_name == "s3" or self.credentials is None:
                original_add_auth(self, request)
                return
            keys = self.credentials  # the CRT signer's are frozen already
            keys = (
                keys.get_frozen_credentials() if hasattr(keys, "get_frozen_credentials") else keys
            )
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            for header in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
                del request.headers[header]
            request.headers["X-Amz-Date"] = stamp
            if keys.token:
                request.headers["X-Amz-Security-Token"] = keys.token
            scope = f"{keys.access_key}/{stamp[:8]}/{self._region_name}/{self._service_name}"
            request.headers["Authorization"] = (
                f"AWS4-HMAC-SHA256 Credential={scope}/aws4_request, "
                f"SignedHeaders=host;x-amz-date, Signature={_UNCHECKED_SIGNATURE}"
            )

        return add_auth

    agents: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], str]] = weakref.WeakKeyDictionary()

    def user_agent(self: Any) -> str:
        # botocore rebuilds the User-Agent twice a request from a dozen sanitised parts
        # (0.3 ms, more than signing). It depends on the client's settings, fixed when the
        # client is made, and on the features this call uses: built once per feature set.
        context = botocore_context()
        features = (
            frozenset(context.features) if context is not None else frozenset(),
            frozenset(self._client_features or ()),
        )
        built = agents.setdefault(self, {})
        if features not in built:
            built[features] = agent_string(self)
        return built[features]

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(stubber_class, call_attr, call))
        stack.enter_context(mock.patch.object(agent_class, agent_attr, user_agent))
        for auth_class, add_auth_attr, original_add_auth in sigv4_classes:
            stack.enter_context(
                mock.patch.object(auth_class, add_auth_attr, signer(original_add_auth))
            )
        yield


# --------------------------------------------------------------------------------------
# Entry points.
# --------------------------------------------------------------------------------------

_ADAPTERS: Final[dict[str, Callable[[LocalCloud], contextlib.AbstractContextManager[None]]]] = {
    "endpoint_mode": _adapt_endpoint_mode,
    "shared_models": _adapt_shared_models,
    "client_cache": _adapt_client_cache,
    "execution_names": _adapt_execution_names,
    "lambda_in_process": _adapt_lambda_in_process,
    "batch_local": _adapt_batch_local,
    "jsonata": _adapt_jsonata,
    "retry_sleep": _adapt_retry_sleep,
    "mock_config": _adapt_mock_config,
    "asl_parse_cache": _adapt_asl_parse_cache,
    "fast_responses": _adapt_fast_responses,
    "leaks": _adapt_leaks,
    "loopback": _adapt_loopback,
    "json_copies": _adapt_json_copies,
    "dynamodb_atomic": _adapt_dynamodb_atomic,
    "stop_execution": _adapt_stop_execution,
}
_ACTIVE = threading.Lock()


@contextlib.contextmanager
def local_aws(
    *,
    adapters: Iterable[str] = ADAPTATIONS,
    endpoint_url: str | None = None,
    batch_workdir: Path | None = None,
    batch_env: Mapping[str, str] | None = None,
    lambda_env: Mapping[str, str] | None = None,
    retry_sleep_scale: float = 0.0,
    mock_config_file: Path | None = None,
    configure_moto: bool = True,
) -> Iterator[LocalCloud]:
    """Apply the adaptations for the duration of the block; yield the ``LocalCloud``.

    In-process, enter it inside ``mock_aws()``. In server mode pass the server's
    ``endpoint_url``: ``MOTO_PORT`` is set from it for the ASL engine, and handlers and
    jobs get it as ``AWS_ENDPOINT_URL``. ``configure_moto`` turns on moto's state machine
    execution and its Docker-less Lambda and Batch backends (the ``/moto-api/config``
    settings), which the adaptations build on. ``mock_config_file`` sets SFN_MOCK_CONFIG.
    """
    chosen = list(adapters)
    unknown = sorted(set(chosen) - set(_ADAPTERS))
    if unknown:
        raise ValueError(f"unknown adaptations {unknown}; known: {list(ADAPTATIONS)}")
    if not _ACTIVE.acquire(blocking=False):
        raise RuntimeError("local_aws() is already active in this process")
    try:
        cloud = LocalCloud(
            endpoint_url=endpoint_url,
            batch_workdir=batch_workdir,
            batch_env=batch_env,
            lambda_env=lambda_env,
            retry_sleep_scale=retry_sleep_scale,
        )
        with contextlib.ExitStack() as stack:
            env: dict[str, str] = {}
            if endpoint_url:
                port = endpoint_url.rstrip("/").rsplit(":", 1)[-1]
                if port.isdigit():
                    env["MOTO_PORT"] = port
            if mock_config_file is not None:
                env["SFN_MOCK_CONFIG"] = str(mock_config_file)
            stack.enter_context(_environ(env))
            if configure_moto:
                stack.enter_context(_configure_moto())
            for adaptation in ADAPTATIONS:  # fixed order: the env comes before clients
                if adaptation in chosen:
                    stack.enter_context(_ADAPTERS[adaptation](cloud))
            yield cloud
    finally:
        _ACTIVE.release()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """A ``ThreadedMotoServer`` in this process (port 0: a free one); yields its URL.

    moto's state is process-wide: the server starts from an empty cloud and leaves none
    behind (``/moto-api/reset`` on the way in and out), so a second server in the same
    process does not find the first one's resources. It stops within
    ``SERVER_POLL_SECONDS`` of leaving the block.
    """
    from moto.server import ThreadedMotoServer

    if port:
        # The server thread would die on a taken port without telling us: check first.
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug does
            probe.bind((host, port))  # OSError: address already in use
    port = port or _free_port(host)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    # werkzeug's server looks for a stop request between two waits for a connection, each
    # up to 0.5 s long (serve_forever's poll_interval), so every stop waited for one.
    owner, attribute, serve = _seam(
        "moto_server", "werkzeug.serving", "BaseWSGIServer.serve_forever", ["self", "poll_interval"]
    )

    def serve_forever(self: Any, poll_interval: float = 0.5) -> None:
        serve(self, poll_interval=min(poll_interval, SERVER_POLL_SECONDS))

    werkzeug_log = logging.getLogger("werkzeug")
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.WARNING)
    with mock.patch.object(owner, attribute, serve_forever):  # until it has stopped
        server.start()
        url = f"http://{host}:{port}"
        try:
            _reset_moto(url)
            yield url
        finally:
            with contextlib.suppress(OSError):
                _reset_moto(url)
            server.stop()
            werkzeug_log.setLevel(level)


def _reset_moto(url: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
        answer.read()
