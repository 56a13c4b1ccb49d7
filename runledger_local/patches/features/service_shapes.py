"""Feature: optimised service integrations map their parameters onto the API's shape.

Step Functions takes an integration's parameters in PascalCase (``JobName``,
``StateMachineArn``) and calls the service API with them; its results come back in
PascalCase too. moto's ASL engine (from LocalStack) leaves ``_normalise_parameters`` and
``_normalise_response`` empty, so ``batch:submitJob`` lost its parameters and
``states:startExecution`` failed with ``KeyError: 'StateMachineArn'`` (States.Runtime,
where AWS answers ``StepFunctions.StateMachineDoesNotExistException``). Here every
integration does what LocalStack's engine does: map the parameters onto the botocore
input shape of the operation (``JobName`` -> ``jobName``), and the response back from its
output shape, with its timestamps as epoch milliseconds (the nested-workflow docs' output
of ``states:startExecution.sync``: ``"StartDate": 1585171735234``; botocore parses them
into datetimes, which no JSON output can hold). Integrations with their own normalisation
(Lambda, API Gateway, SQS's response) keep theirs; they call these for the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam, seams_of
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "service_shapes"
SERVICE_TASK: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service"
)
_NORMALISE_PARAMS: Final = ("self", "parameters", "boto_service_name", "service_action_name")
_NORMALISE_RESPONSE: Final = ("self", "response", "boto_service_name", "service_action_name")
_NORMALISERS: Final = (
    Seam(NAME, SERVICE_TASK, "StateTaskService._normalise_parameters", _NORMALISE_PARAMS),
    Seam(NAME, SERVICE_TASK, "StateTaskService._normalise_response", _NORMALISE_RESPONSE),
)
#: The helpers the normalisers call (moto ships them, unused).
_HELPERS: Final = seams_of(
    NAME,
    SERVICE_TASK,
    (
        "StateTaskService._to_boto_request",
        "StateTaskService._from_boto_response",
        "StateTaskService._get_boto_service_name",
        "StateTaskService._get_boto_service_action",
    ),
)
SEAMS: Final[tuple[Seam, ...]] = (*_NORMALISERS, *_HELPERS)

_OPERATION_MODELS: dict[tuple[str, str], Any] = {}
_OPERATION_MODELS_LOCK = threading.Lock()


def operation_model(service: str, snake_action: str) -> Any:
    """botocore's model of an operation, loaded once (Map iterations ask concurrently);
    None for an operation botocore does not know (the call then fails as it would)."""
    key = (service, snake_action)
    if key in _OPERATION_MODELS:
        return _OPERATION_MODELS[key]
    with _OPERATION_MODELS_LOCK:
        if key not in _OPERATION_MODELS:
            import botocore.session
            from botocore import xform_name
            from botocore.exceptions import UnknownServiceError

            model = None
            try:
                service_model = botocore.session.get_session().get_service_model(service)
            except UnknownServiceError:
                service_model = None
            if service_model is not None:
                for operation in service_model.operation_names:
                    if xform_name(operation) == snake_action:
                        model = service_model.operation_model(operation)
                        break
            _OPERATION_MODELS[key] = model
    return _OPERATION_MODELS[key]


def _model(self: Any, boto_service_name: str | None, service_action_name: str | None) -> Any:
    return operation_model(
        self._get_boto_service_name(boto_service_name),
        self._get_boto_service_action(service_action_name),
    )


def normalise_parameters(
    self: Any,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    _without_nulls(parameters)
    model = _model(self, boto_service_name, service_action_name)
    if model is not None and model.input_shape is not None:
        self._to_boto_request(parameters, model.input_shape)


def _without_nulls(parameters: dict[str, Any]) -> None:
    """Drop, in place, the request members whose value is null, as the AWS SDK's
    serialiser does: the service then answers for a missing member (DynamoDB PutItem
    without Item: "Value null at 'item' failed to satisfy constraint"), where botocore's,
    unvalidated, crashed (``'NoneType' object has no attribute 'items'``). Only the
    request's own members: a null inside a value (an SQS MessageBody or an EventBridge
    Detail given as JSON) is data, and stays."""
    for name in [name for name, value in parameters.items() if value is None]:
        del parameters[name]


def normalise_response(
    self: Any,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    model = _model(self, boto_service_name, service_action_name)
    if model is not None and model.output_shape is not None:
        self._from_boto_response(response, model.output_shape)
    _timestamps_as_epoch_ms(response)


def _timestamps_as_epoch_ms(value: Any) -> None:
    """Replace, in place, every datetime in ``value``'s dicts and lists by epoch ms."""
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in list(items):
        if isinstance(item, dt.datetime):
            value[key] = round(item.timestamp() * 1000)
        else:
            _timestamps_as_epoch_ms(item)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    for seam in _HELPERS:
        seam.resolve()
    (task_class, parameters_attribute, _), (_, response_attribute, _) = (
        seam.resolve() for seam in _NORMALISERS
    )
    with (
        mock.patch.object(task_class, parameters_attribute, normalise_parameters),
        mock.patch.object(task_class, response_attribute, normalise_response),
    ):
        yield
