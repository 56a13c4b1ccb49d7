"""Faults the local cloud injects on purpose: what a service or a job answers instead.

``TaskFault``: what one Task state's service call answers, for one run
(``LocalCloud.inject_task_fault``; the ``task_faults`` patch raises it where moto's
engine calls the service, so the engine's own error naming, Retry and Catch apply).
``JobFault``: how one attempt of a Batch job ends (``LocalCloud.inject_job_exit``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

#: The reason ECS gives a container the kernel killed for its memory (exit code 137):
#: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"
#: The stopped reason of an interrupted Fargate Spot task:
#: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
SPOT_INTERRUPTED = "Your Spot Task was interrupted."
#: What AWS Batch says of an attempt whose container exited (the usual end).
CONTAINER_EXITED = "Essential container in task exited"


@dataclass(frozen=True)
class TaskFault:
    """What a Task state's service call answers instead of its result.

    ``service``: the API answers an error (``code``, HTTP ``status``, ``message``), as a
    throttled, failing or refusing service does. ``function`` (Lambda only): the
    function ran and failed (``code`` is its ``errorType``: ``Sandbox.Timedout`` for a
    function that timed out, an exception's name for one that raised). ``timeout``: the
    state's ``TimeoutSeconds`` ran out (``States.Timeout``), without the wait.
    ``before``: ``action`` runs first (another execution claims the run, say), then the
    real call is made, so that what it answers is real.
    """

    kind: Literal["service", "function", "timeout", "before"]
    code: str = ""
    message: str = ""
    status: int = 400
    action: Callable[[], None] | None = None

    @classmethod
    def service_error(cls, code: str, status: int, message: str = "") -> TaskFault:
        return cls("service", code, message or code, status)

    @classmethod
    def function_error(cls, error_type: str, message: str) -> TaskFault:
        return cls("function", error_type, message)

    @classmethod
    def state_timeout(cls) -> TaskFault:
        return cls("timeout")

    @classmethod
    def before_call(cls, action: Callable[[], None]) -> TaskFault:
        return cls("before", action=action)


@dataclass(frozen=True)
class JobFault:
    """How one attempt of a Batch job ends, in place of its command.

    ``exit_code`` None: the container never exited on its own (a reclaimed Spot task);
    ``killed``: the stand-in process is killed by SIGKILL (exit code 137, as Docker
    reports it); ``reason`` is the container's reason and ``status_reason`` the
    attempt's, which the job definition's ``EvaluateOnExit`` rules match.
    """

    exit_code: int | None = None
    reason: str | None = None
    status_reason: str = CONTAINER_EXITED
    killed: bool = False

    @classmethod
    def exit(cls, code: int) -> JobFault:
        return cls(exit_code=code)

    @classmethod
    def out_of_memory(cls) -> JobFault:
        return cls(exit_code=137, reason=OUT_OF_MEMORY, killed=True)

    @classmethod
    def spot_interrupted(cls) -> JobFault:
        return cls(status_reason=SPOT_INTERRUPTED)
