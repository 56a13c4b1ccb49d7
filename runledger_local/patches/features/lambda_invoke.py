"""Feature: invokes of registered functions run the real Python handler in-process.

moto's Docker-less Lambda backend (``awslambda_simple``) answers every invoke with the
payload it was given, even for a function nobody created. Here, in moto's own pattern (a
sibling backend overriding one method, as ``awslambda_simple`` overrides ``invoke``),
``LocalLambdaBackend`` serves the Lambda API:

- an invoke of a function the local cloud registered (``LocalCloud.register_function``:
  the template's functions, or a test's) runs its handler (runledger_local.runtime
  .lambdas), through ``lambda_client.invoke`` and the engine's ``lambda:invoke`` tasks
  alike: ``Event`` invokes in a thread of their own, ``DryRun`` answers nothing, injected
  Lambda service errors (``inject_lambda_error``) are raised as the Lambda API would. A
  function error is ``x-amz-function-error: Unhandled``;
- an invoke of a function created through the API (CreateFunction) but not registered is
  moto's Docker-less answer (the payload, echoed);
- an invoke of a function that neither knows is ``ResourceNotFoundException`` ("Function
  not found: <arn>"), as on AWS: a misspelled function name fails (a ``lambda:invoke``
  task fails with ``Lambda.ResourceNotFoundException``);
- an invoke with ``LogType: Tail`` (``X-Amz-Log-Type``; a ``lambda:invoke`` task's
  ``LogType`` parameter is passed on as it) answers ``LogResult`` (``x-amz-log-result``):
  "The last 4 KB of the execution log, base64-encoded" (Lambda API reference, Invoke,
  response). The log is the invocation's own: START, what its handler's thread wrote to
  stdout or stderr (print, the Powertools logger), the runtime's error line, END and
  REPORT (``LocalCloud._invoke``). While applied, sys.stdout and sys.stderr are
  ``ThreadRoutedStream``s, which copy a thread's writes only while its invocation asked
  for Tail. moto's Docker-less backend answered no LogResult (its Docker backend does:
  getmoto/moto#2973 made that Tail-only); no moto issue found for the Docker-less one.

The only things patched are which backend the Lambda API uses
(``LambdaResponse.backend``), sys.stdout and sys.stderr (above), and the engine's
``lambda:invoke`` integration: a Lambda step of an execution waits its turn in the order
executions started, and its result carries what AWS adds to it (``SdkHttpMetadata``
with the response's HTTP headers and status, ``SdkResponseMetadata`` with its request id:
recorded on AWS in LocalStack's AWS-validated snapshots, e.g.
query_language/test_mixed_query_language), as a state that keeps the whole result sees.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import io
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar, Final
from unittest import mock

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.base_backend import BackendDict

from runledger_local.patches._seams import Seam
from runledger_local.runtime.lambdas import (
    INVOCATION,
    function_name_of,
    lambda_service_error,
    log_tail,
    routed_output,
)
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "lambda_in_process"
LAMBDA_EVAL_UTILS: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
)
#: The method LocalLambdaBackend overrides, with the parameters it keeps.
_SIMPLE_INVOKE: Final = Seam(
    NAME,
    "moto.awslambda_simple.models",
    "LambdaSimpleBackend.invoke",
    ("self", "function_name", "qualifier", "body", "headers", "response_headers"),
)
_GET_FUNCTION: Final = Seam(
    NAME,
    "moto.awslambda.models",
    "LambdaBackend.get_function",
    ("self", "function_name_or_arn", "qualifier"),
)
#: Which backend the Lambda API serves from (moto: by its use_docker setting).
_RESPONSE_BACKEND: Final = Seam(NAME, "moto.awslambda.responses", "LambdaResponse.backend")
_UNKNOWN_FUNCTION: Final = Seam(NAME, "moto.awslambda.exceptions", "UnknownFunctionException")
_EXECUTE_LAMBDA_FUNCTION_INTEGRATION: Final = Seam(
    NAME,
    LAMBDA_EVAL_UTILS,
    "execute_lambda_function_integration",
    ("env", "parameters", "region", "state_credentials"),
)
SEAMS: Final[tuple[Seam, ...]] = (
    _SIMPLE_INVOKE,
    _GET_FUNCTION,
    _RESPONSE_BACKEND,
    _UNKNOWN_FUNCTION,
    _EXECUTE_LAMBDA_FUNCTION_INTEGRATION,
)


class LocalLambdaBackend(LambdaSimpleBackend):
    """moto's Docker-less Lambda backend whose invokes of registered functions run them."""

    #: The active local cloud (set while ``apply`` is entered).
    cloud: ClassVar[LocalCloud | None] = None

    def invoke(
        self,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> str | bytes | None:
        cloud = LocalLambdaBackend.cloud
        target = function_name_of(function_name)
        if cloud is None or target not in cloud._functions:
            try:
                self.get_function(function_name, qualifier)
            except UnknownFunctionException:
                # AWS names the version it looked for: "Function not found: <arn>:$LATEST".
                arn = f"arn:aws:lambda:{self.region_name}:{self.account_id}:function:{target}"
                raise UnknownFunctionException(f"{arn}:{qualifier or '$LATEST'}") from None
            return super().invoke(function_name, qualifier, body, headers, response_headers)
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
            raise lambda_service_error(*injected)
        log = io.StringIO() if headers and headers.get("X-Amz-Log-Type") == "Tail" else None
        payload, failed = cloud._invoke(target, event, region, account, log)
        if log is not None:
            response_headers["x-amz-log-result"] = log_tail(log.getvalue())
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = "$LATEST"
        response_headers["Content-Length"] = str(len(payload))
        return payload


local_lambda_backends: Final = BackendDict(LocalLambdaBackend, "lambda")


def sdk_metadata(result: dict[str, Any]) -> dict[str, Any]:
    """What Step Functions adds to a ``lambda:invoke`` result: the Invoke response's HTTP
    metadata, as the AWS SDK for Java reports it."""
    payload = result.get("Payload")
    body = payload if isinstance(payload, str) and "Payload" not in result else json.dumps(payload)
    request_id = str(uuid.uuid4())
    headers = {
        "Connection": "keep-alive",
        "Content-Length": str(len(body.encode("utf-8"))),
        "Content-Type": "application/json",
        "Date": email.utils.formatdate(usegmt=True),
        "X-Amz-Executed-Version": str(result.get("ExecutedVersion", "$LATEST")),
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": request_id,
        "X-Amzn-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
    }
    return {
        "SdkHttpMetadata": {
            "AllHttpHeaders": {name: [value] for name, value in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": int(result.get("StatusCode", 200)),
        },
        "SdkResponseMetadata": {"RequestId": request_id},
    }


#: Distributed Map child execution ARN -> the StartTime of the run that started it
#: (features/distributed_map fills it): it orders the child's Lambda steps, so that a
#: run's jobs are served in its place among the runs rather than after every run started
#: since. Kept by ARN, as the context object carries it into every frame of the child.
#: Measured 2026-12-07, 200 runs of events/requests/kmer-valid-local.json at once through
#: one LocalPipeline, two alternated pairs: 0.72x the wall time with it (45.0 and 46.7 s
#: against 66.5 and 61.3 s).
ORDER_STARTS: dict[str, str] = {}


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    for seam in (_SIMPLE_INVOKE, _GET_FUNCTION, _UNKNOWN_FUNCTION):
        seam.resolve()
    response_class, backend_attribute, _ = _RESPONSE_BACKEND.resolve()
    eval_utils, _, integration = _EXECUTE_LAMBDA_FUNCTION_INTEGRATION.resolve()

    def backend(self: Any) -> LocalLambdaBackend:
        return local_lambda_backends[self.current_account][self.region]

    def integration_in_start_order(
        env: Any, parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> Any:
        # The execution's start time orders its Lambda steps against other executions'.
        try:
            execution = env.states.context_object.context_object_data["Execution"]
            started = ORDER_STARTS.get(execution["Id"]) or execution["StartTime"]
        except (AttributeError, KeyError, TypeError):
            started = None  # unordered: served by arrival
        if isinstance(started, str):  # AWS's text, to the millisecond (context_timestamps)
            with contextlib.suppress(ValueError):
                started = dt.datetime.fromisoformat(started)
        INVOCATION.priority = started.timestamp() if isinstance(started, dt.datetime) else None
        try:
            integration(env, parameters, region, state_credentials)
        finally:
            INVOCATION.priority = None
        if not env.is_mocked_mode() and isinstance(env.stack[-1], dict):
            env.stack[-1].update(sdk_metadata(env.stack[-1]))

    with contextlib.ExitStack() as stack:
        stack.callback(ORDER_STARTS.clear)  # this cloud's children only
        stack.enter_context(routed_output())
        stack.enter_context(mock.patch.object(LocalLambdaBackend, "cloud", cloud))
        stack.enter_context(mock.patch.object(response_class, backend_attribute, property(backend)))
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
