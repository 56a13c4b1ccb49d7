"""Feature: invokes of registered functions run the real Python handler in-process.

moto's Docker-less Lambda backend (``awslambda_simple``) answers every invoke with the
payload it was given. Here an invoke of a function the local cloud registered
(``LocalCloud.register_function``: the template's functions, or a test's) runs its
handler (runledger_local.runtime.lambdas), through ``lambda_client.invoke`` and the
engine's ``lambda:invoke`` tasks alike: ``Event`` invokes in a thread of their own,
``DryRun`` answers nothing, injected Lambda service errors (``inject_lambda_error``) are
raised as the Lambda API would. A function error is ``x-amz-function-error: Unhandled``.
A Lambda step of an execution waits its turn in the order executions started.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.lambdas import INVOCATION, function_name_of, lambda_service_error
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "lambda_in_process"
LAMBDA_EVAL_UTILS: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
)
_INVOKE_PARAMS: Final = (
    "self",
    "function_name",
    "qualifier",
    "body",
    "headers",
    "response_headers",
)
_BACKEND_INVOKES: Final = (
    Seam(NAME, "moto.awslambda.models", "LambdaBackend.invoke", _INVOKE_PARAMS),
    Seam(NAME, "moto.awslambda_simple.models", "LambdaSimpleBackend.invoke", _INVOKE_PARAMS),
)
_EXECUTE_LAMBDA_FUNCTION_INTEGRATION: Final = Seam(
    NAME,
    LAMBDA_EVAL_UTILS,
    "execute_lambda_function_integration",
    ("env", "parameters", "region", "state_credentials"),
)
SEAMS: Final[tuple[Seam, ...]] = (*_BACKEND_INVOKES, _EXECUTE_LAMBDA_FUNCTION_INTEGRATION)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    targets = [seam.resolve() for seam in _BACKEND_INVOKES]
    eval_utils, _, integration = _EXECUTE_LAMBDA_FUNCTION_INTEGRATION.resolve()

    def make_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
        def invoke(
            self: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, str],
        ) -> Any:
            target = function_name_of(function_name)
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
                raise lambda_service_error(*injected)
            payload, failed = cloud._invoke(target, event, region, account)
            if failed:
                response_headers["x-amz-function-error"] = "Unhandled"
            response_headers["x-amz-executed-version"] = "$LATEST"
            response_headers["Content-Length"] = str(len(payload))
            return payload

        return invoke

    def integration_in_start_order(
        env: Any, parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> Any:
        # The execution's start time orders its Lambda steps against other executions'.
        try:
            started = env.states.context_object.context_object_data["Execution"]["StartTime"]
        except (AttributeError, KeyError, TypeError):
            started = None  # unordered: served by arrival
        INVOCATION.priority = started.timestamp() if isinstance(started, dt.datetime) else None
        try:
            return integration(env, parameters, region, state_credentials)
        finally:
            INVOCATION.priority = None

    with contextlib.ExitStack() as stack:
        for owner, attribute, original in targets:
            stack.enter_context(mock.patch.object(owner, attribute, make_invoke(original)))
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
