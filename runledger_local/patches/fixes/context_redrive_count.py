"""Fix: the Context object's ``$$.Execution`` has ``RedriveCount`` (0: never redriven).

moto 5.2.5 builds ``$$.Execution`` with Id, Input, Name, RoleArn and StartTime only, so
``$$``, ``$$.Execution`` and ``$$.Execution.RedriveCount`` (JSONata: ``$states.context``)
lacked it. AWS: the Context object's Execution holds "RedriveCount": "The number of times
you've redriven an execution" (Developer Guide, "Accessing execution data from the
Context object"); an execution that was never redriven has 0 (recorded by AWS in
LocalStack's context_object and base snapshots). Nothing here redrives, so it is always
0. No moto issue found. Delete this module when moto's ExecutionData has it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "context_redrive_count"
_EVALUATION_ENVIRONMENT: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.backend.execution_worker",
    "ExecutionWorker._get_evaluation_environment",
    ("self",),
)
SEAMS: Final[tuple[Seam, ...]] = (_EVALUATION_ENVIRONMENT,)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    owner, attribute, original = _EVALUATION_ENVIRONMENT.resolve()

    def evaluation_environment(self: Any) -> Any:
        env = original(self)
        # Map iterations and Parallel branches share this dict (Environment.as_frame_of).
        env.states.context_object.context_object_data["Execution"].setdefault("RedriveCount", 0)
        return env

    with mock.patch.object(owner, attribute, evaluation_environment):
        yield
