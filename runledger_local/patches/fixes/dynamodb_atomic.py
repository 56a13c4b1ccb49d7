"""Fix: DynamoDB requests run one at a time, each with its answer.

moto changes an item in place, attribute by attribute, and reads it the same way: a
GetItem or Query of an item another thread was updating saw it half written or failed
("dictionary changed size during iteration"). On AWS each request on an item is atomic.
moto's server is threaded (``ThreadedMotoServer``), its DynamoDB backend is not made for
it; delete this module when moto's backend locks its own tables.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "dynamodb_atomic"
_CALL_ACTION: Final = Seam(NAME, "moto.dynamodb.responses", "DynamoHandler.call_action", ("self",))
SEAMS: Final[tuple[Seam, ...]] = (_CALL_ACTION,)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    owner, attribute, original = _CALL_ACTION.resolve()
    lock = threading.RLock()

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    with mock.patch.object(owner, attribute, call_action):
        yield
