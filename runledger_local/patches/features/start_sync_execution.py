"""Feature: ``StartSyncExecution`` runs an EXPRESS state machine and answers its result.

moto 5.2.5 has the engine's synchronous execution (``SyncExecution``) but no API for
it: the request went to ``sync-states.<region>.amazonaws.com``, a host moto does not
route ("Not yet implemented"), and StepFunctionResponse had no handler for it. Here the
sync host is routed to Step Functions, and the handler runs the execution to its end in
the request, as AWS does: "Starts a Synchronous Express state machine execution ...
returns the output, status, error and cause" (StartSyncExecution API reference); a
STANDARD state machine is ``StateMachineTypeNotSupported``, and an express execution's
ARN is ``...:express:<state machine>:<name>:<id>``. The execution is not kept:
DescribeExecution and GetExecutionHistory do not serve synchronous express executions
on AWS either.

In server mode botocore would send the request to ``sync-<endpoint host>`` (the host
prefix is prepended to a custom endpoint too), a host that does not resolve: this
process's clients (and the handlers it runs) get ``AWS_DISABLE_HOST_PREFIX_INJECTION``;
another process's client must set it (or ``Config(inject_host_prefix=False)``) itself.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.lambdas import environ
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "start_sync_execution"
_SYNC_HOST: Final = r"https?://sync-states\.(.+)\.amazonaws.com"
_URL_PATTERNS: Final = Seam(NAME, "moto.backend_index", "backend_url_patterns")
_URL_BASES: Final = Seam(NAME, "moto.stepfunctions.urls", "url_bases")
_RESPONSE: Final = Seam(NAME, "moto.stepfunctions.responses", "StepFunctionResponse")
_SYNC_EXECUTION: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.backend.execution",
    "SyncExecution.to_start_sync_execution_output",
    ("self",),
)
_AWS_ERROR: Final = Seam(NAME, "moto.core.exceptions", "AWSError")
_INVALID_INPUT: Final = Seam(NAME, "moto.stepfunctions.exceptions", "InvalidExecutionInput")
_ACTION_RESULT: Final = Seam(NAME, "moto.core.responses", "ActionResult")
SEAMS: Final[tuple[Seam, ...]] = (
    _URL_PATTERNS,
    _URL_BASES,
    _RESPONSE,
    _SYNC_EXECUTION,
    _AWS_ERROR,
    _INVALID_INPUT,
    _ACTION_RESULT,
)


def _billing(started: dt.datetime, stopped: dt.datetime | None) -> dict[str, int]:
    # Express workflows are billed in 64 MB and 100 ms steps (Step Functions pricing).
    elapsed_ms = ((stopped or started) - started).total_seconds() * 1000
    return {
        "billedMemoryUsedInMB": 64,
        "billedDurationInMilliseconds": max(100, math.ceil(elapsed_ms / 100) * 100),
    }


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    index, patterns_attribute, patterns = _URL_PATTERNS.resolve()
    urls, bases_attribute, bases = _URL_BASES.resolve()
    response_class = _RESPONSE.value
    sync_owner, _, _ = _SYNC_EXECUTION.resolve()
    aws_error = _AWS_ERROR.value
    invalid_input = _INVALID_INPUT.value
    action_result = _ACTION_RESULT.value

    class StateMachineTypeNotSupported(aws_error):  # type: ignore[misc, valid-type]
        TYPE = "StateMachineTypeNotSupported"
        STATUS = 400

    def start_sync_execution(self: Any) -> Any:
        backend = self.stepfunction_backend
        state_machine = backend.describe_state_machine(self._get_param("stateMachineArn"))
        if state_machine.type != "EXPRESS":
            raise StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine"
            )
        execution_input = self._get_param("input", if_none="{}")
        try:
            json.loads(execution_input)
        except ValueError as exc:
            raise invalid_input(str(exc)) from None
        name = self._get_param("name") or str(uuid.uuid4())
        machine_arn = state_machine.arn.replace(":stateMachine:", ":express:", 1)
        # A snapshot of the definition, as moto's start_execution takes one.
        clone = copy.deepcopy(
            state_machine,
            {id(state_machine.executions): [], id(state_machine.backend): state_machine.backend},
        )
        execution = sync_owner(
            name=name,
            sm_type=state_machine.type,
            role_arn=state_machine.roleArn,
            exec_arn=f"{machine_arn}:{name}:{uuid.uuid4()}",
            account_id=backend.account_id,
            region_name=backend.region_name,
            state_machine=clone,
            start_date=dt.datetime.now(tz=dt.UTC),
            cloud_watch_logging_session=None,
            input_data=execution_input,
            trace_header=self._get_param("traceHeader"),
            activity_store={},
        )
        execution.start()  # the synchronous worker: returns when the execution has ended
        answer = dict(execution.to_start_sync_execution_output())
        answer["stateMachineArn"] = state_machine.arn
        answer["billingDetails"] = _billing(execution.start_date, execution.stop_date)
        return action_result({key: value for key, value in answer.items() if value is not None})

    sync_pattern = ("stepfunctions", re.compile(_SYNC_HOST))
    host_prefix = {"AWS_DISABLE_HOST_PREFIX_INJECTION": "true"} if cloud.endpoint_url else {}
    with (
        mock.patch.object(index, patterns_attribute, [sync_pattern, *patterns]),
        mock.patch.object(urls, bases_attribute, [*bases, _SYNC_HOST]),
        mock.patch.object(
            response_class, "start_sync_execution", start_sync_execution, create=True
        ),
        environ(host_prefix),
    ):
        yield
