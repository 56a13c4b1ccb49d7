"""Feature: faults injected into one Task state's service call (``inject_task_fault``).

Where moto's engine calls the service of a ``dynamodb:*``, ``lambda:invoke`` or
``batch:*`` Task (each integration's ``_eval_service_task``), a fault pending for the
execution's run and the state is raised instead, as the service or the engine itself
would raise it, so that the engine's own error naming, the state's Retry and its Catch
apply unchanged:

* a service error is the ``botocore`` ``ClientError`` the API answers (the engine names
  it ``DynamoDB.<class>``, ``Lambda.<code>``, ``Batch.<class>``);
* a function error is the failed invoke's payload (``errorType``, ``errorMessage``), which
  the engine names by its ``errorType`` (``Sandbox.Timedout``, a handler's exception);
* a state timeout is the engine's ``EvalTimeoutError``, which it reports as
  ``States.Timeout`` in a ``TaskTimedOut`` event, as when ``TimeoutSeconds`` runs out;
* a ``before`` fault runs its action, then makes the real call.

Step Functions Local's mock config (``mock_config``) mocks every call of a state; this
fails only the calls asked for, and only in the one run's executions (its Distributed Map's
child executions included: their input names the run at ``run.pk``), so a fault matrix
(tests/faults) can run many runs side by side in one local cloud.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from botocore.exceptions import ClientError

from runledger_local.patches._seams import Seam
from runledger_local.runtime.faults import TaskFault
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "task_faults"
_SERVICE: Final = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
_SIGNATURE: Final = (
    "self",
    "env",
    "resource_runtime_part",
    "normalised_parameters",
    "state_credentials",
)
_INTEGRATIONS: Final = (
    Seam(
        NAME,
        f"{_SERVICE}.state_task_service_dynamodb",
        "StateTaskServiceDynamoDB._eval_service_task",
        _SIGNATURE,
    ),
    Seam(
        NAME,
        f"{_SERVICE}.state_task_service_lambda",
        "StateTaskServiceLambda._eval_service_task",
        _SIGNATURE,
    ),
    Seam(
        NAME,
        f"{_SERVICE}.state_task_service_batch",
        "StateTaskServiceBatch._eval_service_task",
        _SIGNATURE,
    ),
)
_LAMBDA_FUNCTION_ERROR: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "LambdaFunctionErrorException",
)
_EVAL_TIMEOUT_ERROR: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.component.common.timeouts.timeout", "EvalTimeoutError"
)
SEAMS: Final[tuple[Seam, ...]] = (*_INTEGRATIONS, _LAMBDA_FUNCTION_ERROR, _EVAL_TIMEOUT_ERROR)


def run_id_of(env: Any) -> str | None:
    """The run an execution works on, from its input: the pipe's ``[{"pk": "RUN#<id>"}]``
    for a run's execution, the ItemSelector's item ``{..., "run": {"pk": "RUN#<id>"}}``
    for a child workflow execution of its Distributed Map (features/distributed_map: a
    child's ``$states.context.Execution`` is its own, its Input the item)."""
    execution = env.states.context_object.context_object_data.get("Execution") or {}
    records = execution.get("Input")
    if isinstance(records, str):
        with contextlib.suppress(ValueError):
            records = json.loads(records)
    if isinstance(records, dict):  # a child's item
        run = records.get("run")
        pk = run.get("pk") if isinstance(run, dict) else None
    else:
        first = records[0] if isinstance(records, list) and records else None
        pk = first.get("pk") if isinstance(first, dict) else None
    return pk[len("RUN#") :] if isinstance(pk, str) and pk.startswith("RUN#") else None


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    _, _, function_error = _LAMBDA_FUNCTION_ERROR.resolve()
    _, _, eval_timeout_error = _EVAL_TIMEOUT_ERROR.resolve()

    def failure(fault: TaskFault, operation: str) -> Exception:
        if fault.kind == "service":
            response: Any = {
                "Error": {"Code": fault.code, "Message": fault.message},
                "ResponseMetadata": {"HTTPStatusCode": fault.status, "RequestId": "injected"},
            }
            return ClientError(response, operation)
        if fault.kind == "function":
            payload = {"errorType": fault.code, "errorMessage": fault.message}
            return function_error("Unhandled", json.dumps(payload))  # type: ignore[no-any-return]
        return eval_timeout_error()  # type: ignore[no-any-return]

    def faulted(original: Any) -> Any:
        def eval_service_task(
            self: Any,
            env: Any,
            resource_runtime_part: Any,
            normalised_parameters: dict[str, Any],
            state_credentials: Any,
        ) -> None:
            run_id = run_id_of(env) if cloud.task_faults else None
            fault = None
            if run_id is not None:
                text = functools.partial(json.dumps, normalised_parameters, default=str)
                fault = cloud._take_task_fault(run_id, self.name, text)
            if fault is not None and fault.kind == "before" and fault.action is not None:
                fault.action()
            elif fault is not None:
                raise failure(fault, str(self._get_boto_service_action()))
            original(self, env, resource_runtime_part, normalised_parameters, state_credentials)

        return eval_service_task

    with contextlib.ExitStack() as stack:
        for seam in _INTEGRATIONS:
            owner, attribute, original = seam.resolve()
            stack.enter_context(mock.patch.object(owner, attribute, faulted(original)))
        yield
