"""Speed: a ``lambda:invoke`` task of the engine calls the registered handler directly.

The same event, payload and ``FunctionError`` as the Invoke API of
``features/lambda_invoke`` gives, without botocore's serialise, sign and parse and moto's
request set-up (4 ms of the engine's CPU per invoke, 8 invokes a run). Anything else (a
qualifier, an async or dry-run type, an injected error, an unknown function) goes the way
it always did.

Measured 2026-12-04, bench/bench_speed.py --mechanism lambda_direct --runs 30, --rounds 5
then --rounds 6: engine CPU 1.12x with it off (median of the 11 alternated pairs, range
0.99-1.37x), wall 1.10x (0.98-1.33x), peak RSS 1.02x.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.patches.features.lambda_invoke import LAMBDA_EVAL_UTILS
from runledger_local.runtime.lambdas import function_name_of
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "lambda_direct"
_INVOKE_LAMBDA_FUNCTION: Final = Seam(
    NAME,
    LAMBDA_EVAL_UTILS,
    "_invoke_lambda_function",
    ("parameters", "region", "state_credentials"),
)
_FROM_PAYLOAD: Final = Seam(NAME, LAMBDA_EVAL_UTILS, "_from_payload", ("payload_streaming_body",))
_DEFAULT_ACCOUNT_ID: Final = Seam(NAME, "moto.core", "DEFAULT_ACCOUNT_ID")
SEAMS: Final[tuple[Seam, ...]] = (_INVOKE_LAMBDA_FUNCTION, _FROM_PAYLOAD, _DEFAULT_ACCOUNT_ID)
#: What moto's Invoke answers in place of a payload over 6 MB.
_OVERSIZED_LAMBDA_RESPONSE: Final[bytes] = json.dumps(
    {
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
).encode("utf-8")


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    eval_utils, attribute, invoke_for_task = _INVOKE_LAMBDA_FUNCTION.resolve()
    from_payload = _FROM_PAYLOAD.value
    default_account = _DEFAULT_ACCOUNT_ID.value

    def invoke_task_directly(
        parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> Any:
        target = function_name_of(str(parameters.get("FunctionName", "")))
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

    with mock.patch.object(eval_utils, attribute, invoke_task_directly):
        yield
