"""Fix: UpdateItem answers ``ConsumedCapacity`` only when asked, as AWS does.

AWS returns ``ConsumedCapacity`` "only if the request asked for it": ReturnConsumedCapacity
TOTAL or INDEXES (UpdateItem API reference, Response elements). moto 5.2.5's UpdateItem
adds ``{"TableName": ..., "CapacityUnits": 0.5}`` to every answer, so a
``dynamodb:updateItem`` task that keeps its result (``$states.result``) holds a member AWS
never writes there. With ReturnConsumedCapacity set, moto's answer is left as it is. No
moto issue found.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "dynamodb_consumed_capacity"
_UPDATE_ITEM: Final = Seam(NAME, "moto.dynamodb.responses", "DynamoHandler.update_item", ("self",))
SEAMS: Final[tuple[Seam, ...]] = (_UPDATE_ITEM,)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    handler_class, attribute, original = _UPDATE_ITEM.resolve()

    def update_item(self: Any) -> Any:
        result = original(self)
        body = getattr(result, "result", None)
        if self.body.get("ReturnConsumedCapacity", "NONE") == "NONE" and isinstance(body, dict):
            body.pop("ConsumedCapacity", None)
        return result

    with mock.patch.object(handler_class, attribute, update_item):
        yield
