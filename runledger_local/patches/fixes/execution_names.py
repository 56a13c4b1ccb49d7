"""Fix: ``StartExecution`` without a name gets a UUID name, as on AWS.

moto 5.2.5's ASL backend names an unnamed execution ``None``, so the second unnamed start
of a state machine fails as a duplicate (the EventBridge pipe starts executions without
a name). AWS: "If you don't provide a name for the execution, Step Functions
automatically generates a universally unique identifier (UUID) as the execution name"
(StartExecution API reference). Delete this module when moto names them itself.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any, Final

from runledger_local.patches import start_execution
from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "execution_names"
SEAMS: Final[tuple[Seam, ...]] = start_execution.SEAMS


@contextlib.contextmanager
def _named(
    backend: Any, request: start_execution.StartRequest
) -> Iterator[start_execution.StartRequest]:
    del backend
    yield request if request.name else request.replace(name=str(uuid.uuid4()))


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    with start_execution.hooked(_named):
        yield
