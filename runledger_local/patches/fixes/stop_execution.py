"""Fix: ``StopExecution`` ends an execution ABORTED with the caller's error and cause.

moto 5.2.5: an execution stopped inside a Map state ended FAILED (its Map state read the
stop's error, a string, as a dict); a ``.sync`` task stopped early killed its
token-waiting thread with a TypeError; the ``ExecutionAborted`` event had empty error and
cause (moto stopped it with empty ones), and the answer lacked ``stopDate``, a required
member of StopExecution's output. AWS: "StopExecution ... error: The error code of the
failure; cause: A more detailed explanation" (StopExecution API reference). And a Map
iteration whose worker began as the stop came (its start state was next) raised moto's
"Could not set NextState value when in state ProgramStopped" and ended MapIterationFailed,
not MapIterationAborted (1 make test run in 13; a second failed run of the 13 lost its
log). Delete this module when moto does the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.logs import get_logger
from runledger_local.patches._seams import AdaptationBrokenError, Seam
from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)

NAME: Final = "stop_execution"


_STATE_MAP_EVAL_STATE: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map",
    "StateMap._eval_state",
    ("self", "env"),
)
_STATE_TASK_SERVICE_CALLBACK_EVAL_WAIT_FOR_TASK_TOKEN: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service_callback",
    "StateTaskServiceCallback._eval_wait_for_task_token",
    ("self", "env", "timeout_seconds", "callback_endpoint", "heartbeat_endpoint"),
)
_CALLBACK_OUTCOME_TIMED_OUT: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.eval.callback.callback", "CallbackOutcomeTimedOut"
)
_STEP_FUNCTION_RESPONSE_STOP_EXECUTION: Final = Seam(
    NAME, "moto.stepfunctions.responses", "StepFunctionResponse.stop_execution", ("self",)
)
_ACTION_RESULT: Final = Seam(NAME, "moto.core.responses", "ActionResult")
_ENVIRONMENT_NEXT_STATE_NAME: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.eval.environment", "Environment.next_state_name"
)
_PROGRAM_STOPPED: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.eval.program_state", "ProgramStopped"
)
_UTCNOW: Final = Seam(NAME, "moto.core.utils", "utcnow")


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    map_owner, map_attr, original_map = _STATE_MAP_EVAL_STATE.resolve()
    task_owner, task_attr, original_wait = (
        _STATE_TASK_SERVICE_CALLBACK_EVAL_WAIT_FOR_TASK_TOKEN.resolve()
    )
    _, _, timed_out = _CALLBACK_OUTCOME_TIMED_OUT.resolve()
    response_owner, response_attr, original_stop = _STEP_FUNCTION_RESPONSE_STOP_EXECUTION.resolve()
    _, _, action_result = _ACTION_RESULT.resolve()
    _, _, utcnow = _UTCNOW.resolve()
    env_owner, env_attr, next_state_name = _ENVIRONMENT_NEXT_STATE_NAME.resolve()
    _, _, program_stopped = _PROGRAM_STOPPED.resolve()
    if not isinstance(next_state_name, property) or next_state_name.fset is None:
        raise AdaptationBrokenError(NAME, "Environment.next_state_name is no longer settable")
    set_running_next_state_name = next_state_name.fset

    def set_next_state_name(self: Any, name: str) -> None:
        try:
            set_running_next_state_name(self, name)
        except RuntimeError:
            # Stopped meanwhile: the program ends at its next check, and the iteration
            # with it, ABORTED (MapIterationAborted), as every other stopped one.
            if not isinstance(self.program_state(), program_stopped):
                raise

    tolerant = property(next_state_name.fget, set_next_state_name, next_state_name.fdel)

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
        mock.patch.object(env_owner, env_attr, tolerant),
    ):
        yield


SEAMS: Final[tuple[Seam, ...]] = (
    _STATE_MAP_EVAL_STATE,
    _STATE_TASK_SERVICE_CALLBACK_EVAL_WAIT_FOR_TASK_TOKEN,
    _CALLBACK_OUTCOME_TIMED_OUT,
    _STEP_FUNCTION_RESPONSE_STOP_EXECUTION,
    _ACTION_RESULT,
    _UTCNOW,
    _ENVIRONMENT_NEXT_STATE_NAME,
    _PROGRAM_STOPPED,
)
