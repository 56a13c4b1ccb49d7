"""Lambda functions served in-process: spec, context, the invocation lock, the handler.

A handler runs with its environment variables set in ``os.environ`` (process-wide), so
invocations are serialised by one lock (``LAMBDA_LOCK``), held from environment set-up to
handler return, and served in the order their executions started (an invoke from outside
an execution: in the order it arrived). A nested synchronous invoke from a handler
(in-process) re-enters the lock. Map iterations therefore run their Lambda steps one at a
time; Batch jobs (separate processes) still run concurrently. A handler that exceeds its
timeout is reported as ``Sandbox.Timedout``, its environment is restored and the lock
released, but its Python thread cannot be killed: it finishes in the background and its
result is discarded. While a handler runs, its ``code_dir`` and ``extra_paths`` are at the
front of ``sys.path``; sibling modules it imports are cached under their plain names, so
give them names unique across functions (shared code belongs in the layer anyway).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import heapq
import importlib.util
import io
import itertools
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from runledger_local.logs import get_logger

LOG = get_logger(__name__)


#: Fake credentials given to handlers and jobs, so nothing local can sign a real request.
FAKE_CREDENTIALS: Final[dict[str, str]] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


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


class ChainLock:
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


LAMBDA_LOCK = ChainLock()
INVOCATION = threading.local()
#: The log buffer of the invocation whose handler runs in this thread (``LogType: Tail``).
_OUTPUT = threading.local()


class ThreadRoutedStream:
    """``sys.stdout``/``sys.stderr`` while the local cloud is active: what a thread whose
    invocation asked for its log writes is copied into that invocation's buffer, then
    written on as before; other threads' writes go straight through (one attribute
    lookup). It is installed again at each invocation (``route_output``), so the
    ``logging.StreamHandler``s a handler makes at its cold start (Powertools' logger
    binds sys.stdout then) write through it too.

    Every one made is kept for the life of the process (``_wrapper``): see there."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        buffer: io.StringIO | None = getattr(_OUTPUT, "buffer", None)
        if buffer is not None:
            buffer.write(text)
        return int(self._stream.write(text))

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_ROUTING: Final = threading.Lock()
#: Every ``ThreadRoutedStream`` made, by the id of the stream it wraps (which it keeps
#: alive, so the id is not reused): none is ever freed. CPython 3.13.0-3.13.2's print()
#: holds sys.stdout as a borrowed reference across its writes (the text, then the end),
#: and the C ``threading.excepthook`` sys.stderr likewise (CPython gh-130163, fixed in
#: 3.13.3). A handler thread printing (Powertools' metrics flush) while another thread
#: dropped the wrapper (pytest's capture between test phases, ``routed_output``'s exit)
#: wrote through freed memory; its frames then crashed the garbage collector later, in
#: whatever test ran then (make test: a worker's segfault about 1 run in 5).
_WRAPPERS: dict[int, ThreadRoutedStream] = {}


def _wrapper(stream: Any) -> ThreadRoutedStream:
    """The one ``ThreadRoutedStream`` of ``stream``, made on first use (held in
    ``_WRAPPERS``; call with ``_ROUTING`` held)."""
    wrapper = _WRAPPERS.get(id(stream))
    if wrapper is None:
        wrapper = _WRAPPERS[id(stream)] = ThreadRoutedStream(stream)
    return wrapper


def route_output() -> None:
    """Make sys.stdout and sys.stderr ``ThreadRoutedStream``s, if they are not (again:
    pytest, ``runledger local run`` and others set them anew)."""
    if isinstance(sys.stdout, ThreadRoutedStream) and isinstance(sys.stderr, ThreadRoutedStream):
        return
    with _ROUTING:
        if not isinstance(sys.stdout, ThreadRoutedStream):
            sys.stdout = _wrapper(sys.stdout)
        if not isinstance(sys.stderr, ThreadRoutedStream):
            sys.stderr = _wrapper(sys.stderr)


@contextlib.contextmanager
def routed_output() -> Iterator[None]:
    """sys.stdout and sys.stderr routed while inside (``route_output``); unwrapped after."""
    route_output()
    try:
        yield
    finally:
        with _ROUTING:
            if isinstance(sys.stdout, ThreadRoutedStream):
                sys.stdout = sys.stdout._stream
            if isinstance(sys.stderr, ThreadRoutedStream):
                sys.stderr = sys.stderr._stream


@contextlib.contextmanager
def output_into(buffer: io.StringIO | None) -> Iterator[None]:
    """While inside, this thread's writes to sys.stdout/stderr are copied into ``buffer``
    (nothing is captured with None)."""
    _OUTPUT.buffer = buffer
    try:
        yield
    finally:
        _OUTPUT.buffer = None


#: AWS's LogResult: "The last 4 KB of the execution log, base64-encoded" (Invoke API).
LOG_TAIL_BYTES: Final = 4096


def log_tail(log: str) -> str:
    """The LogResult header of an invocation whose whole log is ``log``."""
    return base64.b64encode(log.encode("utf-8")[-LOG_TAIL_BYTES:]).decode("ascii")


@contextlib.contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
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
def sys_path(paths: Sequence[Path]) -> Iterator[None]:
    added = [str(path) for path in paths]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def json_default(value: Any) -> Any:
    # What the Python Lambda runtime's marshaller accepts beyond plain JSON.
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def error_payload(error_type: str, message: str, request_id: str, stack: list[str]) -> bytes:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": stack,
        }
    ).encode()


class RuntimeInitError(Exception):
    """A handler that cannot be loaded, named as the Lambda Python runtime names it."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class InProcessFunction:
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
                raise RuntimeInitError(
                    "Runtime.ImportModuleError", f"Unable to import module '{path.stem}': {exc}"
                ) from exc
            function = getattr(module, self.spec.function_attribute, None)
            if not callable(function):
                raise RuntimeInitError(
                    "Runtime.HandlerNotFound",
                    f"Handler '{self.spec.function_attribute}' missing on module '{path.stem}'",
                )
            self._handler = function
        return self._handler


def lambda_service_error(code: str, status: int) -> Exception:
    """An error of the Lambda API itself (not of the function), as moto answers it."""
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError(code, "Rate exceeded" if status == 429 else code)
    error.code = status
    return error


def function_name_of(name_or_arn: str) -> str:
    """``fn``, ``fn:alias``, ``123:function:fn`` and full ARNs all name ``fn``."""
    parts = name_or_arn.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]
