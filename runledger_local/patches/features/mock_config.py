"""Feature: Step Functions Local's MockConfigFile, ``start_execution(arn + "#TestCase")``.

The file ``SFN_MOCK_CONFIG`` names is read as Step Functions Local reads it (its format:
StateMachines -> TestCases -> state -> MockedResponses entry; responses keyed ``"N"`` or
``"N-M"``, each a Return or a Throw). As in Step Functions Local, a state's invocations
are numbered across the whole execution (retries and Map iterations alike: moto numbers
them by RetryCount, so every Map iteration got response 0), and a mock may Throw
``States.*`` errors (``States.TaskFailed``: a failed ``.sync`` job), which moto refuses.

A Distributed Map's child workflow executions (features/distributed_map) run under their
parent's test case: moto builds each child's environment as a frame of the parent's, which
carries its ``mock_test_case``, and the invocation numbers above are kept on the test case,
so they run on across the parent and its children (a child's Nth call of a state is the
execution's Nth). That is what LocalStack's mocking does (its children are frames of the
parent too; localstack/localstack#13693 shares the invocation counter "between parent and
child frames"). AWS's Step Functions Local documentation (sfn-local-test-sm-exec.html) says
nothing of Distributed Map children; tests/statemachine relies on this behaviour and proves
it (each child's history shows its mocked calls).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from unittest import mock

from runledger_local.logs import get_logger
from runledger_local.patches import start_execution
from runledger_local.patches._seams import AdaptationBrokenError, Seam, seams_of
from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)

NAME: Final = "mock_config"


class MockConfigError(ValueError):
    """The file named by SFN_MOCK_CONFIG does not follow Step Functions Local's format."""


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


_MOCK_CLASSES: Final = seams_of(
    NAME,
    _MOCK_CONFIG,
    ("MockTestCase", "StateMockedResponses", "MockedResponseReturn", "MockedResponseThrow"),
)
_LOAD_MOCK_TEST_CASE_FOR: Final = Seam(
    NAME, _MOCK_CONFIG, "load_mock_test_case_for", ("state_machine_name", "test_case_name")
)
_EXECUTION_GET_START_EXECUTION_WORKER: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.backend.execution",
    "Execution._get_start_execution_worker",
    ("self",),
)
_EXECUTION_WORKER: Final = Seam(
    NAME, "moto.stepfunctions.parser.backend.execution_worker", "ExecutionWorker"
)
_INVALID_NAME: Final = Seam(NAME, "moto.stepfunctions.exceptions", "InvalidName")
_EVAL_MOCKED_RESPONSE_THROW: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.mock_eval_utils",
    "_eval_mocked_response_throw",
    ("env", "mocked_response"),
)
_ENVIRONMENT_GET_CURRENT_MOCKED_RESPONSE: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.eval.environment",
    "Environment.get_current_mocked_response",
    ("self",),
)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    loader_owner, loader_attr, _ = _LOAD_MOCK_TEST_CASE_FOR.resolve()
    for seam in _MOCK_CLASSES:
        seam.resolve()
    worker_owner, worker_attr, original_worker = _EXECUTION_GET_START_EXECUTION_WORKER.resolve()
    _, _, worker_class = _EXECUTION_WORKER.resolve()
    if "mock_test_case" not in inspect.signature(worker_class.__init__).parameters:
        raise AdaptationBrokenError(NAME, "ExecutionWorker no longer takes a mock_test_case")
    _, _, invalid_name = _INVALID_NAME.resolve()
    throw_owner, throw_attr, original_throw = _EVAL_MOCKED_RESPONSE_THROW.resolve()
    response_owner, response_attr, _ = _ENVIRONMENT_GET_CURRENT_MOCKED_RESPONSE.resolve()

    @contextlib.contextmanager
    def with_test_case(
        backend: Any, request: start_execution.StartRequest
    ) -> Iterator[start_execution.StartRequest]:
        base_arn, _, test_case_name = request.state_machine_arn.partition("#")
        if not test_case_name:
            yield request
            return
        machine = backend.describe_state_machine(base_arn)
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
            yield request.replace(state_machine_arn=base_arn)
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
        stack.enter_context(start_execution.hooked(with_test_case))
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


SEAMS: Final[tuple[Seam, ...]] = (
    *_MOCK_CLASSES,
    *start_execution.SEAMS,
    _LOAD_MOCK_TEST_CASE_FOR,
    _EXECUTION_GET_START_EXECUTION_WORKER,
    _EXECUTION_WORKER,
    _INVALID_NAME,
    _EVAL_MOCKED_RESPONSE_THROW,
    _ENVIRONMENT_GET_CURRENT_MOCKED_RESPONSE,
)
